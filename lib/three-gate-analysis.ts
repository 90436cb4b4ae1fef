import { Duration } from 'cdk8s';
import { Construct } from 'constructs';
import { MetricSchedule } from './analysis/schedule';
import {
  AnalysisTemplate,
  AnalysisTemplateSpecMetricsConsecutiveErrorLimit,
  AnalysisTemplateSpecMetricsCount,
  AnalysisTemplateSpecMetricsFailureLimit,
  AnalysisTemplateSpecMetricsInconclusiveLimit,
} from '../imports/argo-analysis-template-argoproj.io';
import { AnalysisArgument, CanaryRollout, HOTROD_REQUESTS_METRIC, IAnalysis, ROLLOUTS_POD_TEMPLATE_HASH_LABEL } from './canary-rollout';
import { podLabelToPrometheusLabel, SCRAPE_NAMESPACE_LABEL } from './prometheus-naming';
import { PodIdentity, SpanmetricsPipeline } from './spanmetrics-pipeline';
import { argoDuration, promDuration, validateInteger } from './util';

/** When a gate measures and how many bad measurements it tolerates (Argo Rollouts metric fields). */
export interface GateTiming {
  /** the wait before the first measurement */
  readonly initialDelay?: Duration;
  /** the time between measurements */
  readonly interval?: Duration;
  /** the number of measurements */
  readonly count?: number;
  /** failed measurements tolerated; the gate fails on one more */
  readonly failureLimit?: number;
  /** inconclusive measurements tolerated */
  readonly inconclusiveLimit?: number;
  /** consecutive errors (e.g. Prometheus unreachable) tolerated */
  readonly consecutiveErrorLimit?: number;
}

/** The kind of question a gate answers. */
export enum GateKind {
  /** does the canary serve traffic at all */
  TRAFFIC = 'traffic',
  /** does the canary fail too many requests */
  ERROR_RATE = 'error-rate',
  /** is the canary too slow */
  LATENCY = 'latency',
}

/** One gate as rendered: a metric of the AnalysisTemplate. */
export interface Gate {
  /** the metric name */
  readonly name: string;
  /** what it checks */
  readonly kind: GateKind;
  /** the PromQL query, with `{{args.*}}` placeholders */
  readonly query: string;
  /** the Argo Rollouts success condition */
  readonly successCondition: string;
  /** the threshold in the unit of the query's result */
  readonly threshold: number;
  /** the timings, with defaults applied */
  readonly timing: Required<GateTiming>;
}

/** Properties of a {@link ThreeGateAnalysis}. */
export interface ThreeGateAnalysisProps {
  /** the pipeline whose spanmetrics the latency gate reads (metric and label names come from it) */
  readonly pipeline: SpanmetricsPipeline;
  /** the rollout whose canary is judged (its namespace, metrics and pod labels) */
  readonly rollout: CanaryRollout;
  /** the AnalysisTemplate name @default 'hotrod-analysis' */
  readonly name?: string;
  /** the Prometheus the gates query @default 'http://prometheus-server.prometheus.svc.cluster.local' */
  readonly prometheusAddress?: string;
  /** the lowest canary request rate that passes the traffic gate @default 0.05 */
  readonly minRequestsPerSecond?: number;
  /** the highest share of failed canary requests, in 0..1 @default 0.05 */
  readonly maxErrorRatio?: number;
  /** the highest p95 latency of the canary's spans @default Duration.seconds(1) */
  readonly maxP95?: Duration;
  /** the same as maxP95, in milliseconds; give one or the other @default - maxP95 */
  readonly maxP95Ms?: number;
  /** the window of every `rate()` @default Duration.minutes(2) */
  readonly rateWindow?: Duration;
  /** timings of the traffic gate @default - 90s / 10s / 5, limits 3 / 5 / 3 */
  readonly traffic?: GateTiming;
  /** timings of the error-rate gate @default - 60s / 10s / 3, limits 2 / 3 / 2 */
  readonly errorRate?: GateTiming;
  /** timings of the latency gate @default - 90s / 10s / 3, limits 2 / 3 / 2 */
  readonly latency?: GateTiming;
}

