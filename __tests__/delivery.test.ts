import { BinomialSprt, operatingCharacteristic } from '../lib/analysis/sequential';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join, relative } from 'path';
import { App, Chart, Duration, Testing } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import {
  CanaryRollout, Delivery, deliveryApp, Direction, GateKind, GateSpec, OtelCollectorDaemonSet, repositorySettings, RequestSource, runRules, ServiceSpec, SpanmetricsPipeline, WorkloadProps,
} from '../lib';
import { rolloutTimeline } from '../lib/explain/timeline';
import { yamlFilesUnder } from '../lib/manifests';
import { GATE_KINDS_ANNOTATION } from '../lib/model/gates';
import { errorsOf } from '../lib/rules/engine';
import { synthesizeSafely } from '../lib/safe-synth';
import { app as example, EXAMPLE_OUTDIR } from '../examples/platform/main';
import { explained, find, gateQuery, HOTROD, synth } from './helpers';

/** A service nobody here wrote, shaped like a typical OpenTelemetry-instrumented one: no metrics of its own. */
const CHECKOUT: WorkloadProps = {
  image: 'ghcr.io/acme/checkout:2.3.0',
  ports: [{ name: 'http', number: 9000 }, { name: 'grpc', number: 9001 }],
  args: ['serve', '--port=9000'],
  readiness: kplus.Probe.fromHttpGet('/ready', { port: 9001 }),
  securityContext: { user: 1000, group: 1000 },
  endpoints: [
    { spanName: 'GET /cart', caller: 'user', urls: ['/cart'] },
    { spanName: 'GET /orders', caller: 'user', urls: ['/orders?limit=5'] },
    { spanName: 'GET /ready', caller: 'internal' },
  ],
};

function platform(services: ServiceSpec[], env = { name: 'staging' }) {
  const app = Testing.app();
  const delivery = new Delivery(app, 'Delivery', { environment: env, services });
  return { app, delivery, charts: delivery.charts, services: delivery.services, prometheus: delivery.prometheus };
}

