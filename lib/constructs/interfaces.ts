import { Duration } from 'cdk8s';
import { SeriesPath } from '../analysis/evidence';
import { AnalysisArgument } from '../platform/argo';
import { SpanmetricsSeries } from '../platform/collector-config';
import { ServedEndpoint } from '../platform/image-facts';
import { PrometheusBackend } from '../platform/metrics-backend';

/*
 * What the constructs need of each other, as interfaces: a collector run by the
 * OtelCollectorDaemonSet or by an operator, a rollout made by CanaryRollout or written by hand,
 * an analysis of any kind. Data flows one way: pipeline -> collector -> rollout -> analysis ->
 * traffic generator.
 */

/** What a pod tells the collector about itself, through `OTEL_RESOURCE_ATTRIBUTES`. */
export enum PodIdentity {
  /** the pod's namespace */
  NAMESPACE = 'namespace',
  /** the pod's name */
  POD_NAME = 'podName',
  /** the pod's `rollouts-pod-template-hash` label: which ReplicaSet (stable or canary) it belongs to */
  POD_TEMPLATE_HASH = 'podTemplateHash',
}

/** The spanmetrics a collector makes of the spans it receives: the names and timings the gates build on. */
export interface ISpanmetricsPipeline {
  /** the Prometheus series the connector produces */
  readonly series: SpanmetricsSeries;
  /** the resource attribute key of each pod identity; each is a dimension */
  readonly podIdentity: Readonly<Record<PodIdentity, string>>;
  /** how often the connector flushes */
  readonly flushInterval: Duration;
  /** the Prometheus label that carries a pod identity on the series */
  dimensionLabel(identity: PodIdentity): string;
  /** the finite bucket bounds of the duration histogram, in its unit */
  bucketBounds(): number[];
  /** makes a latency a bound of the duration histogram (a gate counts the requests slower than it) */
  requireBucketBound(bound: Duration): void;
  /** a duration in the duration histogram's unit */
  inHistogramUnit(d: Duration): number;
  /** the longest a finished span takes to reach the connector, given the app's own export delay */
  exportDelayMs(appExportDelayMs: number): number;
}

/** A collector apps send their traces to. */
export interface ICollector {
  /** the in-cluster URL an OTLP/HTTP exporter sends to */
  readonly otlpHttpEndpoint: string;
  /** the spanmetrics it makes of the spans */
  readonly pipeline: ISpanmetricsPipeline;
  /** the Prometheus that scrapes its spanmetrics, when it says */
  readonly prometheus?: PrometheusBackend;
  /** admits a namespace's pods to its OTLP receivers, when it restricts who may send (a NetworkPolicy) */
  admitTelemetryFrom?(namespace: string): void;
}

/** PromQL label matchers: a list is a regex alternative of exact values. */
export type Matchers = Readonly<Record<string, string | readonly string[]>>;

/** The series that count the canary's user requests, as the gates select them. */
export interface CanaryRequests {
  /** how the series reach Prometheus (which fixes when they can first hold evidence) */
  readonly path: SeriesPath;
  /** the counter, e.g. `hotrod_requests_total` or spanmetrics' calls */
  readonly metric: string;
  /** the matchers of the canary's user requests, with `{{args.*}}` placeholders */
  readonly matchers: Matchers;
  /** the further matchers of the failed ones */
  readonly failed: Readonly<Record<string, string>>;
}

/** An analysis a rollout step can run. */
export interface IAnalysis {
  /** the AnalysisTemplate's name */
  readonly templateName: string;
  /** the arguments the template declares, with their sources */
  readonly args: readonly AnalysisArgument[];
  /** the user request rate the canary must get at the analysis weight for the analysis to have its evidence in time, if it needs one */
  readonly requiredCanaryRequestsPerSecond?: number;
}

/** The canary pods of a weight, and the analyses the steps run. */
export interface IStepsTarget {
  /** the rollout's name, for messages */
  readonly name: string;
  /** the number of pods */
  readonly replicas: number;
  /** the analyses the steps run, with the weight in force when each starts */
  analysisSteps(): readonly { readonly weight: number; readonly analysis: IAnalysis }[];
  /** the canary and stable pod counts at a weight */
  podsAtWeight(weight: number): { readonly canary: number; readonly stable: number };
}

/** What a canary analysis judges: the canary's series, the Prometheus that holds them, and how late they are. */
export interface IAnalysisTarget {
  /** the rollout's name, for the template's default name and messages */
  readonly name: string;
  /** the Prometheus that scrapes the pods and that the gates query */
  readonly prometheus: PrometheusBackend;
  /** the spanmetrics its spans become */
  readonly pipeline: ISpanmetricsPipeline;
  /** the series the gates count the canary's user requests in */
  readonly requests: CanaryRequests;
  /** the matchers of the canary's user request spans in the spanmetrics series */
  readonly canarySpans: Matchers;
  /** the longest a finished span waits in the app's SDK before it is exported, in ms */
  readonly exportDelayMs: number;
  /** the share of the Service's user requests the canary serves while its (first) analysis runs: its pods' share at that weight */
  readonly canaryRequestShare: number;
}

/** What a traffic generator sends to: a Service in front of a rollout, and the rollout's analyses. */
export interface ITrafficTarget extends IStepsTarget {
  /** the in-cluster URL of the Service */
  readonly url: string;
  /** the endpoints users call: the generator sends their URLs */
  readonly userEndpoints: readonly ServedEndpoint[];
}