/** The thresholds the gates use unless given others. */
export const GATE_DEFAULTS = {
  minRequestsPerSecond: 0.05,
  maxErrorRatio: 0.05,
  maxP95: Duration.seconds(1),
  rateWindow: Duration.minutes(2),
} as const;

const DEFAULT_TIMINGS: Record<GateKind, Required<GateTiming>> = {
  [GateKind.TRAFFIC]: { initialDelay: Duration.seconds(90), interval: Duration.seconds(10), count: 5, failureLimit: 3, inconclusiveLimit: 5, consecutiveErrorLimit: 3 },
  [GateKind.ERROR_RATE]: { initialDelay: Duration.seconds(60), interval: Duration.seconds(10), count: 3, failureLimit: 2, inconclusiveLimit: 3, consecutiveErrorLimit: 2 },
  [GateKind.LATENCY]: { initialDelay: Duration.seconds(90), interval: Duration.seconds(10), count: 3, failureLimit: 2, inconclusiveLimit: 3, consecutiveErrorLimit: 2 },
};

/** The template argument that carries the canary's namespace. */
export const NAMESPACE_ARG = 'namespace';
/** The template argument that carries the canary's pod-template hash. */
export const CANARY_HASH_ARG = 'canary-hash';

const C = 'ThreeGateAnalysis';

/** A `{{args.x}}` placeholder Argo Rollouts substitutes. */
function arg(name: string): string {
  return `{{args.${name}}}`;
}

/** `metric{a="x", b="y"}` */
function selector(metric: string, labels: Record<string, string>): string {
  return `${metric}{${Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(', ')}}`;
}

/** A threshold as the condition prints it (no exponent, no trailing zeros). */
function num(n: number): string {
  return Number(n.toPrecision(12)).toString();
}

/** The name-safe form of a threshold, e.g. 2.5 -> '2p5'. */
function slug(n: number): string {
  return num(n).replace('.', 'p');
}

