import { Duration, Lazy } from 'cdk8s';
import { Construct } from 'constructs';
import {
  AnalysisTemplate,
  AnalysisTemplateSpecMetrics,
  AnalysisTemplateSpecMetricsConsecutiveErrorLimit,
  AnalysisTemplateSpecMetricsConsecutiveSuccessLimit,
  AnalysisTemplateSpecMetricsCount,
  AnalysisTemplateSpecMetricsFailureLimit,
  AnalysisTemplateSpecMetricsInconclusiveLimit,
} from '../../imports/argo-analysis-template-argoproj.io';
import { ARRIVAL_CONFIDENCE, deriveTiming, DerivedTiming, formatDerivation, PipelineTiming, poissonMeanFor, SeriesPath } from '../analysis/evidence';
import { MetricSchedule } from '../analysis/schedule';
import {
  BinomialSprt, DEFAULT_FALSE_PROMOTE, DEFAULT_FALSE_STOP, OperatingCharacteristic, operatingCharacteristic, OperatingCharacteristicOptions,
} from '../analysis/sequential';
import {
  AnalysisDesign, canaryShareOfFailures, designAnnotation, Direction, GATE_DESIGN_ANNOTATION, GATE_KINDS_ANNOTATION, GateKind, VsStableDesign,
} from '../model/gates';
import { AnalysisArgument, arg, CANARY_HASH_ARG, NAMESPACE_ARG, STABLE_HASH_ARG } from '../platform/argo';
import { COLLECTOR_RESTART_GAP, SpanmetricsSeries } from '../platform/collector-config';
import { PrometheusBackend } from '../platform/metrics-backend';
import { BUCKET_LABEL, bucketBoundValues } from '../platform/prometheus-naming';
import { argoDuration, promDuration, validateInteger } from '../util';
import { IAnalysis, IAnalysisTarget, ISpanmetricsPipeline, Matchers } from './interfaces';

/** When a gate measures and how many bad measurements it tolerates (Argo Rollouts metric fields). */
export interface GateTiming {
  /** the wait before the first measurement @default - derived from the pipeline (see {@link CanaryAnalysis.schedule}) */
  readonly initialDelay?: Duration;
  /** the time between measurements @default - the scrape interval */
  readonly interval?: Duration;
  /** the number of measurements @default - a sequential gate's horizon (see {@link CanaryAnalysis.schedule}); 1 for a custom gate */
  readonly count?: number;
  /** failed measurements tolerated; the gate fails on one more @default 0 */
  readonly failureLimit?: number;
  /** inconclusive measurements tolerated @default - count - 1 for a sequential gate (a look that decides nothing waits for the next); 0 for a custom gate */
  readonly inconclusiveLimit?: number;
  /** consecutive errors (e.g. Prometheus unreachable) tolerated @default 3 */
  readonly consecutiveErrorLimit?: number;
  /** successful measurements in a row that end the gate Successful before count (Argo Rollouts v1.8) @default - 1 for a sequential gate; 0 (off) for a custom gate */
  readonly consecutiveSuccessLimit?: number;
  /** the window of a custom gate's `increase()` @default - derived: the canary's whole life at its measurement */
  readonly window?: Duration;
}

/** A gate's timings with defaults applied. */
export type ResolvedTiming = Required<Omit<GateTiming, 'window'>>;

/**
 * The design of a sequential gate: the share of bad requests its threshold states, the operating
 * characteristic it is built for, and the test that decides it.
 */
export interface SequentialDesign {
  /** the share of bad requests the threshold states: the highest error ratio, or 1 - quantile of requests slower than the latency */
  readonly threshold: number;
  readonly oc: OperatingCharacteristic;
  readonly test: BinomialSprt;
  /** for a latency gate: the latency that splits slow requests from fast ones, in the histogram's unit */
  readonly latencyBound?: number;
  /**
   * the canary user requests one trial of the test takes on average at `good`: 1 for a gate that
   * judges every request; for one that judges failures (canary against stable), the requests
   * between two failures of either side
   */
  readonly requestsPerTrial: number;
  /** for a gate that compares the canary with the stable pods: its design in factors of their error ratio */
  readonly vsStable?: VsStableDesign;
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
  /** the Argo Rollouts failure condition: a measurement that meets neither is Inconclusive (for a sequential gate: not yet) */
  readonly failureCondition: string;
  /**
   * the limit the gate states, in its own terms: the requests a traffic gate needs, the highest
   * error ratio, the highest latency at the quantile (in the histogram's unit), a custom gate's threshold
   */
  readonly threshold: number;
  /** which side of the threshold passes */
  readonly direction: Direction;
  /** the quantile a latency gate reads */
  readonly quantile?: number;
  /** where the gate's series come from */
  readonly path: SeriesPath;
  /** the timings, with defaults applied */
  readonly timing: ResolvedTiming;
  /** the window of a custom gate's `increase()`, in seconds */
  readonly windowSeconds?: number;
  /** a sequential gate's design (error-rate and latency gates) */
  readonly design?: SequentialDesign;
}

/** What a custom gate's query can build on: the canary's own selectors and the derived window. */
export interface GateQueryContext {
  /** the window, as PromQL writes it (`190s`) */
  readonly window: string;
  /** the selector of the canary's user requests, e.g. `hotrod_requests_total{namespace="{{args.namespace}}", ...}` */
  readonly requests: string;
  /** the selector of the canary's failed user requests */
  readonly failedRequests: string;
  /** the selector of a spanmetrics series restricted to the canary's user request spans, with further matchers if given (e.g. `{ le: '200' }`, a bucket bound: it matches `200` and Prometheus 3's `200.0`) */
  spans(series: 'calls' | 'durationBucket' | 'durationCount' | 'durationSum', extra?: Readonly<Record<string, string>>): string;
}

/** Options every gate takes. */
export interface GateOptions {
  /** the metric name in the template @default - derived from the gate and its threshold, e.g. `latency-p99-lt-2s` */
  readonly name?: string;
  /** when it measures @default - derived */
  readonly timing?: GateTiming;
}

/** Options of {@link GateSpec.errorRatio}: `good` and `bad` are shares of failed requests. */
export interface ErrorRatioGateOptions extends GateOptions, OperatingCharacteristicOptions {
  /** the highest share of failed canary user requests, in (0, 1) */
  readonly max: number;
}

/** Options of {@link GateSpec.latency}: `good` and `bad` are shares of requests slower than `max`. */
export interface LatencyGateOptions extends GateOptions, OperatingCharacteristicOptions {
  /** the quantile, in (0, 1) @default 0.95 */
  readonly quantile?: number;
  /** the highest latency at that quantile: at most 1 - quantile of the requests may be slower */
  readonly max: Duration;
}

/**
 * Options of {@link GateSpec.errorRatioVsStable}: the factors compare the canary's error ratio with
 * the stable pods' over the same time.
 */
