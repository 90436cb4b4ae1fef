import { Duration } from 'cdk8s';
import {
  AlertReceiver, Delivery, deliveryApp, Direction, EnvironmentSpec, GateSpec, NotificationService, PrometheusBackend, repositorySettings, ServiceSpec, TraceSearch, WorkloadProps,
} from '../../lib';
import { hotrodWorkload } from '../../lib/presets/hotrod-workload';

/*
 * An example platform: HotROD and two services of a shop, delivered to two clusters, one Argo CD
 * Application per service and environment. `npm run synth:example` writes
 * examples/platform/dist/<environment>/<app>/.
 */

/** Where this example's folders live in the repository (the ApplicationSets' git generator reads them there). */
export const EXAMPLE_OUTDIR = 'examples/platform/dist';

/** A spanmetrics-only service: it serves no metrics of its own, so every gate reads its server spans. */
export const CHECKOUT: WorkloadProps = {
  image: 'ghcr.io/acme/checkout:2.3.0',
  ports: [{ name: 'http', number: 9000 }],
  securityContext: { user: 10001, group: 10001 },
  telemetry: { serviceName: 'checkout' },
  endpoints: [
    { spanName: 'GET /cart', caller: 'user', urls: ['/cart'] },
    { spanName: 'GET /orders', caller: 'user', urls: ['/orders?limit=10'] },
  ],
};

/** A second generic service, judged by spanmetrics with a p99 gate and a gate of its own beside the three. */
export const CATALOG: WorkloadProps = {
  image: 'ghcr.io/acme/catalog:1.4.2',
  ports: [{ name: 'http', number: 8000 }, { name: 'admin', number: 8001 }],
  servingPort: 'http',
  args: ['--listen=:8000', '--admin=:8001'],
  securityContext: { user: 10001, group: 10001 },
  endpoints: [
    { spanName: 'GET /products', caller: 'user', urls: ['/products', '/products?page=2'] },
    { spanName: 'GET /healthz', caller: 'internal' },
  ],
};

/** The services, the same in every environment (the environments differ in where and how they run). */
export function services(): ServiceSpec[] {
  return [
    { name: 'hotrod', workload: hotrodWorkload({ tag: '1.76.0' }), team: 'rides' },
    // its production SLO is stricter than its canary's gate: 99.5 % of requests succeed
    { name: 'checkout', workload: CHECKOUT, gates: { maxErrorRatio: 0.01 }, team: 'shop', slo: { availability: 0.995 } },
    {
      name: 'catalog',
      team: 'shop',
      workload: CATALOG,
      // Its stable pods fail about 2 % of requests (a flaky upstream): a gate compares the canary with
      // them. Counting failures needs failures: its canary gets two minutes for its evidence.
      gates: { evidenceTime: Duration.minutes(2) },
      extraGates: [
        GateSpec.errorRatioVsStable({ stableErrorRatio: 0.02 }),
        GateSpec.latency({ quantile: 0.99, max: Duration.seconds(2) }),
        // An SLO-style gate of its own: at least 95 % of the canary's requests answered within 2 s,
        // measured once. Each series' highest value in the window is its count since the canary
        // started, also across a collector restart (increase() needs two samples of one series).
        GateSpec.custom({
          name: 'within-2s-at-least-95-percent',
          query: (q) => `sum(max_over_time(${q.spans('durationBucket', { le: '2000' })}[${q.window}]))\n/\nsum(max_over_time(${q.spans('durationCount')}[${q.window}]))`,
          threshold: 0.95,
          direction: Direction.AT_LEAST,
        }),
      ],
    },
  ];
}

/** Each team's receivers: pages to PagerDuty, tickets to its Slack channel (the credentials in Secrets of each namespace). */
const TEAMS = {
  rides: {
    page: AlertReceiver.pagerDuty('rides-oncall', { routingKey: { name: 'alerting', key: 'pagerduty-rides' } }),
    ticket: AlertReceiver.slack('rides-tickets', { channel: '#rides-alerts', apiUrl: { name: 'alerting', key: 'slack-webhook' } }),
  },
  shop: {
    page: AlertReceiver.pagerDuty('shop-oncall', { routingKey: { name: 'alerting', key: 'pagerduty-shop' } }),
    ticket: AlertReceiver.slack('shop-tickets', { channel: '#shop-alerts', apiUrl: { name: 'alerting', key: 'slack-webhook' } }),
  },
  platform: {
    page: AlertReceiver.webhook('platform-oncall', 'https://oncall.example.com/hooks/platform'),
    ticket: AlertReceiver.webhook('platform-tickets', 'https://tickets.example.com/hooks/platform'),
  },
};

/** The two environments: staging on the community chart's Prometheus, production on kube-prometheus-stack. */
export function environments(): EnvironmentSpec[] {
  return [
    {
      name: 'staging',
      destinationName: 'staging',
      prometheus: PrometheusBackend.communityChart(),
      alerting: { teams: TEAMS },
      notifications: { recipients: (team) => [`#${team}-staging`], traces: TraceSearch.jaeger('https://jaeger.staging.example.com') },
    },
    {
      name: 'production',
      destinationName: 'production',
      prometheus: PrometheusBackend.kubePrometheusStack(),
      tracesBackend: 'tempo-distributor.tracing.svc.cluster.local:4317',
      // Tempo keeps every error trace and every trace slower than the slowest gate, and 10 % of the
      // rest; spanmetrics (so every gate and SLO) still counts every span
      pipeline: { tailSampling: { keepShare: 0.1 } },
      gates: { maxP95: Duration.millis(800) },
      alerting: { teams: TEAMS },
      notifications: {
        service: NotificationService.webhook('deploys', 'https://chatops.example.com/hooks/deploys'),
        recipients: (team) => [team],
        traces: TraceSearch.tempo('https://grafana.example.com', 'tempo'),
      },
    },
  ];
}

/** The example: one app per environment, each in its folder of examples/platform/dist/. */
export const app = deliveryApp({
  outdir: EXAMPLE_OUTDIR,
  apps: environments().map((environment) => ({
    folder: environment.name,
    define: (scope) => new Delivery(scope, 'Delivery', {
      environment,
      services: services(),
      // the ApplicationSet reads examples/platform/dist/<environment>/*, where the app is written
      ...repositorySettings(process.cwd()),
    }),
  })),
});

if (require.main === module) process.exitCode = app.synth();
