import { App, Chart, Duration } from 'cdk8s';
import { CanaryAnalysis, GateSpec } from '../constructs/canary-analysis';
import { CanaryRollout, CanaryStep } from '../constructs/canary-rollout';
import { HotrodAppSet } from '../constructs/hotrod-app-set';
import { OtelCollectorDaemonSet } from '../constructs/otel-collector-daemon-set';
import { SpanmetricsPipeline, SpanmetricsPipelineProps } from '../constructs/spanmetrics-pipeline';
import { ThreeGateAnalysis } from '../constructs/three-gate-analysis';
import { TrafficGenerator } from '../constructs/traffic-generator';
import { WorkloadProps } from '../constructs/workload';
import { PrometheusBackend } from '../platform/metrics-backend';
import { validateName } from '../util';

/** The thresholds of a service's three gates; an environment may set defaults for all its services. */
export interface GateThresholds {
  /** the lowest canary request rate that can pass @default 0.05 */
  readonly minRequestsPerSecond?: number;
  /** the highest share of failed canary requests @default 0.05 */
  readonly maxErrorRatio?: number;
  /** the highest p95 latency of the canary's user requests @default Duration.seconds(1) */
  readonly maxP95?: Duration;
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
  /** its thresholds, over the environment's @default - the environment's, then the gates' defaults */
  readonly gates?: GateThresholds;
  /** gates beside the three, e.g. `GateSpec.latency({ quantile: 0.99, max: Duration.seconds(2) })` @default - none */
  readonly extraGates?: readonly GateSpec[];
  /** keep user requests flowing to it with a traffic generator @default true */
  readonly trafficGenerator?: boolean;
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
}

/** Properties of {@link defineDelivery}. */
export interface DeliveryProps {
  /** the environment this app is for */
  readonly environment: EnvironmentSpec;
  /** the services; one collector serves them all */
  readonly services: readonly ServiceSpec[];
  /** the git repository Argo CD reads the folders from @default - HotrodAppSet's placeholder */
  readonly repoUrl?: string;
  /** the revision Argo CD follows @default 'HEAD' */
  readonly revision?: string;
  /** the repository folder this environment's app folders are synthesized into @default 'dist' */
  readonly outputPath?: string;
}

/** A delivered service: its chart, rollout, analysis and traffic generator. */
export interface DeliveredService {
  readonly chart: Chart;
  readonly rollout: CanaryRollout;
  readonly gates: CanaryAnalysis;
  readonly generator?: TrafficGenerator;
}

/** What {@link defineDelivery} built. */
export interface Delivery {
  readonly environment: EnvironmentSpec;
  readonly prometheus: PrometheusBackend;
  readonly pipeline: SpanmetricsPipeline;
  readonly collector: OtelCollectorDaemonSet;
  readonly services: readonly DeliveredService[];
  readonly charts: { readonly otel: Chart; readonly traffic?: Chart; readonly argocd: Chart };
  readonly appSet: HotrodAppSet;
}

const C = 'defineDelivery';

/** The folders (= namespaces) of the platform's own charts; no service may take one. */
const PLATFORM_FOLDERS = { otel: 'otel', traffic: 'traffic-generator', argocd: 'argocd' } as const;

/**
 * One environment's app: a collector for all services (chart `otel`), one chart per service in
 * the namespace of its name (Rollout, Service, AnalysisTemplate), a traffic generator per service
 * (chart `traffic-generator`), and the ApplicationSet that deploys every folder (chart `argocd`).
 * Data flows one way: pipeline -> collector -> rollouts -> gates -> traffic -> ApplicationSet.
 */
export function defineDelivery(app: App, props: DeliveryProps): Delivery {
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

  const chart = (folder: string) => new Chart(app, folder, { namespace: folder });
  const otel = chart(PLATFORM_FOLDERS.otel);
  const pipeline = new SpanmetricsPipeline(otel, 'Pipeline', { tracesBackend: env.tracesBackend, ...env.pipeline });
  const prometheus = env.prometheus ?? PrometheusBackend.communityChart();
  const collector = new OtelCollectorDaemonSet(otel, 'Collector', { pipeline, prometheus });

  const needsTraffic = props.services.some((s) => s.trafficGenerator ?? true);
  const traffic = needsTraffic ? chart(PLATFORM_FOLDERS.traffic) : undefined;
  const services = props.services.map((spec): DeliveredService => {
    const serviceChart = chart(spec.name);
    const rollout = new CanaryRollout(serviceChart, 'Rollout', { collector, name: spec.name, workload: spec.workload, replicas: spec.replicas, steps: spec.steps });
    const thresholds = { ...env.gates, ...spec.gates };
    const gates = rollout.useAnalysis(new ThreeGateAnalysis(serviceChart, 'Gates', { rollout, ...thresholds }));
    for (const extra of spec.extraGates ?? []) gates.addGate(extra);
    const generator = traffic && (spec.trafficGenerator ?? true)
      // one service: the generator keeps its default name; several: one per service
      ? new TrafficGenerator(traffic, props.services.length === 1 ? 'Generator' : spec.name, { target: rollout, name: props.services.length === 1 ? undefined : `${spec.name}-traffic` })
      : undefined;
    return { chart: serviceChart, rollout, gates, generator };
  });

  const argocd = chart(PLATFORM_FOLDERS.argocd);
  const prefix = env.applicationPrefix ?? `${env.name}-`;
  const appSet = new HotrodAppSet(argocd, 'AppSet', {
    apps: [otel, ...services.map((s) => s.chart), ...(traffic ? [traffic] : [])],
    name: env.applicationSetName ?? `${prefix}delivery`,
    applicationPrefix: prefix,
    repoUrl: props.repoUrl,
    revision: props.revision,
    outputPath: props.outputPath,
    destinationName: env.destinationName,
    destinationServer: env.destinationServer,
  });
  return { environment: env, prometheus, pipeline, collector, services, charts: { otel, traffic, argocd }, appSet };
}
