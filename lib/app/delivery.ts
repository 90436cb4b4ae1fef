import { App, Chart, Duration } from 'cdk8s';
import { Construct } from 'constructs';
import { OperatingCharacteristicOptions } from '../analysis/sequential';
import { CanaryAnalysis, GateSpec, GateTiming } from '../constructs/canary-analysis';
import { CanaryRollout, CanaryStep } from '../constructs/canary-rollout';
import { DeliveryApplicationSet } from '../constructs/delivery-application-set';
import { OtelCollectorDaemonSet } from '../constructs/otel-collector-daemon-set';
import { SpanmetricsPipeline, SpanmetricsPipelineProps } from '../constructs/spanmetrics-pipeline';
import { TrafficGenerator } from '../constructs/traffic-generator';
import { WorkloadProps } from '../constructs/workload';
import { ModelOptions } from '../model/model';
import { ImageCatalogue } from '../platform/image-facts';
import { PrometheusBackend } from '../platform/metrics-backend';
import { validateName } from '../util';
import { AlertReceiver, AlertRouting, TeamReceivers } from '../constructs/alert-routing';
import { PrometheusChartValues } from '../constructs/prometheus-chart-values';
import { CollectorAlerts, SloAlerts } from '../constructs/slo-alerts';
import { CanaryDashboard } from '../constructs/canary-dashboard';
import { PodIdentity } from '../constructs/interfaces';
import { NotificationService, RolloutNotifications, TraceSearch } from '../constructs/rollout-notifications';

/** Jaeger's query UI as its chart installs it beside the collector the pipeline exports to (in-cluster: set your own ingress URL). */
export const DEFAULT_JAEGER_UI = 'http://jaeger-query.jaeger.svc.cluster.local:16686';
import { GateKind } from '../model/gates';
import { RuleDelivery } from '../platform/metrics-backend';
import { SLO_LABELS, SloObjectives } from '../platform/slo';

/** The thresholds of a service's three gates and the evidence they wait for; an environment may set them for all its services. */
export interface GateThresholds {
  /** the lowest canary request rate that can pass @default 0.05 */
  readonly minRequestsPerSecond?: number;
  /** the highest share of failed canary requests @default 0.05 */
  readonly maxErrorRatio?: number;
  /** the highest p95 latency of the canary's user requests @default Duration.seconds(1) */
  readonly maxP95?: Duration;
  /** the chance that a canary at a gate's `good` (half its threshold by default) is stopped @default 0.01 */
  readonly falseStop?: number;
  /** the chance that a canary at a gate's `bad` (twice its threshold by default) is promoted @default 0.01 */
  readonly falsePromote?: number;
  /** how long a good canary may take, on average, to serve what the gates need to promote it; the traffic generator is sized from it @default Duration.minutes(1) */
  readonly evidenceTime?: Duration;
}

/** A service's gates: the thresholds, and when each of the three measures when the derived timings do not suit. */
export interface ServiceGates extends GateThresholds {
  /** timings of the traffic gate @default - derived */
  readonly traffic?: GateTiming;
  /** timings of the error-rate gate @default - derived */
  readonly errorRate?: GateTiming;
  /** timings of the latency gate @default - derived */
  readonly latency?: GateTiming;
  /** the error-rate gate's operating characteristic (shares of failed requests) @default - good half of maxErrorRatio, bad twice it */
  readonly errorRateDesign?: OperatingCharacteristicOptions;
  /** the latency gate's operating characteristic (shares of requests slower than maxP95) @default - good 2.5 %, bad 10 % */
  readonly latencyDesign?: OperatingCharacteristicOptions;
}

/** How a service's traffic generator sends, when the derived rate does not suit. */
export interface TrafficOptions {
  /** the requests per second it sends in all @default - derived from the gates' design */
  readonly requestsPerSecond?: number;
  /** the longest a request may take before curl gives up @default Duration.seconds(2) */
  readonly requestTimeout?: Duration;
}