/** A latency as a short name: 1000ms -> '1s', 250ms -> '250ms'. */
function latencySlug(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${slug(ms)}ms`;
}

/**
 * The AnalysisTemplate with the three gates that judge a HotROD canary:
 * it must serve traffic, fail few requests, and answer fast enough.
 *
 * Metric and label names come from the pipeline (spanmetrics) and the rollout
 * (HotROD's counter, scraped with its pod labels); thresholds are typed props.
 */
export class ThreeGateAnalysis extends Construct implements IAnalysis {
  /** the AnalysisTemplate */
  public readonly template: AnalysisTemplate;
  /** the three gates, in order: traffic, error rate, latency */
  public readonly gates: readonly Gate[];
  /** the arguments the template declares, with the sources a rollout step passes */
  public readonly args: readonly AnalysisArgument[];
  /** the Prometheus the gates query */
  public readonly prometheusAddress: string;
  /** the lowest canary request rate that passes */
  public readonly minRequestsPerSecond: number;
  /** the highest share of failed canary requests */
  public readonly maxErrorRatio: number;
  /** the highest p95 latency in milliseconds */
  public readonly maxP95Ms: number;
  /** the window of every `rate()` */
  public readonly rateWindow: Duration;

  constructor(scope: Construct, id: string, props: ThreeGateAnalysisProps) {
    super(scope, id);
    const name = props.name ?? 'hotrod-analysis';
    if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(name) || name.length > 253) {
      throw new Error(`${C}: name '${name}' is not a valid Kubernetes object name; use lowercase letters, digits, '-' and '.'`);
    }
    this.prometheusAddress = props.prometheusAddress ?? 'http://prometheus-server.prometheus.svc.cluster.local';
    if (!/^https?:\/\/[^\s/]+(:\d+)?(\/\S*)?$/.test(this.prometheusAddress)) {
      throw new Error(`${C}: prometheusAddress '${this.prometheusAddress}' is not an http(s) URL; use e.g. 'http://prometheus-server.prometheus.svc.cluster.local'`);
    }

    this.minRequestsPerSecond = props.minRequestsPerSecond ?? GATE_DEFAULTS.minRequestsPerSecond;
    if (!Number.isFinite(this.minRequestsPerSecond) || this.minRequestsPerSecond <= 0) {
      throw new Error(`${C}: minRequestsPerSecond must be a positive number of requests per second, got ${props.minRequestsPerSecond}; `
        + 'a gate that accepts 0 req/s promotes an idle canary');
    }
    this.maxErrorRatio = props.maxErrorRatio ?? GATE_DEFAULTS.maxErrorRatio;
    if (!Number.isFinite(this.maxErrorRatio) || this.maxErrorRatio <= 0 || this.maxErrorRatio > 1) {
      const hint = this.maxErrorRatio > 1 && this.maxErrorRatio <= 100 ? ` (for ${this.maxErrorRatio}% write ${this.maxErrorRatio / 100})` : '';
      throw new Error(`${C}: maxErrorRatio must be a ratio above 0 and at most 1, got ${props.maxErrorRatio}${hint}`);
    }
    if (props.maxP95 !== undefined && props.maxP95Ms !== undefined) {
      throw new Error(`${C}: give maxP95 or maxP95Ms, not both (got ${props.maxP95.toMilliseconds()}ms and ${props.maxP95Ms}ms)`);
    }
    this.maxP95Ms = props.maxP95Ms ?? (props.maxP95 ?? GATE_DEFAULTS.maxP95).toMilliseconds();
    if (!Number.isFinite(this.maxP95Ms) || this.maxP95Ms <= 0) {
      throw new Error(`${C}: maxP95 must be a positive latency, got ${this.maxP95Ms}ms`);
    }
    this.rateWindow = props.rateWindow ?? GATE_DEFAULTS.rateWindow;
    argoDuration(C, 'rateWindow', this.rateWindow);
    const window = promDuration(this.rateWindow);
    const flush = props.pipeline.spanmetrics.metricsFlushInterval;
    if (this.rateWindow.toMilliseconds() < 2 * flush.toMilliseconds()) {
      throw new Error(`${C}: rateWindow ${window} is shorter than twice the spanmetrics flush interval (${flush.toSeconds()}s); `
        + `rate() needs two points in its window: use at least ${2 * flush.toSeconds()}s`);
    }

    this.args = [
      { name: NAMESPACE_ARG, valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      { name: CANARY_HASH_ARG, valueFrom: { podTemplateHashValue: 'Latest' } },
    ];

    const requests = HOTROD_REQUESTS_METRIC;
    const canaryPods = {
      [SCRAPE_NAMESPACE_LABEL]: arg(NAMESPACE_ARG),
      [podLabelToPrometheusLabel(ROLLOUTS_POD_TEMPLATE_HASH_LABEL)]: arg(CANARY_HASH_ARG),
    };
    const canarySpans = {
      [props.pipeline.dimensionLabel(PodIdentity.NAMESPACE)]: arg(NAMESPACE_ARG),
      [props.pipeline.dimensionLabel(PodIdentity.POD_TEMPLATE_HASH)]: arg(CANARY_HASH_ARG),
    };
    const allRequests = `sum(rate(${selector(requests.name, canaryPods)}[${window}]))`;
    // `or vector(0)`: no failed request yet must read as 0% errors, not as an empty result.
    const failedRequests = `(sum(rate(${selector(requests.name, { ...canaryPods, [requests.errorLabel]: requests.errorValue })}[${window}])) or vector(0))`;
    const latencyThreshold = props.pipeline.inHistogramUnit(Duration.millis(this.maxP95Ms));

    const gate = (kind: GateKind, gateName: string, query: string, op: string, threshold: number, timing?: GateTiming): Gate => ({
      name: gateName,
      kind,
      query,
      // Guarded: before data exists `result` is empty and a bare `result[0]` is an Error, not a failure.
      successCondition: `len(result) > 0 && result[0] ${op} ${num(threshold)}`,
      threshold,
      timing: resolveTiming(kind, timing),
    });
    this.gates = [
      gate(GateKind.TRAFFIC, 'traffic-detection', `${allRequests}\n`, '>=', this.minRequestsPerSecond, props.traffic),
      gate(GateKind.ERROR_RATE, `error-rate-lt-${slug(this.maxErrorRatio * 100)}-percent`, `${failedRequests}\n/\n${allRequests}\n`, '<', this.maxErrorRatio, props.errorRate),
      gate(GateKind.LATENCY, `latency-p95-lt-${latencySlug(this.maxP95Ms)}`,
        `histogram_quantile(0.95, sum by (le) (rate(${selector(props.pipeline.series.durationBucket, canarySpans)}[${window}])))\n`,
        '<', latencyThreshold, props.latency),
    ];

    this.template = new AnalysisTemplate(this, 'Resource', {
      metadata: { name },
      spec: {
        args: this.args.map((a) => ({ name: a.name })),
        metrics: this.gates.map((g) => ({
          name: g.name,
          initialDelay: argoDuration(C, `${g.kind}.initialDelay`, g.timing.initialDelay),
          interval: argoDuration(C, `${g.kind}.interval`, g.timing.interval),
          count: AnalysisTemplateSpecMetricsCount.fromNumber(g.timing.count),
          successCondition: g.successCondition,
          failureLimit: AnalysisTemplateSpecMetricsFailureLimit.fromNumber(g.timing.failureLimit),
          inconclusiveLimit: AnalysisTemplateSpecMetricsInconclusiveLimit.fromNumber(g.timing.inconclusiveLimit),
          consecutiveErrorLimit: AnalysisTemplateSpecMetricsConsecutiveErrorLimit.fromNumber(g.timing.consecutiveErrorLimit),
          provider: { prometheus: { address: this.prometheusAddress, query: g.query } },
        })),
      },
    });
  }

  /** The AnalysisTemplate's name. */
  public get templateName(): string {
    return this.template.name;
  }

  /** The gate of a kind. */
  public gate(kind: GateKind): Gate {
    return this.gates.find((g) => g.kind === kind)!;
  }
}

function resolveTiming(kind: GateKind, given: GateTiming = {}): Required<GateTiming> {
  const t = { ...DEFAULT_TIMINGS[kind], ...Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)) } as Required<GateTiming>;
  validateInteger(C, `${kind}.count`, t.count, 1);
  validateInteger(C, `${kind}.failureLimit`, t.failureLimit, 0);
  validateInteger(C, `${kind}.inconclusiveLimit`, t.inconclusiveLimit, 0);
  validateInteger(C, `${kind}.consecutiveErrorLimit`, t.consecutiveErrorLimit, 0);
  argoDuration(C, `${kind}.initialDelay`, t.initialDelay);
  argoDuration(C, `${kind}.interval`, t.interval);
  if (t.interval.toMilliseconds() <= 0) {
    throw new Error(`${C}: ${kind}.interval must be at least 1s, got ${t.interval.toMilliseconds()}ms`);
  }
  if (t.failureLimit >= t.count) {
    throw new Error(`${C}: ${kind}.failureLimit ${t.failureLimit} can never be exceeded with count ${t.count}; the gate could not fail: use a failureLimit below count`);
  }
  return t;
}

/** A gate's timing as Argo Rollouts schedules it, in seconds. */
export function gateSchedule(gate: Gate): MetricSchedule {
  return {
    initialDelaySeconds: gate.timing.initialDelay.toSeconds(),
    intervalSeconds: gate.timing.interval.toSeconds(),
    count: gate.timing.count,
    failureLimit: gate.timing.failureLimit,
    inconclusiveLimit: gate.timing.inconclusiveLimit,
    consecutiveErrorLimit: gate.timing.consecutiveErrorLimit,
  };
}