export interface ErrorRatioVsStableGateOptions extends GateOptions {
  /** the highest factor of the stable pods' error ratio the canary may have, above 1 @default 1.5 */
  readonly maxFactor?: number;
  /** the factor that must pass, below maxFactor @default 1 (as good as the stable pods) */
  readonly goodFactor?: number;
  /** the factor that must stop, above maxFactor @default twice maxFactor */
  readonly badFactor?: number;
  /** the chance that a canary at goodFactor is stopped, in (0, 0.5) @default - the analysis's falseStop */
  readonly falseStop?: number;
  /** the chance that a canary at badFactor is promoted, in (0, 0.5) @default - the analysis's falsePromote */
  readonly falsePromote?: number;
  /**
   * The error ratio the stable pods have, in (0, 1): it sizes the traffic and the horizon (a test
   * that counts failures needs failures); the test itself reads the stable pods' counts.
   */
  readonly stableErrorRatio: number;
}

/** Options of {@link GateSpec.custom}. */
export interface CustomGateOptions extends GateOptions {
  /** the metric name in the template */
  readonly name: string;
  /** the query; it may build on the canary's selectors */
  readonly query: (context: GateQueryContext) => string;
  /** the threshold `result[0]` is compared with */
  readonly threshold: number;
  /** which side of it passes */
  readonly direction: Direction;
  /** where its series come from (fixes when they can hold evidence) @default SeriesPath.SPANMETRICS */
  readonly path?: SeriesPath;
  /** return no result, so the gate is Inconclusive, until the canary has served the evidence @default true */
  readonly requiresEvidence?: boolean;
}

/** What a gate renders from. @internal */
export interface GateRenderContext {
  readonly target: IAnalysisTarget;
  readonly series: SpanmetricsSeries;
  /** the requests the canary must serve before it can be promoted (the traffic gate's threshold) */
  readonly evidence: number;
  /** the span of the canary's life the gates look back over, as PromQL writes it (the horizon and two looks more) */
  readonly horizon: string;
  /** the time between looks, as PromQL writes it (a subquery's step) */
  readonly step: string;
  /** a custom gate's window */
  readonly window: string;
  /** `... and on() <evidence>`: the guard that returns nothing until the canary has served the evidence (custom gates) */
  evidenceGuard(): string;
  /** a selector of a spanmetrics series over the canary's user request spans */
  spans(metric: string, extra?: Matchers): string;
  /** the gate's sequential design, for sequential gates */
  readonly design?: SequentialDesign;
}

/** A gate's rendered parts. @internal */
export interface RenderedParts {
  readonly name: string;
  readonly query: string;
  readonly threshold: number;
  readonly direction: Direction;
  readonly quantile?: number;
  /** set by gates whose conditions differ from `len(result) > 0 && result[0] <op> threshold` */
  readonly successCondition?: string;
  readonly failureCondition?: string;
}

/** How a gate is scheduled: a test looked at every scrape until it decides, or a custom gate judged at its first look with data. @internal */
export enum GateSchedule {
  /** a sequential test or the traffic gate: every scrape interval until it decides or reaches the horizon */
  SEQUENTIAL = 'sequential',
  /** from when the evidence is in, at every scrape until its query answers; that answer decides (custom gates) */
  ONCE = 'once',
}

/**
 * A gate of a {@link CanaryAnalysis}: what it checks is data ({@link kind}), and its query is
 * rendered from the rollout's own series when the template is synthesized.
 */
export abstract class GateSpec {
  /**
   * The canary serves user requests: none at all (idle) fails it at the first look at which a
   * request must be in Prometheus; it passes once it has served the fewest requests the other
   * gates need to promote it, and pauses the rollout when it has not by the horizon (too little
   * traffic for the design).
   */
  public static traffic(options: GateOptions = {}): GateSpec {
    return new TrafficGate(options);
  }

  /**
   * The share of the canary's user requests that fail stays below `max`: a sequential test
   * (see lib/analysis/sequential.ts) that promotes a canary at `good` and stops one at `bad` with
   * the stated chances of a wrong verdict, as soon as its counts allow.
   */
  public static errorRatio(options: ErrorRatioGateOptions): GateSpec {
    const max = options.max;
    if (!Number.isFinite(max) || max <= 0 || max >= 1) {
      const hint = max >= 1 && max <= 100 ? ` (for ${max}% write ${max / 100})` : '';
      throw new Error(`GateSpec.errorRatio: max must be a ratio above 0 and below 1, got ${max}${hint}`);
    }
    operatingCharacteristic(max, options, 'GateSpec.errorRatio');
    return new ErrorRatioGate(options);
  }

  /**
   * The latency of the canary's user requests at a quantile stays below `max`: at most
   * 1 - quantile of them are slower, judged by the same sequential test on the share of requests
   * slower than `max` (counted exactly: `max` is made a bucket bound of the histogram).
   */
  public static latency(options: LatencyGateOptions): GateSpec {
    const q = options.quantile ?? 0.95;
    if (!(q > 0 && q < 1)) throw new Error(`GateSpec.latency: quantile must lie strictly between 0 and 1, got ${q} (for p99 write 0.99)`);
    const ms = options.max.toMilliseconds({ integral: false });
    if (!Number.isFinite(ms) || ms <= 0 || !Number.isInteger(ms)) throw new Error(`GateSpec.latency: max must be a positive whole number of milliseconds, got ${ms}ms`);
    operatingCharacteristic(1 - q, options, `GateSpec.latency (p${slug(q * 100)} < ${latencySlug(ms)})`);
    return new LatencyGate(options, q, ms);
  }

  /**
   * The canary's error ratio is not worse than the stable pods' by more than `maxFactor`, judged
   * on both sides' counts since the canary started, as Netflix's canary analysis compares counts
   * (Lindon et al., KDD 2022) and Kayenta compares canary with baseline: for services whose healthy
   * error ratio is not zero. Each failure of either side is the canary's with a chance that grows
   * with the factor and with the canary's share of the requests; a sequential test on that chance
   * decides (lib/analysis/sequential.ts). The stable pods' counts since the canary started are
   * their counters less their values just before the canary's series appeared.
   */
  public static errorRatioVsStable(options: ErrorRatioVsStableGateOptions): GateSpec {
    const where = 'GateSpec.errorRatioVsStable';
    const max = options.maxFactor ?? 1.5;
    const good = options.goodFactor ?? 1;
    const bad = options.badFactor ?? 2 * max;
    if (!(max > 1 && Number.isFinite(max))) throw new Error(`${where}: maxFactor must be a factor above 1, got ${max} (1.5 lets the canary fail 50% more often than the stable pods)`);
    if (!(good > 0 && good < max)) throw new Error(`${where}: goodFactor must lie above 0 and below maxFactor ${max}, got ${good}`);
    if (!(bad > max && Number.isFinite(bad))) throw new Error(`${where}: badFactor must lie above maxFactor ${max}, got ${bad}`);
    const p = options.stableErrorRatio;
    if (!(p > 0 && p < 1)) throw new Error(`${where}: stableErrorRatio must be a ratio above 0 and below 1, got ${p}; a service whose stable pods never fail has nothing to compare: use GateSpec.errorRatio`);
    if (bad * p >= 1) throw new Error(`${where}: badFactor ${bad} x stableErrorRatio ${p} is at least 1: no canary can fail that often; lower badFactor`);
    for (const field of ['falseStop', 'falsePromote'] as const) {
      const v = options[field];
      if (v !== undefined && !(v > 0 && v < 0.5)) throw new Error(`${where}: ${field} must be a chance above 0 and below 0.5, got ${v}`);
    }
    return new ErrorRatioVsStableGate(options, { maxFactor: max, goodFactor: good, badFactor: bad, stableErrorRatio: p });
  }