/** A service to deliver: its workload, its gates, and the traffic that keeps them fed. */
export interface ServiceSpec {
  /** its name: the namespace, the app folder, the Rollout and the Service */
  readonly name: string;
  /** what it runs */
  readonly workload: WorkloadProps;
  /** the number of pods @default 2 */
  readonly replicas?: number;
  /** the canary steps @default - setWeight 50, analysis, setWeight 100 */
  readonly steps?: CanaryStep[];
  /** its thresholds and gate timings, over the environment's @default - the environment's, then the gates' defaults */
  readonly gates?: ServiceGates;
  /** gates beside the three, e.g. `GateSpec.latency({ quantile: 0.99, max: Duration.seconds(2) })` @default - none */
  readonly extraGates?: readonly GateSpec[];
  /** keep user requests flowing to it with a traffic generator @default true */
  readonly trafficGenerator?: boolean | TrafficOptions;
  /**
   * The user requests per second the service gets from its real users, when it runs without a
   * traffic generator: the gates' looks and horizon are derived from its canary's share of them.
   * Without it (and without a generator) the gates assume the rate their design asks for, and
   * validate warns that nothing is known to send it.
   * @default - none
   */
  readonly expectedRequestsPerSecond?: number;
  /** its service level objectives, over the environment's @default - derived from its gates: 1 - maxErrorRatio of requests succeed, 95 % faster than maxP95, over 30 days */
  readonly slo?: SloObjectives;
  /** the team (or tenant) its alerts go to: the value of the environment's team label @default - the environment's alerting.defaultTeam */
  readonly team?: string;
}

/** Who is alerted in an environment, and how alerts are labelled. */
export interface AlertingSpec {
  /** the label that names the team (or tenant) on every alert @default 'team' */
  readonly teamLabel?: string;
  /** the team of services that name none @default 'platform' */
  readonly defaultTeam?: string;
  /** the team of the platform's own alerts (the collector) @default - defaultTeam */
  readonly platformTeam?: string;
  /** each team's receivers, by team @default - receivers without integrations ('page', 'ticket') for every team: alerts are routed, and dropped */
  readonly teams?: Readonly<Record<string, TeamReceivers>>;
}

/** Where and how one environment runs: everything that differs between staging and production. */
export interface EnvironmentSpec {
  /** its name; also the folder of its app folders (`dist/<name>/<app>`) when there are several */
  readonly name: string;
  /** the Prometheus that scrapes the pods and answers the gates @default PrometheusBackend.communityChart() */
  readonly prometheus?: PrometheusBackend;
  /** the OTLP/gRPC trace backend (`host:port`) @default - the pipeline's default (Jaeger in the `jaeger` namespace) */
  readonly tracesBackend?: string;
  /** the cluster, by the name it is registered under in Argo CD @default - the cluster Argo CD runs in */
  readonly destinationName?: string;
  /** the cluster, by API server URL; give this or destinationName @default 'https://kubernetes.default.svc' */
  readonly destinationServer?: string;
  /** put before every Application name @default `<name>-` */
  readonly applicationPrefix?: string;
  /** the ApplicationSet's name @default `<applicationPrefix>delivery` */
  readonly applicationSetName?: string;
  /** the gates' thresholds for every service that does not set its own @default - the gates' defaults */
  readonly gates?: GateThresholds;
  /** further pipeline settings @default - none */
  readonly pipeline?: SpanmetricsPipelineProps;
  /** service level objectives for every service that does not state its own @default - derived from each service's gates */
  readonly slo?: SloObjectives;
  /** who is alerted, and the team label @default - see AlertingSpec */
  readonly alerting?: AlertingSpec;
  /** where the canaries' verdicts are sent @default - see NotificationSpec */
  readonly notifications?: NotificationSpec;
}

/** Where canary verdicts go (Argo Rollouts notifications), and where their trace links point. */
export interface NotificationSpec {
  /** the notification service @default NotificationService.slack() (the token in the notification Secret's `slack-token`) */
  readonly service?: NotificationService;
  /** the recipients of a team's services (Slack channels) @default - `#<team>-deploys` */
  readonly recipients?: (team: string) => readonly string[];
  /** the traces backend's search the messages link to @default TraceSearch.jaeger('http://jaeger-query.jaeger.svc.cluster.local:16686') */
  readonly traces?: TraceSearch;
}

/** Properties of a {@link Delivery}. */
export interface DeliveryProps {
  /** the environment this app is for */
  readonly environment: EnvironmentSpec;
  /** the services; one collector serves them all */
  readonly services: readonly ServiceSpec[];
  /** the git repository Argo CD reads the folders from @default - DeliveryApplicationSet's placeholder */
  readonly repoUrl?: string;
  /** the revision Argo CD follows @default 'HEAD' */
  readonly revision?: string;
  /**
   * the repository folder this environment's app folders are synthesized into, which the
   * ApplicationSet reads
   * @default - where the {@link DeliveryApp} that defines it writes it (its outdir, and the app's folder in it); 'dist' outside one
   */
  readonly outputPath?: string;
}

