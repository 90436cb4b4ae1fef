import { Duration } from 'cdk8s';
import { Construct } from 'constructs';
import { deriveTiming, DerivedTiming, formatDerivation, poissonMeanFor, requestsForErrorRatio, samplesForQuantile, SeriesPath } from '../analysis/evidence';
import { MetricSchedule } from '../analysis/schedule';
import {
  AnalysisTemplate,
  AnalysisTemplateSpecMetricsConsecutiveErrorLimit,
  AnalysisTemplateSpecMetricsCount,
  AnalysisTemplateSpecMetricsFailureLimit,
  AnalysisTemplateSpecMetricsInconclusiveLimit,
} from '../../imports/argo-analysis-template-argoproj.io';
import { AnalysisArgument, CANARY_HASH_ARG, NAMESPACE_ARG } from '../platform/argo';
import { CanaryRollout, IAnalysis } from './canary-rollout';
import { PrometheusBackend } from '../platform/metrics-backend';
import { SPAN_KIND_SERVER } from '../platform/collector-config';
import { PodIdentity, SpanmetricsPipeline } from './spanmetrics-pipeline';
import { argoDuration, promDuration, validateInteger } from '../util';

/** When a gate measures and how many bad measurements it tolerates (Argo Rollouts metric fields). */
export interface GateTiming {
  /** the wait before the first measurement @default - derived from the pipeline (see {@link ThreeGateAnalysis.derivations}) */
  readonly initialDelay?: Duration;
  /** the time between measurements @default - the scrape interval */
  readonly interval?: Duration;
  /** the number of measurements @default 1 */
  readonly count?: number;
  /** failed measurements tolerated; the gate fails on one more @default 0 */
  readonly failureLimit?: number;
  /** inconclusive measurements tolerated @default 0 */
  readonly inconclusiveLimit?: number;
  /** consecutive errors (e.g. Prometheus unreachable) tolerated @default 3 */
  readonly consecutiveErrorLimit?: number;
  /** the window of the gate's `increase()` @default - derived: the canary's whole life at the first measurement */
  readonly window?: Duration;
}

/** The kind of question a gate answers. */
export enum GateKind {
  /** has the canary served enough requests to be judged (none at all: idle) */
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
  /** the Argo Rollouts failure condition: a measurement that meets neither is Inconclusive */
  readonly failureCondition: string;
  /** the threshold in the unit of the query's result */
  readonly threshold: number;
  /** where the gate's series come from */
  readonly path: SeriesPath;
  /** the timings, with defaults applied */
  readonly timing: Required<Omit<GateTiming, 'window'>>;
  /** the window of its `increase()`, in seconds */
  readonly windowSeconds: number;
}

/** Properties of a {@link ThreeGateAnalysis}. */
export interface ThreeGateAnalysisProps {
  /** the pipeline whose spanmetrics the latency gate reads (metric and label names come from it) */
  readonly pipeline: SpanmetricsPipeline;
  /** the rollout whose canary is judged (its namespace, metrics, pod labels and the Prometheus that scrapes it) */
  readonly rollout: CanaryRollout;
  /** the AnalysisTemplate name @default 'hotrod-analysis' */
  readonly name?: string;
  /** the lowest canary request rate that can pass, over the gate's window: a floor under the evidence @default 0.05 */
  readonly minRequestsPerSecond?: number;
  /** the highest share of failed canary requests, in 0..1 @default 0.05 */
  readonly maxErrorRatio?: number;
  /** the highest p95 latency of the canary's user requests @default Duration.seconds(1) */
  readonly maxP95?: Duration;
  /** the same as maxP95, in milliseconds; give one or the other @default - maxP95 */
  readonly maxP95Ms?: number;
  /** the confidence the evidence must give each verdict, in (0, 1) @default 0.95 */
  readonly confidence?: number;
  /** how long the canary may take to serve the evidence; the traffic generator is sized from it @default Duration.minutes(1) */
  readonly evidenceTime?: Duration;
  /** timings of the traffic gate @default - derived */
  readonly traffic?: GateTiming;
  /** timings of the error-rate gate @default - derived */
  readonly errorRate?: GateTiming;
  /** timings of the latency gate @default - derived */
  readonly latency?: GateTiming;
}

/** The thresholds the gates use unless given others. */
export const GATE_DEFAULTS = {
  minRequestsPerSecond: 0.05,
  maxErrorRatio: 0.05,
  maxP95: Duration.seconds(1),
  confidence: 0.95,
  evidenceTime: Duration.minutes(1),
} as const;

/** The quantile the latency gate reads. */
const LATENCY_QUANTILE = 0.95;


/**
 * How sure the traffic generator must be that the canary serves the evidence in time: requests
 * reach pods at random, so it is sized for this share of evidence windows.
 */