  /**
   * A query of your own, compared with a threshold: from when the evidence is in, it looks at every
   * scrape until the query answers, and that answer decides (by default it answers nothing until the
   * canary has served the evidence; a collector replaced meanwhile only delays it). Its window is the
   * canary's whole life at the last look.
   */
  public static custom(options: CustomGateOptions): GateSpec {
    if (!Number.isFinite(options.threshold)) throw new Error(`GateSpec.custom: threshold of gate '${options.name}' must be a finite number, got ${options.threshold}`);
    if (!Object.values(Direction).includes(options.direction)) {
      throw new Error(`GateSpec.custom: direction of gate '${options.name}' must be Direction.BELOW or Direction.AT_LEAST, got ${String(options.direction)}`);
    }
    return new CustomGate(options);
  }

  protected constructor(
    /** what the gate checks */
    public readonly kind: GateKind,
    /** the options it was given */
    public readonly options: GateOptions,
  ) {}

  /** where its series come from, for the canary's requests on `requestsPath` @internal */
  public abstract _path(requestsPath: SeriesPath): SeriesPath;

  /** how it is scheduled @internal */
  public _schedule(): GateSchedule {
    return GateSchedule.SEQUENTIAL;
  }

  /** its sequential design, with the analysis's default chances of a wrong verdict @internal */
  public _design(_target: IAnalysisTarget, _defaults: OperatingCharacteristicOptions): SequentialDesign | undefined {
    return undefined;
  }

  /** what it needs of the pipeline (a latency gate: its bound among the buckets) @internal */
  public _bind(_pipeline: ISpanmetricsPipeline): void {}

  /** @internal */
  public abstract _render(ctx: GateRenderContext): RenderedParts;
}

class TrafficGate extends GateSpec {
  constructor(options: GateOptions) {
    super(GateKind.TRAFFIC, options);
  }

  public _path(requestsPath: SeriesPath) {
    return requestsPath;
  }

  public _render(ctx: GateRenderContext): RenderedParts {
    const requests = ctx.target.requests;
    const all = selector(requests.metric, requests.matchers);
    // Spanmetrics series restart when the collector pod that holds them is replaced: for a while the
    // canary has no current series, which would read as an idle canary. `or on()` turns that case
    // into 1 request (not yet: the next look decides); a canary with no series at all (idle) still
    // returns nothing and fails. Measured by `npm run rehearse` (collector-restart).
    const restartGuard = requests.path === SeriesPath.SPANMETRICS ? `or on()\n(0 * count(last_over_time(${all}[${ctx.horizon}])) + 1)\n` : '';
    return {
      name: this.options.name ?? `traffic-at-least-${ctx.evidence}-requests`,
      // The raw counter: every canary series is new with the canary (its pod-template hash is a label),
      // so its value is the count since the canary started.
      query: `sum(${all})\n${restartGuard}`,
      threshold: ctx.evidence,
      direction: Direction.AT_LEAST,
      // Enough requests to promote: pass. Some: not yet (the next look). None: idle, Failed.
      successCondition: `len(result) > 0 && result[0] >= ${ctx.evidence}`,
      failureCondition: 'len(result) == 0 || result[0] < 1',
    };
  }
}

/**
 * The query of a sequential test: the log-likelihood ratio of the canary's bad and good requests
 * since it started, from the raw counters (an instant selector keeps both counts from the same
 * scrape, and the same collector run across a restart).
 */
function llrQuery(bad: string, good: string, design: SequentialDesign): string {
  const w = design.test;
  return `(${bad}) * ${num(w.badWeight)}\n+ (${good}) * ${num(w.goodWeight)}\n`;
}

/** The conditions of a sequential test: promote at the lower bound, stop at the upper, else not yet. */
function sprtConditions(design: SequentialDesign): Pick<RenderedParts, 'successCondition' | 'failureCondition'> {
  return {
    successCondition: `len(result) > 0 && result[0] <= ${num(design.test.lowerBound)}`,
    failureCondition: `len(result) > 0 && result[0] >= ${num(design.test.upperBound)}`,
  };
}

class ErrorRatioGate extends GateSpec {
  constructor(private readonly props: ErrorRatioGateOptions) {
    super(GateKind.ERROR_RATE, props);
  }

  public _path(requestsPath: SeriesPath) {
    return requestsPath;
  }

  public _design(_target: IAnalysisTarget, defaults: OperatingCharacteristicOptions): SequentialDesign {
    const oc = operatingCharacteristic(this.props.max, { ...defaults, ...definedOnly(this.props) }, 'GateSpec.errorRatio');
    return { threshold: this.props.max, oc, test: BinomialSprt.of(oc), requestsPerTrial: 1 };
  }

  public _render(ctx: GateRenderContext): RenderedParts {
    const requests = ctx.target.requests;
    // Spanmetrics creates a canary's error series only with its first failed span (a series per key,
    // made when a span with that key first arrives: opentelemetry-collector-contrib
    // connector/spanmetricsconnector/connector.go aggregateMetrics @ v0.142.0), so `or vector(0)`
    // reads "no failure yet" as 0. The raw counters hold the exact counts since the canary started;
    // increase() would drop the first sample, which already holds the first failures.
    const failed = `sum(${selector(requests.metric, { ...requests.matchers, ...requests.failed })}) or vector(0)`;
    const all = `sum(${selector(requests.metric, requests.matchers)})`;
    return {
      name: this.options.name ?? `error-rate-lt-${slug(this.props.max * 100)}-percent`,
      query: llrQuery(failed, `${all} - (${failed})`, ctx.design!),
      threshold: this.props.max,
      direction: Direction.BELOW,
      ...sprtConditions(ctx.design!),
    };
  }
}

class LatencyGate extends GateSpec {
  constructor(options: LatencyGateOptions, private readonly quantile: number, private readonly maxMs: number) {
    super(GateKind.LATENCY, options);
  }

  public _path() {
    return SeriesPath.SPANMETRICS;
  }

  public _bind(pipeline: ISpanmetricsPipeline): void {
    pipeline.requireBucketBound(Duration.millis(this.maxMs));
  }

  public _design(target: IAnalysisTarget, defaults: OperatingCharacteristicOptions): SequentialDesign {
    const share = Number((1 - this.quantile).toPrecision(12));
    const oc = operatingCharacteristic(share, { ...defaults, ...definedOnly(this.options as LatencyGateOptions) }, `GateSpec.latency (p${slug(this.quantile * 100)} < ${latencySlug(this.maxMs)})`);
    return { threshold: share, oc, test: BinomialSprt.of(oc), latencyBound: target.pipeline.inHistogramUnit(Duration.millis(this.maxMs)), requestsPerTrial: 1 };
  }

  public _render(ctx: GateRenderContext): RenderedParts {
    const bound = ctx.design!.latencyBound!;
    const fast = `sum(${ctx.spans(ctx.series.durationBucket, { [BUCKET_LABEL]: bucketBoundValues(bound) })})`;
    const all = `sum(${ctx.spans(ctx.series.durationCount)})`;
    return {
      name: this.options.name ?? `latency-p${slug(this.quantile * 100)}-lt-${latencySlug(this.maxMs)}`,
      query: llrQuery(`${all} - ${fast}`, fast, ctx.design!),
      threshold: bound,
      direction: Direction.BELOW,
      quantile: this.quantile,
      ...sprtConditions(ctx.design!),
    };
  }
}