/** A delivered service: its chart, rollout, analysis and traffic generator. */
export interface DeliveredService {
  /** its name (= namespace and app folder) */
  readonly name: string;
  readonly chart: Chart;
  readonly rollout: CanaryRollout;
  readonly analysis: CanaryAnalysis;
  /** its traffic generator, unless it runs without one */
  readonly generator?: TrafficGenerator;
  /** its SLO and telemetry alerts */
  readonly alerts: SloAlerts;
  /** the routing of its team's alerts in its namespace */
  readonly routing: AlertRouting;
  /** the team its alerts go to */
  readonly team: string;
  /** the notifications of its canary's verdicts */
  readonly notifications: RolloutNotifications;
}

/** The charts of the platform's own parts. */
export interface PlatformCharts {
  /** the collector's chart (`otel`) */
  readonly otel: Chart;
  /** the traffic generators' chart, when a service has one */
  readonly traffic?: Chart;
  /** the ApplicationSet's chart (`argocd`) */
  readonly argocd: Chart;
}

const C = 'Delivery';

/**
 * The context key through which a tool builds an app for another Prometheus than its environments
 * name (the rehearsal's `--prometheus`): set on the App before the app is defined.
 */
export const PROMETHEUS_OVERRIDE_CONTEXT = 'hotrod-progressive-delivery:prometheus';

/**
 * The context key through which a {@link DeliveryApp} tells its deliveries the repository folder
 * their app is synthesized into (its outdir and the app's folder), the default of
 * {@link DeliveryProps.outputPath}.
 */
export const OUTPUT_PATH_CONTEXT = 'hotrod-progressive-delivery:output-path';

/** The folders (= namespaces) of the platform's own charts; no service may take one. */
const PLATFORM_FOLDERS = { otel: 'otel', traffic: 'traffic-generator', argocd: 'argocd' } as const;

/** The name of a service's traffic generator (Deployment and NetworkPolicy in the `traffic-generator` namespace). */
export function trafficGeneratorName(service: string): string {
  return `${service}-traffic`;
}

/**
 * One environment's delivery, the composition root: a collector for all services (chart `otel`),
 * one chart per service in the namespace of its name (Rollout, Service, AnalysisTemplate), a
 * traffic generator per service (chart `traffic-generator`), and the ApplicationSet that deploys
 * every folder (chart `argocd`). Data flows one way: pipeline -> collector -> rollouts -> gates ->
 * traffic -> ApplicationSet.
 *
 * Create it at the root of an app (`new Delivery(app, 'Delivery', props)`): its charts are the
 * app's own, one folder each in the synthesized output.
 */
export class Delivery extends Construct {
  /** The deliveries defined in an app, in the order they were made. */
  public static of(app: App): Delivery[] {
    return app.node.children.filter((c): c is Delivery => c instanceof Delivery);
  }

  /** the environment it is for */
  public readonly environment: EnvironmentSpec;
  /** the Prometheus that scrapes the pods and answers the gates */
  public readonly prometheus: PrometheusBackend;
  /** the collector configuration */
  public readonly pipeline: SpanmetricsPipeline;
  /** the collector every service sends its traces to */
  public readonly collector: OtelCollectorDaemonSet;
  /** the services, in the order given */
  public readonly services: readonly DeliveredService[];
  /** the charts of the platform's own parts */
  public readonly charts: PlatformCharts;
  /** the ApplicationSet that deploys every folder */
  public readonly appSet: DeliveryApplicationSet;
  /** the collector's own alerts */
  public readonly collectorAlerts: CollectorAlerts;
  /** the routing of the platform team's alerts in the collector's namespace */
  public readonly collectorRouting: AlertRouting;
  /** the values file of the community chart, when the Prometheus takes rules and routes through it */
  public readonly chartValues?: PrometheusChartValues;
  /** the canary dashboard of the environment (in the collector's folder) */
  public readonly dashboard: CanaryDashboard;
  /** the alerting settings, resolved */
  public readonly alerting: Required<AlertingSpec>;