describe('delivering services other than HotROD', () => {
  const stack = platform([HOTROD, { name: 'checkout', workload: CHECKOUT }]);
  const checkout = stack.delivery.service('checkout');
  const objects = synth(checkout.chart);

  test('the rollout carries its own image, ports, args and probes, and no HotROD fact', () => {
    const rollout = find(objects, 'Rollout', 'checkout');
    const container = rollout.spec.template.spec.containers[0];
    expect(container.image).toBe('ghcr.io/acme/checkout:2.3.0');
    expect(container.args).toEqual(['serve', '--port=9000']);
    expect(container.ports.map((p: any) => [p.name, p.containerPort])).toEqual([['http', 9000], ['grpc', 9001]]);
    expect(container.readinessProbe.httpGet).toMatchObject({ path: '/ready', port: 9001 });
    expect(rollout.spec.template.spec.securityContext).toEqual({ runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' } });
    const env = Object.fromEntries(container.env.map((e: any) => [e.name, e.value]));
    expect(env.OTEL_SERVICE_NAME).toBe('checkout');
    // not scraped: it serves no metrics
    expect(rollout.spec.template.metadata.annotations ?? {}).toEqual({});
    expect(JSON.stringify(rollout)).not.toMatch(/hotrod|8080|8081|8083|"all"/);
    expect(find(objects, 'Service', 'checkout').spec.ports).toEqual([{ name: 'http', port: 9000, targetPort: 9000, protocol: 'TCP' }]);
  });

  test('its gates read its own server spans, never HotROD\'s counter', () => {
    const template = find(objects, 'AnalysisTemplate', 'checkout-analysis');
    const spans = 'service_name="checkout", span_kind="SPAN_KIND_SERVER", span_name=~"GET /cart|GET /orders"';
    for (const m of template.spec.metrics) {
      expect(m.provider.prometheus.query).not.toContain('hotrod');
      expect(m.provider.prometheus.query).toContain(spans);
    }
    expect(gateQuery(template, template.spec.metrics[0].name)).toContain('traces_span_metrics_calls_total{');
    expect(gateQuery(template, 'error-rate-lt-5-percent')).toContain('status_code="STATUS_CODE_ERROR"');
    expect(checkout.rollout.requests.metric).toBe('traces_span_metrics_calls_total');
    expect(checkout.rollout.requestsMetric).toBeUndefined();
  });

  test('every service is in one collector\'s reach and in the ApplicationSet; the rules find nothing wrong', () => {
    const all = [stack.charts.otel, ...stack.services.map((s) => s.chart), stack.charts.traffic!, stack.charts.argocd].flatMap((c) => synth(c));
    const appSet = find(all, 'ApplicationSet');
    expect(appSet.spec.generators[0].git.directories.map((d: any) => d.path)).toEqual(
      ['dist/otel', 'dist/hotrod', 'dist/checkout', 'dist/traffic-generator', { path: 'dist/argocd', exclude: true }].map((p) => (typeof p === 'string' ? p : p.path)));
    const findings = runRules(all.map((object, i) => ({ object, file: `${i}.yaml` })), undefined, stack.delivery.modelOptions());
    expect(errorsOf(findings)).toEqual([]);
    expect(all.filter((o) => o.kind === 'Deployment').map((o) => o.metadata.name).sort()).toEqual(['checkout-traffic', 'hotrod-traffic']);
  });
});

describe('an open analysis', () => {
  function rolloutWith(workload: WorkloadProps = CHECKOUT) {
    const app = Testing.app();
    const otel = new Chart(app, 'otel', { namespace: 'otel' });
    const chart = new Chart(app, 'checkout', { namespace: 'checkout' });
    const collector = new OtelCollectorDaemonSet(otel, 'Collector', { pipeline: new SpanmetricsPipeline(otel, 'Pipeline') });
    const rollout = new CanaryRollout(chart, 'Rollout', { collector, workload });
    return { app, chart, rollout };
  }

  test('a fourth gate added after the rollout made the analysis reaches the template, its kinds annotation and the timeline', () => {
    const { app, chart, rollout } = rolloutWith();
    const gates = rollout.addThreeGateAnalysis();
    gates.addGate(GateSpec.latency({ quantile: 0.99, max: Duration.seconds(2) }));
    const template = find(synth(chart), 'AnalysisTemplate');
    // a p99 gate (good 0.5 %, bad 2 %) needs more requests than the p95 one to promote: the traffic gate follows
    const p99 = BinomialSprt.of(operatingCharacteristic(0.01, {}, 'test'));
    const traffic = `traffic-at-least-${p99.fewestToPromote}-requests`;
    expect(template.spec.metrics.map((m: any) => m.name)).toEqual([traffic, 'error-rate-lt-5-percent', 'latency-p95-lt-1s', 'latency-p99-lt-2s']);
    expect(gateQuery(template, 'latency-p99-lt-2s')).toContain('le=~"2000|2000\\\\.0"');
    expect(JSON.parse(template.metadata.annotations[GATE_KINDS_ANNOTATION])).toEqual({
      [traffic]: 'traffic', 'error-rate-lt-5-percent': 'error-rate', 'latency-p95-lt-1s': 'latency', 'latency-p99-lt-2s': 'latency',
    });
    const timeline = rolloutTimeline(explained({ app }));
    expect(timeline.gates.map((g) => g.name)).toContain('latency-p99-lt-2s');
    expect(gates.requiredCanaryRequestsPerSecond).toBeCloseTo(p99.expectedRequests(0.005) / 60, 9);
  });

  test('a custom gate builds on the canary\'s selectors, is guarded by the evidence, and its kind is data', () => {
    const { chart, rollout } = rolloutWith();
    void chart;
    const gates = rollout.addAnalysis()
      .addGate(GateSpec.traffic())
      .addGate(GateSpec.custom({
        name: 'fast-share',
        query: (q) => `sum(increase(${q.spans('durationBucket', { le: '200' })}[${q.window}])) / sum(increase(${q.spans('durationCount')}[${q.window}]))`,
        threshold: 0.9,
        direction: Direction.AT_LEAST,
      }));
    const custom = gates.gates.find((g) => g.kind === GateKind.CUSTOM)!;
    // a bound as Prometheus 2 and 3 store it
    expect(custom.query).toContain('le=~"200|200\\\\.0"');
    expect(custom.query).toContain('service_name="checkout"');
    // guarded by the traffic gate's threshold (here the minRequestsPerSecond floor over the window)
    const traffic = gates.gate(GateKind.TRAFFIC);
    // the traffic gate's selector, at its highest in the window (a replaced collector's counts still add up)
    const selector = traffic.query.split('\n')[0].slice('sum('.length, -1);
    expect(selector).toMatch(/^traces_span_metrics_calls_total\{/);
    expect(custom.query).toContain(`and on()\nsum(max_over_time(${selector}[`);
    expect(custom.query.trimEnd().endsWith(`])) >= ${traffic.threshold}`)).toBe(true);
    expect(custom.successCondition).toBe('len(result) > 0 && result[0] >= 0.9');
    // a bound the histogram does not have would select nothing: the synth says so
    const other = rolloutWith();
    other.rollout.addAnalysis().addGate(GateSpec.traffic()).addGate(GateSpec.custom({
      name: 'fast-share', query: (q) => `sum(${q.spans('durationBucket', { le: '250' })})`, threshold: 1, direction: Direction.AT_LEAST }));
    expect(() => Testing.synth(other.chart)).toThrow("GateSpec.custom: gate 'fast-share' selects le=\"250\", which is no bucket bound of the spanmetrics histogram (2ms, 4ms");
    expect(custom.failureCondition).toBe('len(result) > 0 && result[0] < 0.9');
  });

  test('refuses an analysis that an idle canary passes, and two gates of one name', () => {
    const a = rolloutWith();
    a.rollout.addAnalysis({ gates: [GateSpec.errorRatio({ max: 0.01 })] });
    expect(() => Testing.synth(a.chart)).toThrow("CanaryAnalysis: analysis 'checkout-analysis' has no traffic gate, so an idle canary (no request, nothing measured) passes it; add addGate(GateSpec.traffic())");
    const b = rolloutWith();
    b.rollout.addAnalysis({ gates: [GateSpec.traffic(), GateSpec.latency({ max: Duration.seconds(1) }), GateSpec.latency({ max: Duration.seconds(1), timing: { consecutiveErrorLimit: 1 } })] });
    expect(() => Testing.synth(b.chart)).toThrow("has two gates named 'latency-p95-lt-1s'; give one a name of its own (GateOptions.name)");
    expect(() => GateSpec.latency({ quantile: 99, max: Duration.seconds(1) })).toThrow('GateSpec.latency: quantile must lie strictly between 0 and 1, got 99 (for p99 write 0.99)');
    expect(() => GateSpec.errorRatio({ max: 5 })).toThrow('GateSpec.errorRatio: max must be a ratio above 0 and below 1, got 5 (for 5% write 0.05)');
  });

  describe('a workload that cannot work is an error naming the prop', () => {
    test.each<[string, Partial<WorkloadProps>, string]>([
      ['an unnamed port', { ports: [{ number: 9000 }] }, 'CanaryRollout: workload.ports[0] (9000) has no name'],
      ['no user endpoint', { endpoints: [{ spanName: 'GET /ready', caller: 'internal' }] }, "CanaryRollout: workload.endpoints has no endpoint with caller 'user'"],
      ['a user endpoint without URLs', { endpoints: [{ spanName: 'GET /cart', caller: 'user' }] }, "CanaryRollout: workload.endpoints[0] ('GET /cart') is called by users but has no urls"],
      ['a counter on a workload that is never scraped', { requests: RequestSource.counter({ name: 'http_requests_total', endpointLabel: 'route', errorLabel: 'code', errorValue: '500' }) },
        "CanaryRollout: workload.requests counts requests with the counter 'http_requests_total', but the workload declares no metrics port"],
      ['a metrics port it does not have', { metrics: { port: 'admin' } }, "CanaryRollout: workload.metrics.port 'admin' is not one of the workload's ports (http, grpc)"],
      ['an env variable the rollout sets', { envVariables: { OTEL_EXPORTER_OTLP_ENDPOINT: kplus.EnvValue.fromValue('http://x:4318') } },
        'CanaryRollout: workload.envVariables sets OTEL_EXPORTER_OTLP_ENDPOINT, which the rollout sets itself'],
      ['a serving port it does not have', { servingPort: 'web' }, "CanaryRollout: workload.servingPort 'web' is not one of the workload's ports (http, grpc)"],
    ])('%s', (_what, change, message) => {
      expect(() => rolloutWith({ ...CHECKOUT, ...change })).toThrow(message);
    });
  });
});

describe('adding a service', () => {
  /** Every object an app synthesizes, by kind, namespace and name. */
  const objectsOf = (services: ServiceSpec[]) => platform(services).app.charts.flatMap(synth).map((o) => `${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`);

  test('renames no object: each traffic generator is named after its own service', () => {
    // GIVEN HotROD alone, WHEN a second service is added and then a third
    const one = objectsOf([HOTROD]);
    const two = objectsOf([HOTROD, { name: 'checkout', workload: CHECKOUT }]);
    const three = objectsOf([HOTROD, { name: 'checkout', workload: CHECKOUT }, { name: 'cart', workload: CHECKOUT }]);
    // THEN every object keeps its name (a rename is a delete and a re-create in the cluster)
    expect(one.filter((o) => !two.includes(o))).toEqual([]);
    expect(two.filter((o) => !three.includes(o))).toEqual([]);
    expect(one).toContain('Deployment traffic-generator/hotrod-traffic');
    expect(two.filter((o) => o.startsWith('Deployment traffic-generator/'))).toEqual(['Deployment traffic-generator/hotrod-traffic', 'Deployment traffic-generator/checkout-traffic']);
  });
});

describe('several environments side by side', () => {
  test('unique ApplicationSet and Application names, a destination per environment, thresholds per environment', () => {
    const envs = [{ name: 'staging', destinationName: 'staging' }, { name: 'production', destinationName: 'production', gates: { maxP95: Duration.millis(800) } }];
    const out = envs.map((env) => {
      const { charts, services } = platform([{ name: 'checkout', workload: CHECKOUT }], env);
      return { appSet: find(synth(charts.argocd), 'ApplicationSet'), template: find(synth(services[0].chart), 'AnalysisTemplate') };
    });
    expect(out.map((o) => o.appSet.metadata.name)).toEqual(['staging-delivery', 'production-delivery']);
    expect(out.map((o) => o.appSet.spec.template.metadata.name)).toEqual(['staging-{{.path.basename}}', 'production-{{.path.basename}}']);
    expect(out.map((o) => o.appSet.spec.template.spec.destination.name)).toEqual(['staging', 'production']);
    expect(out.map((o) => o.template.spec.metrics[2].name)).toEqual(['latency-p95-lt-1s', 'latency-p95-lt-800ms']);
  });

  test('without outputPath, each environment\'s ApplicationSet reads the folder its app is written to', () => {
    // GIVEN two environments in one app file, neither giving outputPath
    const defineIn = (name: string, outputPath?: string) => (scope: App) => new Delivery(scope, 'Delivery', { environment: { name }, services: [HOTROD], outputPath });
    const two = deliveryApp({ apps: ['staging', 'production'].map((name) => ({ folder: name, define: defineIn(name) })) });
    // THEN each ApplicationSet reads its own folder of dist/
    const paths = two.describe().map((d) => d.deliveries[0].appSet.appPaths);
    expect(paths).toEqual(['staging', 'production'].map((env) => ['otel', 'hotrod', 'traffic-generator'].map((f) => `dist/${env}/${f}`)));
    // AND the synth writes exactly those folders
    const work = mkdtempSync(join(tmpdir(), 'output-path-'));
    try {
      expect(two.synth({ outdir: join(work, 'dist'), output: { log: () => {}, error: () => {} } })).toBe(0);
      for (const path of paths.flat()) expect([path, existsSync(join(work, path))]).toEqual([path, true]);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
    // one app in its outdir reads the outdir itself; a given outputPath wins (the project in a folder of the repository)
    expect(deliveryApp({ outdir: 'deploy', define: defineIn('one') }).describe()[0].deliveries[0].appSet.appPaths[0]).toBe('deploy/otel');
    expect(deliveryApp({ define: defineIn('one', 'platform/dist') }).describe()[0].deliveries[0].appSet.appPaths[0]).toBe('platform/dist/otel');
    // an outdir outside the project cannot be read by the ApplicationSet from its repository: an error with the fix
    expect(() => deliveryApp({ outdir: '/srv/manifests', define: defineIn('one') }).describe())
      .toThrow(/^Delivery: environment 'one' is synthesized into '[^']*srv\/manifests', which is not a folder of the repository, .*give the delivery's outputPath/);
  });

  test('two services of one name, or a service named like a platform folder, are refused', () => {
    expect(() => platform([{ name: 'checkout', workload: CHECKOUT }, { name: 'checkout', workload: CHECKOUT }])).toThrow("Delivery: two services are named 'checkout'");
    expect(() => platform([{ name: 'otel', workload: CHECKOUT }])).toThrow("Delivery: service name 'otel' is the folder of the platform's own otel chart");
  });
});

describe('the example platform', () => {
  const ROOT = join(__dirname, '..');
  let work: string;
  beforeAll(() => { work = mkdtempSync(join(tmpdir(), 'example-')); });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  test('has a folder for every environment and service (whether they are committed as synthesized is main-app.test.ts\'s check)', () => {
    const out = join(work, 'dist');
    synthesizeSafely({ outdir: out, apps: example.apps });
    const folders = [...new Set(yamlFilesUnder(out).map((f) => f.split('/').slice(0, 2).join('/')))].sort();
    expect(folders).toEqual(['production/argocd', 'production/catalog', 'production/checkout', 'production/hotrod', 'production/otel', 'production/traffic-generator',
      'staging/argocd', 'staging/catalog', 'staging/checkout', 'staging/hotrod', 'staging/otel', 'staging/prometheus.values.yaml', 'staging/traffic-generator']);
    expect(relative(ROOT, join(ROOT, EXAMPLE_OUTDIR))).toBe('examples/platform/dist');
  });
});

describe('the repository settings', () => {
  test('come from delivery.config.json, with the environment over it, so synth and the committed-dist check agree', () => {
    const dir = mkdtempSync(join(tmpdir(), 'config-'));
    const file = join(dir, 'delivery.config.json');
    try {
      expect(repositorySettings(dir, {})).toEqual({ repoUrl: undefined, revision: undefined });
      writeFileSync(file, '{ "repoUrl": "https://github.com/acme/delivery.git", "revision": "main" }');
      expect(repositorySettings(dir, {})).toEqual({ repoUrl: 'https://github.com/acme/delivery.git', revision: 'main' });
      expect(repositorySettings(dir, { HOTROD_REPO_REVISION: 'release-1' })).toEqual({ repoUrl: 'https://github.com/acme/delivery.git', revision: 'release-1' });
      writeFileSync(file, '{ "repo": "x" }');
      expect(() => repositorySettings(dir, {})).toThrow(`${file}: unknown key 'repo'; the keys are repoUrl, revision`);
      // a file that is not JSON names itself
      writeFileSync(file, '{ repoUrl: "x" }');
      expect(() => repositorySettings(dir, {})).toThrow(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: .*JSON.*; write a JSON object such as`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