class ErrorRatioVsStableGate extends GateSpec {
  constructor(private readonly props: ErrorRatioVsStableGateOptions, private readonly factors: Omit<VsStableDesign, 'canaryShare'>) {
    super(GateKind.ERROR_RATE_VS_STABLE, props);
  }

  public _path(requestsPath: SeriesPath) {
    return requestsPath;
  }

  public _design(target: IAnalysisTarget, defaults: OperatingCharacteristicOptions): SequentialDesign {
    const w = target.canaryRequestShare;
    const f = this.factors;
    const share = (factor: number) => canaryShareOfFailures(factor, w);
    // the test's trials are the failures of either side: each is the canary's with this chance
    const oc = operatingCharacteristic(share(f.maxFactor), {
      good: share(f.goodFactor), bad: share(f.badFactor), falseStop: this.props.falseStop ?? defaults.falseStop, falsePromote: this.props.falsePromote ?? defaults.falsePromote,
    }, 'GateSpec.errorRatioVsStable');
    // failures per canary request at goodFactor: the canary's own and the stable pods' (they serve (1 - w) / w as many)
    const failuresPerRequest = f.stableErrorRatio * (f.goodFactor + (1 - w) / w);
    return { threshold: share(f.maxFactor), oc, test: BinomialSprt.of(oc), requestsPerTrial: 1 / failuresPerRequest, vsStable: { ...f, canaryShare: w } };
  }

  public _render(ctx: GateRenderContext): RenderedParts {
    const d = ctx.design!.vsStable!;
    const requests = ctx.target.requests;
    const stable = stableMatchers(requests.matchers);
    const canaryAll = `sum(${selector(requests.metric, requests.matchers)})`;
    // a counter of the stable pods since the canary started: its value less the one it had at the
    // last step (every scrape interval, over the horizon) at which the canary had no series yet
    const sinceCanary = (extra: Readonly<Record<string, string>>, zeroWhenNone: boolean) => {
      const now = `sum(${selector(requests.metric, { ...stable, ...extra })})`;
      const before = `max_over_time((${now} unless on() ${canaryAll})[${ctx.horizon}:${ctx.step}])`;
      return zeroWhenNone ? `((${now} or vector(0)) - (${before} or vector(0)))` : `(${now} - ${before})`;
    };
    const xc = `(sum(${selector(requests.metric, { ...requests.matchers, ...requests.failed })}) or vector(0))`;
    const xs = sinceCanary(requests.failed, true);
    const ns = sinceCanary({}, false);
    return {
      name: this.options.name ?? `error-rate-vs-stable-lt-${slug(d.maxFactor)}x`,
      // x_c ln(f1/f0) + (x_c + x_s) ln((n_c f0 + n_s) / (n_c f1 + n_s)): the log-likelihood ratio of
      // "each failure is the canary's with chance w f / (w f + 1 - w)", w the canary's share of the requests
      query: `${xc} * ${num(Math.log(d.badFactor / d.goodFactor))}\n`
        + `+ (${xc} + ${xs})\n  * ln((${canaryAll} * ${num(d.goodFactor)} + ${ns}) / (${canaryAll} * ${num(d.badFactor)} + ${ns}))\n`,
      threshold: d.maxFactor,
      direction: Direction.BELOW,
      ...sprtConditions(ctx.design!),
    };
  }
}

/** The matchers of the stable pods' series: the canary's, with the stable hash in place of the canary's. */
function stableMatchers(matchers: Matchers): Matchers {
  const canary = arg(CANARY_HASH_ARG);
  return Object.fromEntries(Object.entries(matchers).map(([k, v]) => [k, v === canary ? arg(STABLE_HASH_ARG) : v]));
}

class CustomGate extends GateSpec {
  constructor(private readonly props: CustomGateOptions) {
    super(GateKind.CUSTOM, props);
  }

  public _path() {
    return this.props.path ?? SeriesPath.SPANMETRICS;
  }

  public _schedule(): GateSchedule {
    return GateSchedule.ONCE;
  }

  public _render(ctx: GateRenderContext): RenderedParts {
    const context: GateQueryContext = {
      window: ctx.window,
      requests: selector(ctx.target.requests.metric, ctx.target.requests.matchers),
      failedRequests: selector(ctx.target.requests.metric, { ...ctx.target.requests.matchers, ...ctx.target.requests.failed }),
      spans: (s, extra = {}) => ctx.spans(ctx.series[s], bucketMatchers(ctx, this.props.name, extra)),
    };
    const query = this.props.query(context).trim();
    if (query.length === 0) throw new Error(`GateSpec.custom: the query of gate '${this.props.name}' is empty`);
    const guarded = (this.props.requiresEvidence ?? true) ? `(\n${query}\n)\n${ctx.evidenceGuard()}` : `${query}\n`;
    return { name: this.props.name, query: guarded, threshold: this.props.threshold, direction: this.props.direction };
  }
}

/**
 * A custom gate's extra matchers, with an `le` bound written as every value Prometheus may store
 * it under (`2000` or, in Prometheus 3, `2000.0`); a bound that is no bucket of the histogram
 * would select nothing, so it is an error naming the bounds there are.
 */
function bucketMatchers(ctx: GateRenderContext, gate: string, extra: Readonly<Record<string, string>>): Matchers {
  const le = extra[BUCKET_LABEL];
  if (le === undefined) return extra;
  const bounds = ctx.target.pipeline.bucketBounds();
  const bound = Number(le);
  if (!bounds.some((b) => Math.abs(b - bound) < 1e-9)) {
    const unit = ctx.series.histogramUnit;
    throw new Error(`GateSpec.custom: gate '${gate}' selects ${BUCKET_LABEL}="${le}", which is no bucket bound of the spanmetrics histogram (${bounds.map((b) => `${b}${unit}`).join(', ')}), `
      + `so it would select nothing; use one of them, or add ${le}${unit} to the pipeline's histogramBuckets`);
  }
  return { ...extra, [BUCKET_LABEL]: bucketBoundValues(bound) };
}

/** The options a caller gave, without the ones left undefined (so they do not hide defaults). */
function definedOnly(options: OperatingCharacteristicOptions): OperatingCharacteristicOptions {
  return Object.fromEntries((['good', 'bad', 'falseStop', 'falsePromote'] as const).filter((k) => options[k] !== undefined).map((k) => [k, options[k]]));
}