  constructor(scope: Construct, id: string, props: DeliveryProps) {
    super(scope, id);
    const app = scope;
    if (!(app instanceof App)) {
      throw new Error(`${C}: create it at the root of the app (new Delivery(app, '${id}', props)): its charts become the app's folders`);
    }
    const env = props.environment;
    validateName(C, 'environment.name', env.name);
    if (props.services.length === 0) throw new Error(`${C}: environment '${env.name}' has no services; give at least one ServiceSpec`);
    const reserved: readonly string[] = Object.values(PLATFORM_FOLDERS);
    const seen = new Set<string>();
    for (const s of props.services) {
      validateName(C, `services '${s.name}' name`, s.name);
      if (reserved.includes(s.name)) throw new Error(`${C}: service name '${s.name}' is the folder of the platform's own ${s.name} chart; choose another name`);
      if (seen.has(s.name)) throw new Error(`${C}: two services are named '${s.name}'; each needs its own name (its namespace and folder)`);
      seen.add(s.name);
    }
    this.environment = env;
    const alerting = env.alerting ?? {};
    const defaultTeam = alerting.defaultTeam ?? 'platform';
    this.alerting = { teamLabel: alerting.teamLabel ?? 'team', defaultTeam, platformTeam: alerting.platformTeam ?? defaultTeam, teams: alerting.teams ?? {} };

    const chart = (folder: string) => new Chart(app, folder, { namespace: folder });
    const otel = chart(PLATFORM_FOLDERS.otel);
    this.pipeline = new SpanmetricsPipeline(otel, 'Pipeline', { tracesBackend: env.tracesBackend, ...env.pipeline });
    const override: PrometheusBackend | undefined = this.node.tryGetContext(PROMETHEUS_OVERRIDE_CONTEXT);
    this.prometheus = override ?? env.prometheus ?? PrometheusBackend.communityChart();
    this.collector = new OtelCollectorDaemonSet(otel, 'Collector', { pipeline: this.pipeline, prometheus: this.prometheus });
    // the community chart takes rules and routes only through its values (see RuleDelivery.CHART_VALUES)
    this.chartValues = this.prometheus.ruleDelivery === RuleDelivery.CHART_VALUES ? new PrometheusChartValues(this, 'PrometheusValues') : undefined;

    const notifySpec = env.notifications ?? {};
    const needsTraffic = props.services.some((s) => s.trafficGenerator ?? true);
    const traffic = needsTraffic ? chart(PLATFORM_FOLDERS.traffic) : undefined;
    this.services = props.services.map((spec): DeliveredService => {
      const serviceChart = chart(spec.name);
      const rollout = new CanaryRollout(serviceChart, 'Rollout', {
        collector: this.collector, prometheus: this.prometheus, name: spec.name, workload: spec.workload, replicas: spec.replicas, steps: spec.steps,
      });
      const generated = spec.trafficGenerator ?? true;
      if (generated !== false && spec.expectedRequestsPerSecond !== undefined) {
        throw new Error(`${C}: service '${spec.name}' has a traffic generator and expectedRequestsPerSecond; the generator's rate is derived from the gates: `
          + 'give expectedRequestsPerSecond with trafficGenerator: false (real traffic), or trafficGenerator: { requestsPerSecond } for the generator');
      }
      const stated = spec.expectedRequestsPerSecond === undefined ? undefined : spec.expectedRequestsPerSecond * rollout.canaryRequestShare;
      const analysis = rollout.addThreeGateAnalysis({ ...env.gates, ...spec.gates, gates: spec.extraGates, canaryRequestsPerSecond: stated });
      // Named after its service alone, so adding or removing another service renames nothing
      // (a rename is a delete and a re-create in the cluster).
      const generator = traffic && generated !== false
        ? new TrafficGenerator(traffic, spec.name, {
          target: rollout,
          name: trafficGeneratorName(spec.name),
          ...(typeof generated === 'object' ? { requestsPerSecond: generated.requestsPerSecond, requestTimeout: generated.requestTimeout } : {}),
        })
        : undefined;
      const team = spec.team ?? this.alerting.defaultTeam;
      const alerts = new SloAlerts(serviceChart, 'Slo', {
        target: rollout,
        objectives: { ...env.slo, ...spec.slo },
        gates: { maxErrorRatio: analysis.maxErrorRatio, maxP95: analysis.maxP95, quantile: analysis.gate(GateKind.LATENCY).quantile! },
        labels: this.alertLabels(team),
      });
      const routing = this.routingFor(serviceChart, team);
      const notifications = new RolloutNotifications(serviceChart, 'Notifications', {
        target: {
          name: rollout.name,
          namespace: rollout.namespace,
          traceService: rollout.userEndpoints[0].service,
          hashAttribute: this.pipeline.podIdentity[PodIdentity.POD_TEMPLATE_HASH],
        },
        gates: analysis.gates,
        service: notifySpec.service ?? NotificationService.slack(),
        recipients: (notifySpec.recipients ?? ((t: string) => [`#${t}-deploys`]))(team),
        traces: notifySpec.traces ?? TraceSearch.jaeger(DEFAULT_JAEGER_UI),
      });
      for (const [k, v] of Object.entries(notifications.annotations)) rollout.rollout.metadata.addAnnotation(k, v);
      return { name: spec.name, chart: serviceChart, rollout, analysis, generator, alerts, routing, team, notifications };
    });
    this.collectorAlerts = new CollectorAlerts(otel, 'Alerts', {
      prometheus: this.prometheus, namespace: otel.namespace!, workload: this.collector.daemonSet.name, labels: this.alertLabels(this.alerting.platformTeam),
    });
    this.collectorRouting = this.routingFor(otel, this.alerting.platformTeam);
    this.dashboard = new CanaryDashboard(otel, 'Dashboard', {
      environment: env.name,
      services: this.services.map((s) => ({ target: s.rollout, gates: s.analysis.gates, slos: s.alerts.slos })),
    });
    if (this.chartValues) {
      for (const s of this.services) this.chartValues.addRuleGroups(s.alerts.groups);
      this.chartValues.addRuleGroups(this.collectorAlerts.groups);
    }

    const argocd = chart(PLATFORM_FOLDERS.argocd);
    const prefix = env.applicationPrefix ?? `${env.name}-`;
    const outputPath = props.outputPath ?? derivedOutputPath(this, env.name);
    this.appSet = new DeliveryApplicationSet(argocd, 'AppSet', {
      apps: [otel, ...this.services.map((s) => s.chart), ...(traffic ? [traffic] : [])],
      name: env.applicationSetName ?? `${prefix}delivery`,
      applicationPrefix: prefix,
      repoUrl: props.repoUrl,
      revision: props.revision,
      outputPath,
      destinationName: env.destinationName,
      destinationServer: env.destinationServer,
    });
    this.charts = { otel, traffic, argocd };
  }