const ARRIVAL_CONFIDENCE = 0.999;

const C = 'ThreeGateAnalysis';

/** A `{{args.x}}` placeholder Argo Rollouts substitutes. */
function arg(name: string): string {
  return `{{args.${name}}}`;
}

/** `metric{a="x", b=~"y|z"}`: a value that is a list becomes a regex alternative. */
function selector(metric: string, labels: Record<string, string | readonly string[]>): string {
  const matchers = Object.entries(labels).map(([k, v]) => (typeof v === 'string' ? `${k}="${v}"` : `${k}=~"${v.map(escapeRegex).join('|')}"`));
  return `${metric}{${matchers.join(', ')}}`;
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, (c) => `\\\\${c}`);
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

/** Rounds seconds up to a whole multiple of 5, so derived times read well. */
function roundUp5(seconds: number): number {
  return Math.ceil(seconds / 5 - 1e-9) * 5;
}

/**
 * The AnalysisTemplate with the three gates that judge a HotROD canary: it must have served
 * enough user requests to be judged, fail few of them, and answer them fast enough.
 *
 * Every gate counts only the canary's user requests (never Prometheus's scrapes or HotROD's
 * internal calls) and judges only on evidence: the traffic gate needs the requests that make
 * the error threshold meaningful at the stated confidence; the error and latency gates return
 * nothing, and are Inconclusive, until that evidence is in. When the gates first measure, and
 * the window they read, are derived from the Prometheus scrape, the spanmetrics flush and the
 * export delay ({@link derivations}), so a slower scrape moves them.
 */
export class ThreeGateAnalysis extends Construct implements IAnalysis {
  /** the AnalysisTemplate */
  public readonly template: AnalysisTemplate;
  /** the three gates, in order: traffic, error rate, latency */
  public readonly gates: readonly Gate[];
  /** the arguments the template declares, with the sources a rollout step passes */
  public readonly args: readonly AnalysisArgument[];
  /** the Prometheus the gates query */
  public readonly prometheus: PrometheusBackend;
  /** the lowest canary request rate that can pass */
  public readonly minRequestsPerSecond: number;
  /** the highest share of failed canary requests */
  public readonly maxErrorRatio: number;
  /** the highest p95 latency in milliseconds */
  public readonly maxP95Ms: number;
  /** the confidence each verdict is given with */
  public readonly confidence: number;
  /** the user requests a canary must serve in a gate's window before it is judged */
  public readonly evidenceRequests: number;
  /** how long the canary may take to serve them */
  public readonly evidenceTime: Duration;
  /** the user request rate the canary must get so that it serves the evidence in time (with {@link ARRIVAL_CONFIDENCE}) */
  public readonly requiredCanaryRequestsPerSecond: number;
  /** when each path's series can first hold the evidence, worst case, with the terms that make it up */
  public readonly derivations: Readonly<Record<SeriesPath, DerivedTiming>>;