/** What a {@link CanaryAnalysis} is made with, besides its target (see `CanaryRollout.addAnalysis`). */
export interface CanaryAnalysisOptions {
  /** the gates, in template order; more can be added with `addGate` @default - none */
  readonly gates?: readonly GateSpec[];
  /** the AnalysisTemplate name @default - `<rollout name>-analysis` */
  readonly name?: string;
  /** the lowest canary request rate the design may expect, whatever its gates need @default 0.05 */
  readonly minRequestsPerSecond?: number;
  /**
   * The user request rate the canary gets while the analysis runs, when it is known (real traffic,
   * no traffic generator): the looks and the horizon are derived from it instead of from the rate
   * the design asks for ({@link requiredCanaryRequestsPerSecond}).
   * @default - the rate the design asks for, which a traffic generator is sized to give
   */
  readonly canaryRequestsPerSecond?: number;
  /** the chance that a canary at a sequential gate's `good` is stopped, for every gate that sets none, in (0, 0.5) @default 0.01 */
  readonly falseStop?: number;
  /** the chance that a canary at a sequential gate's `bad` is promoted, for every gate that sets none, in (0, 0.5) @default 0.01 */
  readonly falsePromote?: number;
  /**
   * How long a canary at `good` may take, on average, to serve the requests its slowest
   * sequential gate needs to promote it: the canary request rate the design expects is those
   * requests over this time, and the traffic generator is sized to give it.
   * @default Duration.minutes(1)
   */
  readonly evidenceTime?: Duration;
}

/** Properties of a {@link CanaryAnalysis}. */
export interface CanaryAnalysisProps extends CanaryAnalysisOptions {
  /** what is judged: the canary's request series and spans, and the Prometheus that scrapes them (a CanaryRollout) */
  readonly target: IAnalysisTarget;
}

/** The thresholds the gates use unless given others. */
export const GATE_DEFAULTS = {
  minRequestsPerSecond: 0.05,
  maxErrorRatio: 0.05,
  maxP95: Duration.seconds(1),
  falseStop: DEFAULT_FALSE_STOP,
  falsePromote: DEFAULT_FALSE_PROMOTE,
  evidenceTime: Duration.minutes(1),
} as const;

/** How sure the schedule is that a canary at the expected rate has served what a look needs (requests reach pods at random). */
const SCHEDULE_CONFIDENCE = ARRIVAL_CONFIDENCE;

/**
 * When the gates of an analysis look, in seconds after the AnalysisRun starts, with the terms
 * each time is made of.
 */
export interface AnalysisSchedule {
  /** the canary user request rate the design expects */
  readonly canaryRequestsPerSecond: number;
  /** the requests a canary needs before it can be promoted (the traffic gate's threshold) */
  readonly evidenceRequests: number;
  /** the requests by which all but a sliver of canaries at `good` or `bad` are decided, with a look after every request */
  readonly horizonRequests: number;
  /** the time between looks: the scrape interval (nothing new can be seen in between) */
  readonly lookSeconds: number;
  /** when a canary's first request is in Prometheus, worst case: none by then means idle */
  readonly firstRequest: DerivedTiming;
  /** the first look of the traffic gate: {@link firstRequest}, rounded up to 5 s */
  readonly trafficFirstLookSeconds: number;
  /**
   * the looks with no request the traffic gate lets pass before it stops a canary as idle (its
   * failureLimit): none when the requests are counted from the canary's own pods; when they are
   * counted from spanmetrics, enough that a collector replaced before it exported the first
   * request's series cannot stop a good canary (the replacement's gap, the new pod's discovery,
   * its first flush, the export delay and a scrape)
   */
  readonly trafficIdleLooks: number;
  /** the first look of the sequential tests: the traffic gate's, less whole look intervals, so they look together */
  readonly firstLookSeconds: number;
  /** the horizon: the requests of {@link horizonRequests} are in Prometheus by then, worst case */
  readonly horizon: DerivedTiming;
  /** the last look, on the look grid at or after the horizon */
  readonly lastLookSeconds: number;
  /** a custom gate's one measurement: the evidence is in Prometheus by then, worst case */
  readonly evidence: DerivedTiming;
}

/**
 * An AnalysisTemplate that judges a canary by gates added with {@link addGate}: traffic, error
 * ratio, a latency quantile, or a query of your own.
 *
 * Every gate counts only the canary's user requests (never Prometheus's scrapes or internal
 * calls). The error-rate and latency gates are sequential tests (lib/analysis/sequential.ts): they
 * look at the canary's counts since it started at every scrape and decide as soon as the evidence
 * allows, with the chances of a wrong verdict their design states; undecided at the horizon, they
 * pause the rollout for a person. When they look is derived from the Prometheus scrape, the
 * spanmetrics flush, the export delay and the expected canary request rate ({@link schedule}).
 * The template is rendered when the app is synthesized, so gates added after construction reach it.
 */
export class CanaryAnalysis extends Construct implements IAnalysis {
  /** the AnalysisTemplate */
  public readonly template: AnalysisTemplate;
  /** the arguments the template declares, with the sources a rollout step passes (the stable pods' hash too when a gate compares with them) */
  public get args(): readonly AnalysisArgument[] {
    const vsStable = this.specs.some((s) => s.kind === GateKind.ERROR_RATE_VS_STABLE);
    return [
      { name: NAMESPACE_ARG, valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      { name: CANARY_HASH_ARG, valueFrom: { podTemplateHashValue: 'Latest' } },
      ...(vsStable ? [{ name: STABLE_HASH_ARG, valueFrom: { podTemplateHashValue: 'Stable' as const } }] : []),
    ];
  }

  /** what is judged: the canary's series and the Prometheus that holds them */
  public readonly target: IAnalysisTarget;
  /** the Prometheus the gates query */
  public readonly prometheus: PrometheusBackend;
  /** the lowest canary request rate the design may expect */
  public readonly minRequestsPerSecond: number;
  /** the chances of a wrong verdict for gates that state none */
  public readonly falseStop: number;
  public readonly falsePromote: number;
  /** how long a canary at `good` may take, on average, to serve what its gates need */
  public readonly evidenceTime: Duration;
  /** the canary's user request rate when it is known, else undefined (the design's rate is assumed) */
  public readonly statedCanaryRequestsPerSecond?: number;
  /** the name messages give this construct */
  protected readonly constructName: string;
  private readonly specs: GateSpec[] = [];
  /** the gates rendered from the specs, until the next addGate */
  private rendered?: readonly Gate[];

  constructor(scope: Construct, id: string, props: CanaryAnalysisProps) {
    super(scope, id);
    this.constructName = new.target.name;
    const C = this.constructName;
    this.target = props.target;
    const name = props.name ?? `${props.target.name}-analysis`;
    if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(name) || name.length > 253) {
      throw new Error(`${C}: name '${name}' is not a valid Kubernetes object name; use lowercase letters, digits, '-' and '.'`);
    }
    this.prometheus = props.target.prometheus;
    this.minRequestsPerSecond = props.minRequestsPerSecond ?? GATE_DEFAULTS.minRequestsPerSecond;
    if (!Number.isFinite(this.minRequestsPerSecond) || this.minRequestsPerSecond <= 0) {
      throw new Error(`${C}: minRequestsPerSecond must be a positive number of requests per second, got ${props.minRequestsPerSecond}; `
        + 'a design that expects 0 req/s never sees a request');
    }
    this.falseStop = props.falseStop ?? GATE_DEFAULTS.falseStop;
    this.falsePromote = props.falsePromote ?? GATE_DEFAULTS.falsePromote;
    // checked like a gate's own design, on a threshold every chance fits
    operatingCharacteristic(0.5, { falseStop: this.falseStop, falsePromote: this.falsePromote }, C);
    this.statedCanaryRequestsPerSecond = props.canaryRequestsPerSecond;
    if (props.canaryRequestsPerSecond !== undefined && !(props.canaryRequestsPerSecond > 0 && Number.isFinite(props.canaryRequestsPerSecond))) {
      throw new Error(`${C}: canaryRequestsPerSecond must be a positive number of requests per second, got ${props.canaryRequestsPerSecond}`);
    }
    this.evidenceTime = props.evidenceTime ?? GATE_DEFAULTS.evidenceTime;
    argoDuration(C, 'evidenceTime', this.evidenceTime);
    if (this.evidenceTime.toSeconds() <= 0) throw new Error(`${C}: evidenceTime must be at least 1s, got ${this.evidenceTime.toMilliseconds()}ms`);

    const self = this;
    this.template = new AnalysisTemplate(this, 'Resource', {
      metadata: { name },
      spec: {
        // getters, so gates added after construction reach the output
        get args() {
          return self.args.map((a) => ({ name: a.name }));
        },
        // A getter, so gates added after construction reach the output.
        get metrics(): AnalysisTemplateSpecMetrics[] {
          return self.gates.map((g) => self.renderMetric(g));
        },
      },
    });
    // Rendered at synth, like the metrics: the kinds and designs of gates added later are in them.
    this.template.metadata.addAnnotation(GATE_KINDS_ANNOTATION, Lazy.any({ produce: () => JSON.stringify(Object.fromEntries(this.gates.map((g) => [g.name, g.kind]))) }));
    this.template.metadata.addAnnotation(GATE_DESIGN_ANNOTATION, Lazy.any({ produce: () => designAnnotation(this.design()) }));
    for (const gate of props.gates ?? []) this.addGate(gate);
    this.node.addValidation({ validate: () => this.problems() });
  }