  /** The labels every alert of a team carries: the environment and the team. */
  private alertLabels(team: string): Record<string, string> {
    return { [SLO_LABELS.environment]: this.environment.name, [this.alerting.teamLabel]: team };
  }

  /** The routing of a team's alerts in a chart's namespace: an AlertmanagerConfig there, or routes in the chart values. */
  private routingFor(chart: Chart, team: string): AlertRouting {
    const receivers = this.alerting.teams[team] ?? { page: AlertReceiver.none('page'), ticket: AlertReceiver.none('ticket') };
    const routing = new AlertRouting(chart, 'AlertRouting', { team, teamLabel: this.alerting.teamLabel, environment: this.environment.name, receivers });
    if (this.chartValues) this.chartValues.addRouting(routing);
    else routing.render();
    return routing;
  }

  /** A service by name; throws naming the services there are. */
  public service(name: string): DeliveredService {
    const found = this.services.find((s) => s.name === name);
    if (!found) throw new Error(`${C}: no service '${name}' in environment '${this.environment.name}'; its services are ${this.services.map((s) => s.name).join(', ')}`);
    return found;
  }

  /**
   * What the tools read this delivery's YAML with: its Prometheus, and the facts of its services'
   * images (their endpoints, counters, latencies, and what their presets say of the images), which
   * the YAML cannot show.
   */
  public modelOptions(): ModelOptions {
    return { prometheus: this.prometheus, images: ImageCatalogue.of(...this.services.map((s) => s.rollout.imageFacts())) };
  }
}

/**
 * The folder a delivery's app is written to, as the {@link DeliveryApp} that defines it says
 * (`dist`, or `dist/<folder>` for one of several apps); 'dist' when no DeliveryApp does. Relative to
 * the project root, which is taken to be the repository's root.
 */
function derivedOutputPath(delivery: Construct, environment: string): string | undefined {
  const path: string | undefined = delivery.node.tryGetContext(OUTPUT_PATH_CONTEXT);
  if (path === undefined) return undefined;
  if (path.startsWith('/') || path.split('/').includes('..')) {
    throw new Error(`${C}: environment '${environment}' is synthesized into '${path}', which is not a folder of the repository, so the ApplicationSet cannot read it from there; `
      + "give the delivery's outputPath: the folder's path in the git repository, such as 'deploy/dist'");
  }
  return path;
}