  constructor(scope: Construct, id: string, props: ThreeGateAnalysisProps) {
    super(scope, id);
    const name = props.name ?? 'hotrod-analysis';
    if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(name) || name.length > 253) {
      throw new Error(`${C}: name '${name}' is not a valid Kubernetes object name; use lowercase letters, digits, '-' and '.'`);
    }
    const rollout = props.rollout;
    this.prometheus = rollout.prometheus;

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
      throw new Error(`${C}: give maxP95 or maxP95Ms, not both (got ${props.maxP95.toMilliseconds({ integral: false })}ms and ${props.maxP95Ms}ms)`);
    }
    this.maxP95Ms = props.maxP95Ms ?? (props.maxP95 ?? GATE_DEFAULTS.maxP95).toMilliseconds({ integral: false });
    if (!Number.isFinite(this.maxP95Ms) || this.maxP95Ms <= 0) {
      throw new Error(`${C}: maxP95 must be a positive latency, got ${this.maxP95Ms}ms`);
    }
    this.confidence = props.confidence ?? GATE_DEFAULTS.confidence;
    if (!(this.confidence > 0 && this.confidence < 1)) {
      throw new Error(`${C}: confidence must lie strictly between 0 and 1, got ${props.confidence} (for 95% write 0.95)`);
    }
    this.evidenceTime = props.evidenceTime ?? GATE_DEFAULTS.evidenceTime;
    argoDuration(C, 'evidenceTime', this.evidenceTime);
    if (this.evidenceTime.toSeconds() <= 0) throw new Error(`${C}: evidenceTime must be at least 1s, got ${this.evidenceTime.toMilliseconds()}ms`);

    // The evidence: enough requests for "fewer than maxErrorRatio fail" and for a p95 to mean anything.
    this.evidenceRequests = Math.max(requestsForErrorRatio(this.maxErrorRatio, this.confidence), samplesForQuantile(LATENCY_QUANTILE, this.confidence));
    this.requiredCanaryRequestsPerSecond = poissonMeanFor(this.evidenceRequests, ARRIVAL_CONFIDENCE) / this.evidenceTime.toSeconds();

    const pipeline = props.pipeline;
    const timing = { backend: this.prometheus, flushSeconds: pipeline.spanmetrics.metricsFlushInterval.toMilliseconds() / 1000, exportDelaySeconds: pipeline.exportDelayMs(rollout.exportDelayMs) / 1000 };
    this.derivations = {
      [SeriesPath.POD_SCRAPE]: deriveTiming(SeriesPath.POD_SCRAPE, timing, this.evidenceTime.toSeconds()),
      [SeriesPath.SPANMETRICS]: deriveTiming(SeriesPath.SPANMETRICS, timing, this.evidenceTime.toSeconds()),
    };
    // One schedule for every gate: the run cannot end before its slowest gate anyway, and an idle
    // canary must meet the traffic gate (Failed) no later than the others (Inconclusive).
    const derivedDelay = roundUp5(Math.max(...Object.values(this.derivations).map((d) => d.totalSeconds)));

    this.args = [
      { name: NAMESPACE_ARG, valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      { name: CANARY_HASH_ARG, valueFrom: { podTemplateHashValue: 'Latest' } },
    ];

    const requests = rollout.requestsMetric;
    const userEndpoints = rollout.userEndpoints;
    const canaryRequests = (window: string, extra: Record<string, string> = {}) => `sum(increase(${selector(requests.name, {
      [this.prometheus.namespaceLabel]: arg(NAMESPACE_ARG),
      [requests.hashLabel]: arg(CANARY_HASH_ARG),
      [requests.endpointLabel]: userEndpoints.map((e) => e.spanName),
      ...extra,
    })}[${window}]))`;
    const series = pipeline.series;
    const [serviceLabel, spanNameLabel, spanKindLabel] = series.intrinsicLabels;
    const services = [...new Set(userEndpoints.map((e) => e.service))];
    const canarySpans = {
      [serviceLabel]: services.length === 1 ? services[0] : services,
      [spanKindLabel]: SPAN_KIND_SERVER,
      [spanNameLabel]: userEndpoints.map((e) => e.spanName),
      [pipeline.dimensionLabel(PodIdentity.NAMESPACE)]: arg(NAMESPACE_ARG),
      [pipeline.dimensionLabel(PodIdentity.POD_TEMPLATE_HASH)]: arg(CANARY_HASH_ARG),
    };

    const latencyThreshold = pipeline.inHistogramUnit(Duration.millis(this.maxP95Ms));
    const gate = (kind: GateKind, gateName: string, path: SeriesPath, given: GateTiming | undefined,
      render: (window: string, windowSeconds: number) => { query: string; successCondition: string; failureCondition: string; threshold: number }): Gate => {
      const t = this.resolveTiming(kind, given, derivedDelay);
      if (given?.window) argoDuration(C, `${kind}.window`, given.window);
      const windowSeconds = given?.window?.toSeconds() ?? derivedDelay;
      this.checkTiming(kind, t, windowSeconds, this.derivations[path]);
      return { name: gateName, kind, path, timing: t, windowSeconds, ...render(promDuration(Duration.seconds(windowSeconds)), windowSeconds) };
    };

    // At least the evidence, and never less than the floor users know (minRequestsPerSecond over the window).
    const trafficFloor = (windowSeconds: number) => Math.max(this.evidenceRequests, Math.ceil(this.minRequestsPerSecond * windowSeconds - 1e-9));
    const traffic = gate(GateKind.TRAFFIC, '', SeriesPath.POD_SCRAPE, props.traffic, (w, windowSeconds) => {
      const needed = trafficFloor(windowSeconds);
      return {
        query: `${canaryRequests(w)}\n`,
        // Enough requests: judge. Some but too few: Inconclusive (pause, a person decides). None: idle, Failed.
        successCondition: `len(result) > 0 && result[0] >= ${needed}`,
        failureCondition: 'len(result) == 0 || result[0] < 1',
        threshold: needed,
      };
    });
    const trafficGate: Gate = { ...traffic, name: `traffic-at-least-${traffic.threshold}-requests` };
    const evidence = (w: string) => `${canaryRequests(w)} >= ${trafficGate.threshold}`;

    this.gates = [
      trafficGate,
      gate(GateKind.ERROR_RATE, `error-rate-lt-${slug(this.maxErrorRatio * 100)}-percent`, SeriesPath.POD_SCRAPE, props.errorRate, (w) => ({
        // `or vector(0)`: no failed request yet reads as 0% errors. `and on()`: no verdict without the evidence.
        query: `(\n  (${canaryRequests(w, { [requests.errorLabel]: requests.errorValue })} or vector(0))\n  /\n  ${canaryRequests(w)}\n)\nand on()\n${evidence(w)}\n`,
        successCondition: `len(result) > 0 && result[0] < ${num(this.maxErrorRatio)}`,
        failureCondition: `len(result) > 0 && result[0] >= ${num(this.maxErrorRatio)}`,
        threshold: this.maxErrorRatio,
      })),
      gate(GateKind.LATENCY, `latency-p95-lt-${latencySlug(this.maxP95Ms)}`, SeriesPath.SPANMETRICS, props.latency, (w) => ({
        query: `histogram_quantile(${LATENCY_QUANTILE}, sum by (le) (increase(${selector(series.durationBucket, canarySpans)}[${w}])))\n`
          + `and on()\nsum(increase(${selector(series.durationCount, canarySpans)}[${w}])) >= ${trafficGate.threshold}\n`,
        successCondition: `len(result) > 0 && result[0] < ${num(latencyThreshold)}`,
        failureCondition: `len(result) > 0 && result[0] >= ${num(latencyThreshold)}`,
        threshold: latencyThreshold,
      })),
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
          failureCondition: g.failureCondition,
          failureLimit: AnalysisTemplateSpecMetricsFailureLimit.fromNumber(g.timing.failureLimit),
          inconclusiveLimit: AnalysisTemplateSpecMetricsInconclusiveLimit.fromNumber(g.timing.inconclusiveLimit),
          consecutiveErrorLimit: AnalysisTemplateSpecMetricsConsecutiveErrorLimit.fromNumber(g.timing.consecutiveErrorLimit),
          provider: { prometheus: { address: this.prometheus.address, query: g.query } },
        })),
      },
    });
  }

  /** The AnalysisTemplate's name. */
  public get templateName(): string {
    return this.template.name;
  }

  /** The URL the gates query. */
  public get prometheusAddress(): string {
    return this.prometheus.address;
  }

  /** The gate of a kind. */
  public gate(kind: GateKind): Gate {
    return this.gates.find((g) => g.kind === kind)!;
  }

  private resolveTiming(kind: GateKind, given: GateTiming = {}, derivedDelay: number): Required<Omit<GateTiming, 'window'>> {
    const defaults = {
      initialDelay: Duration.seconds(derivedDelay),
      interval: this.prometheus.scrapeInterval,
      count: 1,
      failureLimit: 0,
      inconclusiveLimit: 0,
      consecutiveErrorLimit: 3,
    };
    const { window: _window, ...rest } = given;
    const t = { ...defaults, ...Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined)) } as Required<Omit<GateTiming, 'window'>>;
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
    if (t.inconclusiveLimit >= t.count) {
      throw new Error(`${C}: ${kind}.inconclusiveLimit ${t.inconclusiveLimit} lets all ${t.count} measurements be inconclusive, and Argo Rollouts then counts the gate `
        + 'Successful without any evidence: use an inconclusiveLimit below count');
    }
    return t;
  }

  /**
   * An override that cannot work fails the synth: a gate that ends the run (Failed or
   * Inconclusive) before the evidence can be in Prometheus, or reads a window that cannot hold it.
   */
  private checkTiming(kind: GateKind, t: Required<Omit<GateTiming, 'window'>>, windowSeconds: number, derived: DerivedTiming): void {
    const s = t.initialDelay.toSeconds();
    const i = t.interval.toSeconds();
    // Without evidence the traffic gate fails (no series yet) and the others are inconclusive.
    const limit = kind === GateKind.TRAFFIC ? t.failureLimit : t.inconclusiveLimit;
    const endsAt = s + limit * i;
    const how = `initialDelay ${s}s + ${kind === GateKind.TRAFFIC ? 'failureLimit' : 'inconclusiveLimit'} ${limit} x interval ${i}s = ${endsAt}s`;
    if (endsAt < derived.totalSeconds) {
      throw new Error(`${C}: the ${kind} gate ends the run at ${endsAt}s without evidence (${how}), but the canary's evidence is in Prometheus only `
        + `${formatDerivation(derived)} after it starts, worst case; a healthy canary would be stopped: raise ${kind}.initialDelay to at least `
        + `${Math.ceil(derived.totalSeconds - limit * i)}s, or shorten the scrape interval, the flush interval or evidenceTime`);
    }
    const needed = derived.totalSeconds - derived.lag.reduce((sum, term) => sum + term.seconds, 0);
    if (windowSeconds < needed) {
      throw new Error(`${C}: the ${kind} gate's window ${windowSeconds}s cannot hold the evidence: the canary's first counted sample can be `
        + `${needed - derived.evidence.seconds}s after it starts and the evidence takes ${derived.evidence.seconds}s more; use a window of at least ${needed}s`);
    }
  }
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