  /** Adds a gate; it is rendered into the template at synth (a timing wrong on its face throws now). Returns this analysis. */
  public addGate(gate: GateSpec): this {
    this.specs.push(gate);
    this.rendered = undefined;
    this.checkGivenTiming(this.labelOf(gate), gate.options.timing ?? {});
    gate._bind(this.target.pipeline);
    return this;
  }

  /** The timings a gate is given, checked on their own: whole seconds, whole counts. */
  private checkGivenTiming(label: string, t: GateTiming): void {
    const C = this.constructName;
    for (const field of ['count', 'failureLimit', 'inconclusiveLimit', 'consecutiveErrorLimit', 'consecutiveSuccessLimit'] as const) {
      if (t[field] !== undefined) validateInteger(C, `${label}.${field}`, t[field]!, field === 'count' ? 1 : 0);
    }
    for (const field of ['initialDelay', 'interval', 'window'] as const) {
      if (t[field] !== undefined) argoDuration(C, `${label}.${field}`, t[field]!);
    }
  }

  /** The AnalysisTemplate's name. */
  public get templateName(): string {
    return this.template.name;
  }

  /** The URL the gates query. */
  public get prometheusAddress(): string {
    return this.prometheus.address;
  }

  /** The sequential gates' designs, in the order the gates were added. */
  private designs(): Map<GateSpec, SequentialDesign> {
    const defaults = { falseStop: this.falseStop, falsePromote: this.falsePromote };
    const out = new Map<GateSpec, SequentialDesign>();
    for (const spec of this.specs) {
      const design = spec._design(this.target, defaults);
      if (design) out.set(spec, design);
    }
    return out;
  }

  /** The user requests a canary must serve before it can be promoted: what the strictest sequential gate needs with every request good. */
  public get evidenceRequests(): number {
    // the gates that judge every request: one that counts failures cannot promote by a count of requests
    const designs = [...this.designs().values()].filter((d) => d.requestsPerTrial === 1);
    if (designs.length === 0) return Math.max(1, Math.ceil(this.minRequestsPerSecond * this.evidenceTime.toSeconds() - 1e-9));
    return Math.max(...designs.map((d) => d.test.fewestToPromote));
  }

  /**
   * The canary user request rate the design expects: what its slowest sequential gate needs, on
   * average, to promote a canary at `good`, over evidenceTime (at least minRequestsPerSecond).
   * The traffic generator is sized to give it.
   */
  public get requiredCanaryRequestsPerSecond(): number {
    const seconds = this.evidenceTime.toSeconds();
    const needs = [...this.designs().values()].map((d) => d.test.expectedRequests(d.oc.good) * d.requestsPerTrial);
    return Math.max(this.minRequestsPerSecond, this.evidenceRequests / seconds, ...needs.map((n) => n / seconds));
  }

  /** The pipeline's timing facts the schedule is derived from. */
  private pipelineTiming(): PipelineTiming {
    const pipeline = this.target.pipeline;
    return {
      backend: this.prometheus,
      flushSeconds: pipeline.flushInterval.toMilliseconds() / 1000,
      exportDelaySeconds: pipeline.exportDelayMs(this.target.exportDelayMs) / 1000,
    };
  }

  /**
   * When the gates look, derived from the pipeline and the expected canary rate: the traffic gate
   * first looks when a canary's first request must be in Prometheus; the sequential tests look every
   * scrape interval, together with it, until the horizon, by which a canary at `good` or `bad` is
   * decided but for a sliver; a custom gate measures once, when the evidence is in.
   */
  public get schedule(): AnalysisSchedule {
    const rate = this.statedCanaryRequestsPerSecond ?? this.requiredCanaryRequestsPerSecond;
    const designs = [...this.designs().values()];
    const evidenceRequests = this.evidenceRequests;
    const horizonRequests = Math.ceil(Math.max(evidenceRequests, ...designs.map((d) => d.test.horizonRequests() * d.requestsPerTrial)) - 1e-9);
    const timing = this.pipelineTiming();
    const paths = new Set([this.target.requests.path, ...this.specs.map((s) => s._path(this.target.requests.path))]);
    // the latest of the paths the gates read: they look together
    const derive = (requests: number) => [...paths].map((p) => deriveTiming(p, timing, poissonMeanFor(requests, SCHEDULE_CONFIDENCE) / rate))
      .reduce((a, b) => (b.totalSeconds > a.totalSeconds ? b : a));
    const firstRequest = derive(1);
    const horizon = derive(horizonRequests);
    const look = this.prometheus.scrapeSeconds;
    const trafficFirst = roundUp5(firstRequest.totalSeconds);
    const firstLookSeconds = trafficFirst - Math.floor((trafficFirst - 1) / look) * look;
    const lastLookSeconds = trafficFirst + Math.max(0, Math.ceil((horizon.totalSeconds - trafficFirst) / look - 1e-9)) * look;
    return {
      canaryRequestsPerSecond: rate,
      evidenceRequests,
      horizonRequests,
      lookSeconds: look,
      firstRequest,
      trafficFirstLookSeconds: trafficFirst,
      trafficIdleLooks: this.target.requests.path === SeriesPath.SPANMETRICS
        ? Math.ceil((COLLECTOR_RESTART_GAP.toSeconds() + this.prometheus.discoverySeconds + timing.flushSeconds + timing.exportDelaySeconds + look) / look - 1e-9)
        : 0,
      firstLookSeconds,
      horizon,
      lastLookSeconds,
      evidence: derive(evidenceRequests),
    };
  }

  /** What the template's design annotation says: the expected rate and each sequential gate's design. */
  private design(): AnalysisDesign {
    const gates = this.gates.filter((g) => g.design).map((g) => {
      const d = g.design!;
      return [g.name, { threshold: d.threshold, ...d.oc, ...(d.latencyBound === undefined ? {} : { latencyBound: d.latencyBound }), ...(d.vsStable ? { vsStable: d.vsStable } : {}) }];
    });
    return {
      evidenceSeconds: this.evidenceTime.toSeconds(),
      canaryRequestsPerSecond: Number((this.statedCanaryRequestsPerSecond ?? this.requiredCanaryRequestsPerSecond).toPrecision(12)),
      ...(this.statedCanaryRequestsPerSecond === undefined ? {} : { rateStated: true }),
      gates: Object.fromEntries(gates),
    };
  }

  /** The gates, rendered, in the order they were added (the same objects until the next addGate). */
  public get gates(): readonly Gate[] {
    this.rendered ??= this.renderGates();
    return this.rendered;
  }

  private renderGates(): readonly Gate[] {
    const schedule = this.schedule;
    const designs = this.designs();
    const rendered = new Map<GateSpec, Gate>();
    // back to before the canary's first series at the last look: two looks more than the horizon
    const horizon = promDuration(Duration.seconds(schedule.lastLookSeconds + 2 * schedule.lookSeconds));
    for (const spec of this.specs) {
      const label = this.labelOf(spec);
      const once = spec._schedule() === GateSchedule.ONCE;
      const t = this.resolveTiming(label, spec, schedule);
      const given = spec.options.timing?.window;
      if (given) argoDuration(this.constructName, `${label}.window`, given);
      // the canary's whole life at the last look, from before its first series
      const windowSeconds = given?.toSeconds() ?? schedule.lastLookSeconds + 2 * schedule.lookSeconds;
      const path = spec._path(this.target.requests.path);
      this.checkTiming(spec, label, t, windowSeconds, schedule);
      const window = promDuration(Duration.seconds(roundUp5(windowSeconds)));
      // the canary's requests since it started: each series' highest value in the window, so the
      // counts of a collector replaced meanwhile (its series end, a new pod's start) still add up
      const canaryRequests = `sum(max_over_time(${selector(this.target.requests.metric, this.target.requests.matchers)}[${window}]))`;
      const design = designs.get(spec);
      const parts = spec._render({
        target: this.target,
        series: this.target.pipeline.series,
        evidence: schedule.evidenceRequests,
        horizon,
        step: promDuration(Duration.seconds(schedule.lookSeconds)),
        window,
        evidenceGuard: () => `and on()\n${canaryRequests} >= ${schedule.evidenceRequests}\n`,
        spans: (metric, extra = {}) => selector(metric, { ...this.target.canarySpans, ...extra }),
        design,
      });
      const op = parts.direction === Direction.BELOW ? ['<', '>='] : ['>=', '<'];
      rendered.set(spec, {
        name: parts.name,
        kind: spec.kind,
        query: parts.query,
        successCondition: parts.successCondition ?? `len(result) > 0 && result[0] ${op[0]} ${num(parts.threshold)}`,
        failureCondition: parts.failureCondition ?? `len(result) > 0 && result[0] ${op[1]} ${num(parts.threshold)}`,
        threshold: parts.threshold,
        direction: parts.direction,
        quantile: parts.quantile,
        path,
        timing: t,
        windowSeconds: once ? roundUp5(windowSeconds) : undefined,
        design,
      });
    }
    return this.specs.map((s) => rendered.get(s)!);
  }

  /** The first gate of a kind. */
  public gate(kind: GateKind): Gate {
    const found = this.gates.find((g) => g.kind === kind);
    if (!found) throw new Error(`${this.constructName}: analysis '${this.templateName}' has no ${kind} gate`);
    return found;
  }

  private labelOf(spec: GateSpec): string {
    const same = this.specs.filter((s) => s.kind === spec.kind);
    return same.length === 1 ? spec.kind : `${spec.kind}[${same.indexOf(spec)}]`;
  }

  private renderMetric(g: Gate): AnalysisTemplateSpecMetrics {
    const C = this.constructName;
    return {
      name: g.name,
      initialDelay: argoDuration(C, `${g.kind}.initialDelay`, g.timing.initialDelay),
      interval: argoDuration(C, `${g.kind}.interval`, g.timing.interval),
      count: AnalysisTemplateSpecMetricsCount.fromNumber(g.timing.count),
      successCondition: g.successCondition,
      failureCondition: g.failureCondition,
      failureLimit: AnalysisTemplateSpecMetricsFailureLimit.fromNumber(g.timing.failureLimit),
      inconclusiveLimit: AnalysisTemplateSpecMetricsInconclusiveLimit.fromNumber(g.timing.inconclusiveLimit),
      consecutiveErrorLimit: AnalysisTemplateSpecMetricsConsecutiveErrorLimit.fromNumber(g.timing.consecutiveErrorLimit),
      ...(g.timing.consecutiveSuccessLimit > 0 ? { consecutiveSuccessLimit: AnalysisTemplateSpecMetricsConsecutiveSuccessLimit.fromNumber(g.timing.consecutiveSuccessLimit) } : {}),
      provider: { prometheus: { address: this.prometheus.address, query: g.query } },
    };
  }

  /** What synth must refuse: no gate, no gate that fails an idle canary, two gates of one name, timings that cannot work. */
  private problems(): string[] {
    const C = this.constructName;
    if (this.specs.length === 0) {
      return [`${C}: analysis '${this.templateName}' has no gate, so it passes every canary; add gates with addGate(GateSpec.traffic()), GateSpec.errorRatio(...), GateSpec.latency(...)`];
    }
    const problems: string[] = [];
    if (!this.specs.some((s) => s.kind === GateKind.TRAFFIC)) {
      problems.push(`${C}: analysis '${this.templateName}' has no traffic gate, so an idle canary (no request, nothing measured) passes it; add addGate(GateSpec.traffic())`);
    }
    try {
      const names = this.gates.map((g) => g.name);
      const dup = names.find((n, i) => names.indexOf(n) !== i);
      if (dup) problems.push(`${C}: analysis '${this.templateName}' has two gates named '${dup}'; give one a name of its own (GateOptions.name)`);
      const bad = names.find((n) => !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(n));
      if (bad) problems.push(`${C}: gate name '${bad}' is not a lowercase name of letters, digits and '-'`);
    } catch (e) {
      problems.push(e instanceof Error ? e.message : String(e));
    }
    return problems;
  }

  /** A gate's timings: the derived ones unless given, checked against Argo Rollouts' own rules (utils/analysis/factory.go ValidateMetric @ v1.8.3). */
  private resolveTiming(label: string, spec: GateSpec, schedule: AnalysisSchedule): ResolvedTiming {
    const C = this.constructName;
    const given = spec.options.timing ?? {};
    const once = spec._schedule() === GateSchedule.ONCE;
    const initialDelay = given.initialDelay ?? Duration.seconds(once ? roundUp5(schedule.evidence.totalSeconds)
      : spec.kind === GateKind.TRAFFIC ? schedule.trafficFirstLookSeconds : schedule.firstLookSeconds);
    const interval = given.interval ?? this.prometheus.scrapeInterval;
    argoDuration(C, `${label}.initialDelay`, initialDelay);
    argoDuration(C, `${label}.interval`, interval);
    if (interval.toMilliseconds() <= 0) throw new Error(`${C}: ${label}.interval must be at least 1s, got ${interval.toMilliseconds()}ms`);
    // the looks up to the last one, on the interval's grid from the first
    const looks = Math.max(1, Math.ceil((schedule.lastLookSeconds - initialDelay.toSeconds()) / interval.toSeconds() - 1e-9) + 1);
    const count = given.count ?? looks;
    const t: ResolvedTiming = {
      initialDelay,
      interval,
      count,
      failureLimit: given.failureLimit ?? (spec.kind === GateKind.TRAFFIC ? schedule.trafficIdleLooks : 0),
      inconclusiveLimit: given.inconclusiveLimit ?? count - 1,
      consecutiveErrorLimit: given.consecutiveErrorLimit ?? 3,
      consecutiveSuccessLimit: given.consecutiveSuccessLimit ?? 1,
    };
    validateInteger(C, `${label}.count`, t.count, 1);
    for (const field of ['failureLimit', 'inconclusiveLimit', 'consecutiveErrorLimit', 'consecutiveSuccessLimit'] as const) validateInteger(C, `${label}.${field}`, t[field], 0);
    if (t.count < t.failureLimit + t.consecutiveSuccessLimit) {
      throw new Error(`${C}: ${label}.count ${t.count} is below failureLimit ${t.failureLimit} + consecutiveSuccessLimit ${t.consecutiveSuccessLimit}; `
        + 'Argo Rollouts makes such a run Error at once: raise count or lower the limits');
    }
    if (t.inconclusiveLimit > t.count) {
      throw new Error(`${C}: ${label}.inconclusiveLimit ${t.inconclusiveLimit} is above count ${t.count}; Argo Rollouts makes such a run Error at once: use at most ${t.count}`);
    }
    if (t.consecutiveSuccessLimit === 0 && t.failureLimit >= t.count) {
      throw new Error(`${C}: ${label}.failureLimit ${t.failureLimit} can never be exceeded with count ${t.count}; the gate could not fail: use a failureLimit below count`);
    }
    if (t.consecutiveSuccessLimit === 0 && t.inconclusiveLimit >= t.count) {
      throw new Error(`${C}: ${label}.inconclusiveLimit ${t.inconclusiveLimit} lets all ${t.count} measurements be inconclusive, and Argo Rollouts then counts the gate `
        + 'Successful without any evidence: use an inconclusiveLimit below count');
    }
    if (!once && t.consecutiveSuccessLimit === 0) {
      throw new Error(`${C}: ${label}.consecutiveSuccessLimit 0 makes the gate Successful once it has looked count times, decided or not; `
        + 'a sequential gate ends on its first decisive look: use 1 (the default)');
    }
    if (!once && t.inconclusiveLimit < t.count - 1) {
      throw new Error(`${C}: ${label}.inconclusiveLimit ${t.inconclusiveLimit} ends the gate Inconclusive after ${t.inconclusiveLimit + 1} looks that decide nothing, before its horizon; `
        + `a sequential gate waits at every look until it decides: use count - 1 (${t.count - 1}, the default)`);
    }
    return t;
  }

  /**
   * An override that cannot work fails the synth: a traffic gate that judges a canary idle before
   * its first request can be in Prometheus, a sequential gate whose looks end before its design's
   * horizon, a custom gate measured before the evidence is in or over a window that cannot hold it.
   */
  private checkTiming(spec: GateSpec, label: string, t: ResolvedTiming, windowSeconds: number, schedule: AnalysisSchedule): void {
    const C = this.constructName;
    const s = t.initialDelay.toSeconds();
    const i = t.interval.toSeconds();
    const last = s + (t.count - 1) * i;
    if (spec.kind === GateKind.TRAFFIC) {
      const endsAt = s + t.failureLimit * i;
      if (endsAt < schedule.firstRequest.totalSeconds) {
        throw new Error(`${C}: the ${label} gate fails a canary with no request at ${endsAt}s (initialDelay ${s}s + failureLimit ${t.failureLimit} x interval ${i}s), `
          + `but a canary's first request is in Prometheus only ${formatDerivation(schedule.firstRequest)} after it starts, worst case; a healthy canary would be stopped: `
          + `raise ${label}.initialDelay to at least ${Math.ceil(schedule.firstRequest.totalSeconds - t.failureLimit * i)}s`);
      }
    }
    if (spec._schedule() === GateSchedule.SEQUENTIAL && last < schedule.horizon.totalSeconds) {
      throw new Error(`${C}: the ${label} gate looks for the last time at ${last}s (initialDelay ${s}s + (count ${t.count} - 1) x interval ${i}s), `
        + `but its design needs ${schedule.horizonRequests} requests to decide a canary at good or bad, which are in Prometheus only ${formatDerivation(schedule.horizon)} after it starts, `
        + `worst case, at ${Number(schedule.canaryRequestsPerSecond.toPrecision(3))} req/s; more canaries would be paused undecided: `
        + `raise ${label}.count to at least ${Math.ceil((schedule.horizon.totalSeconds - s) / i - 1e-9) + 1}, or send the canary more requests`);
    }
    if (spec._schedule() === GateSchedule.ONCE) {
      const evidence = schedule.evidence;
      const endsAt = s + t.inconclusiveLimit * i;
      if (endsAt < evidence.totalSeconds) {
        throw new Error(`${C}: the ${label} gate ends the run at ${endsAt}s without evidence (initialDelay ${s}s + inconclusiveLimit ${t.inconclusiveLimit} x interval ${i}s), `
          + `but the canary's evidence is in Prometheus only ${formatDerivation(evidence)} after it starts, worst case; a healthy canary would be stopped: `
          + `raise ${label}.initialDelay to at least ${Math.ceil(evidence.totalSeconds - t.inconclusiveLimit * i)}s, or shorten the scrape interval, the flush interval or evidenceTime`);
      }
      const needed = evidence.totalSeconds - evidence.lag.reduce((sum, term) => sum + term.seconds, 0);
      if (windowSeconds < needed) {
        throw new Error(`${C}: the ${label} gate's window ${windowSeconds}s cannot hold the evidence: the canary's first counted sample can be `
          + `${needed - evidence.evidence.seconds}s after it starts and the evidence takes ${evidence.evidence.seconds}s more; use a window of at least ${needed}s`);
      }
    }
  }
}

/** A gate's timing as Argo Rollouts schedules it, in seconds. */
export function gateSchedule(gate: Gate): MetricSchedule {
  return {
    initialDelaySeconds: gate.timing.initialDelay.toSeconds(),
    intervalSeconds: gate.timing.interval.toSeconds(),
    specCount: gate.timing.count,
    failureLimit: gate.timing.failureLimit,
    inconclusiveLimit: gate.timing.inconclusiveLimit,
    consecutiveErrorLimit: gate.timing.consecutiveErrorLimit,
    consecutiveSuccessLimit: 0,
  };
}

/** `metric{a="x", b=~"y|z"}`: a value that is a list becomes a regex alternative. */
export function selector(metric: string, labels: Matchers): string {
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
