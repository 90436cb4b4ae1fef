import { Duration, Lazy } from 'cdk8s';
import { Construct } from 'constructs';
import {
  AnalysisTemplate,
  AnalysisTemplateSpecMetrics,
  AnalysisTemplateSpecMetricsConsecutiveErrorLimit,
  AnalysisTemplateSpecMetricsCount,
  AnalysisTemplateSpecMetricsFailureLimit,
  AnalysisTemplateSpecMetricsInconclusiveLimit,
} from '../../imports/argo-analysis-template-argoproj.io';
import { deriveTiming, DerivedTiming, formatDerivation, requestsForErrorRatio, requiredRequestsPerSecond, samplesForQuantile, SeriesPath } from '../analysis/evidence';
import { MetricSchedule } from '../analysis/schedule';
import { designAnnotation, Direction, GATE_DESIGN_ANNOTATION, GATE_KINDS_ANNOTATION, GateKind } from '../model/gates';
import { AnalysisArgument, CANARY_HASH_ARG, NAMESPACE_ARG } from '../platform/argo';
import { SpanmetricsSeries } from '../platform/collector-config';
import { PrometheusBackend } from '../platform/metrics-backend';
import { argoDuration, promDuration, validateInteger } from '../util';
import { IAnalysis, IAnalysisTarget, Matchers } from './interfaces';

/** When a gate measures and how many bad measurements it tolerates (Argo Rollouts metric fields). */
export interface GateTiming {
  /** the wait before the first measurement @default - derived from the pipeline (see {@link CanaryAnalysis.derivations}) */
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
  /** which side of the threshold passes */
  readonly direction: Direction;
  /** the quantile a latency gate reads */
  readonly quantile?: number;
  /** where the gate's series come from */
  readonly path: SeriesPath;
  /** the timings, with defaults applied */
  readonly timing: Required<Omit<GateTiming, 'window'>>;
  /** the window of its `increase()`, in seconds */
  readonly windowSeconds: number;
}

/** What a custom gate's query can build on: the canary's own selectors and the derived window. */
export interface GateQueryContext {
  /** the window, as PromQL writes it (`190s`) */
  readonly window: string;
  /** the selector of the canary's user requests, e.g. `hotrod_requests_total{namespace="{{args.namespace}}", ...}` */
  readonly requests: string;
  /** the selector of the canary's failed user requests */
  readonly failedRequests: string;
  /** the selector of a spanmetrics series restricted to the canary's user request spans, with further matchers if given (e.g. `{ le: '250' }`) */
  spans(series: 'calls' | 'durationBucket' | 'durationCount' | 'durationSum', extra?: Readonly<Record<string, string>>): string;
}

/** Options every gate takes. */
export interface GateOptions {
  /** the metric name in the template @default - derived from the gate and its threshold, e.g. `latency-p99-lt-2s` */
  readonly name?: string;
  /** when it measures @default - derived */
  readonly timing?: GateTiming;
}

/** Options of {@link GateSpec.errorRatio}. */
export interface ErrorRatioGateOptions extends GateOptions {
  /** the highest share of failed canary user requests, in (0, 1] */
  readonly max: number;
}

/** Options of {@link GateSpec.latency}. */
export interface LatencyGateOptions extends GateOptions {
  /** the quantile, in (0, 1) @default 0.95 */
  readonly quantile?: number;
  /** the highest latency at that quantile */
  readonly max: Duration;
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
  readonly window: string;
  readonly windowSeconds: number;
  /** the requests the canary must serve before it is judged */
  readonly evidence: number;
  /** the lowest request rate that passes */
  readonly minRequestsPerSecond: number;
  /** the canary's user requests in the window, `sum(increase(...))` */
  canaryRequests(extra?: Readonly<Record<string, string>>): string;
  /** `... and on() <evidence>`: the guard that returns nothing until the evidence is in */
  evidenceGuard(): string;
  /** a selector of a spanmetrics series over the canary's user request spans */
  spans(metric: string): string;
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

/**
 * A gate of a {@link CanaryAnalysis}: what it checks is data ({@link kind}), and its query is
 * rendered from the rollout's own series when the template is synthesized.
 */
export abstract class GateSpec {
  /** The canary has served enough user requests to be judged; none at all (idle) fails it, some but too few is Inconclusive. */
  public static traffic(options: GateOptions = {}): GateSpec {
    return new TrafficGate(options);
  }

  /** The share of the canary's user requests that fail stays below `max`. */
  public static errorRatio(options: ErrorRatioGateOptions): GateSpec {
    const max = options.max;
    if (!Number.isFinite(max) || max <= 0 || max > 1) {
      const hint = max > 1 && max <= 100 ? ` (for ${max}% write ${max / 100})` : '';
      throw new Error(`GateSpec.errorRatio: max must be a ratio above 0 and at most 1, got ${max}${hint}`);
    }
    return new ErrorRatioGate(options);
  }

  /** The latency of the canary's user requests at a quantile stays below `max`. */
  public static latency(options: LatencyGateOptions): GateSpec {
    const q = options.quantile ?? 0.95;
    if (!(q > 0 && q < 1)) throw new Error(`GateSpec.latency: quantile must lie strictly between 0 and 1, got ${q} (for p99 write 0.99)`);
    const ms = options.max.toMilliseconds({ integral: false });
    if (!Number.isFinite(ms) || ms <= 0) throw new Error(`GateSpec.latency: max must be a positive latency, got ${ms}ms`);
    return new LatencyGate(options, q, ms);
  }

  /** A query of your own, compared with a threshold; by default it is Inconclusive until the canary has served the evidence. */
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

  /** the requests the canary must serve for this gate's verdict to mean anything, at a confidence @internal */
  public _evidenceNeeded(_confidence: number): number {
    return 0;
  }

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
    // At least the evidence, and never less than the floor users know (minRequestsPerSecond over the window).
    const needed = Math.max(ctx.evidence, Math.ceil(ctx.minRequestsPerSecond * ctx.windowSeconds - 1e-9));
    // Spanmetrics series restart when the collector pod that holds them is replaced: then the
    // canary's series exist but hold too few samples for increase(), which would read as an idle
    // canary. `or on()` turns that case into 1 request (Inconclusive: a person decides); a canary
    // with no series at all (idle) still returns nothing and fails. Measured by `npm run rehearse`
    // (collector-restart): without it 39 % of healthy spanmetrics-only canaries were aborted at a 1m scrape.
    const restartGuard = ctx.target.requests.path === SeriesPath.SPANMETRICS
      ? `or on()\n(0 * count(last_over_time(${selector(ctx.target.requests.metric, ctx.target.requests.matchers)}[${ctx.window}])) + 1)\n`
      : '';
    return {
      name: this.options.name ?? `traffic-at-least-${needed}-requests`,
      query: `${ctx.canaryRequests()}\n${restartGuard}`,
      threshold: needed,
      direction: Direction.AT_LEAST,
      // Enough requests: judge. Some but too few: Inconclusive (pause, a person decides). None: idle, Failed.
      successCondition: `len(result) > 0 && result[0] >= ${needed}`,
      failureCondition: 'len(result) == 0 || result[0] < 1',
    };
  }
}

class ErrorRatioGate extends GateSpec {
  constructor(private readonly props: ErrorRatioGateOptions) {
    super(GateKind.ERROR_RATE, props);
  }

  public _path(requestsPath: SeriesPath) {
    return requestsPath;
  }

  public _evidenceNeeded(confidence: number): number {
    return requestsForErrorRatio(this.props.max, confidence);
  }

  public _render(ctx: GateRenderContext): RenderedParts {
    const failed = ctx.target.requests.failed;
    const requests = ctx.target.requests;
    // Spanmetrics creates a canary's error series only with its first failed span (a series per key of
    // service, span name, kind, status code and dimensions, made when a span with that key first arrives:
    // opentelemetry-collector-contrib connector/spanmetricsconnector/connector.go aggregateMetrics @ v0.142.0),
    // so the series' first sample already holds errors that increase() cannot see (it has no earlier sample to
    // start from): the ratio reads low. Every canary series is new with the canary (its pod-template
    // hash is a label), so the counters' own values are the counts since the canary started; their
    // latest values in the window give the ratio without that loss. Measured by `npm run rehearse`
    // (error-rate-just-outside, a spanmetrics-only service at a 1m scrape): with increase() 15 % of
    // canaries failing 6.7 % of requests passed a 5 % gate. HotROD's counter creates both error
    // children at 0 (see lib/presets/hotrod.ts), so increase() is exact there.
    const totals = (extra: Readonly<Record<string, string>> = {}) => `sum(last_over_time(${selector(requests.metric, { ...requests.matchers, ...extra })}[${ctx.window}]))`;
    const count = requests.path === SeriesPath.SPANMETRICS ? totals : ctx.canaryRequests;
    return {
      name: this.options.name ?? `error-rate-lt-${slug(this.props.max * 100)}-percent`,
      // `or vector(0)`: no failed request yet reads as 0% errors. `and on()`: no verdict without the evidence.
      query: `(\n  (${count(failed)} or vector(0))\n  /\n  ${count()}\n)\n${ctx.evidenceGuard()}`,
      threshold: this.props.max,
      direction: Direction.BELOW,
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

  public _evidenceNeeded(confidence: number): number {
    return samplesForQuantile(this.quantile, confidence);
  }

  public _render(ctx: GateRenderContext): RenderedParts {
    const threshold = ctx.target.pipeline.inHistogramUnit(Duration.millis(this.maxMs));
    return {
      name: this.options.name ?? `latency-p${slug(this.quantile * 100)}-lt-${latencySlug(this.maxMs)}`,
      query: `histogram_quantile(${num(this.quantile)}, sum by (le) (increase(${ctx.spans(ctx.series.durationBucket)}[${ctx.window}])))\n`
        + `and on()\nsum(increase(${ctx.spans(ctx.series.durationCount)}[${ctx.window}])) >= ${ctx.evidence}\n`,
      threshold,
      direction: Direction.BELOW,
      quantile: this.quantile,
    };
  }
}

class CustomGate extends GateSpec {
  constructor(private readonly props: CustomGateOptions) {
    super(GateKind.CUSTOM, props);
  }

  public _path() {
    return this.props.path ?? SeriesPath.SPANMETRICS;
  }

  public _render(ctx: GateRenderContext): RenderedParts {
    const context: GateQueryContext = {
      window: ctx.window,
      requests: selector(ctx.target.requests.metric, ctx.target.requests.matchers),
      failedRequests: selector(ctx.target.requests.metric, { ...ctx.target.requests.matchers, ...ctx.target.requests.failed }),
      spans: (s, extra = {}) => selector(ctx.series[s], { ...ctx.target.canarySpans, ...extra }),
    };
    const query = this.props.query(context).trim();
    if (query.length === 0) throw new Error(`GateSpec.custom: the query of gate '${this.props.name}' is empty`);
    const guarded = (this.props.requiresEvidence ?? true) ? `(\n${query}\n)\n${ctx.evidenceGuard()}` : `${query}\n`;
    return { name: this.props.name, query: guarded, threshold: this.props.threshold, direction: this.props.direction };
  }
}

/** What a {@link CanaryAnalysis} is made with, besides its target (see `CanaryRollout.addAnalysis`). */
export interface CanaryAnalysisOptions {
  /** the gates, in template order; more can be added with `addGate` @default - none */
  readonly gates?: readonly GateSpec[];
  /** the AnalysisTemplate name @default - `<rollout name>-analysis` */
  readonly name?: string;
  /** the lowest canary request rate that can pass, over the gate's window: a floor under the evidence @default 0.05 */
  readonly minRequestsPerSecond?: number;
  /** the confidence the evidence must give each verdict, in (0, 1) @default 0.95 */
  readonly confidence?: number;
  /** how long the canary may take to serve the evidence; the traffic generator is sized from it @default Duration.minutes(1) */
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
  confidence: 0.95,
  evidenceTime: Duration.minutes(1),
} as const;


/**
 * An AnalysisTemplate that judges a canary by gates added with {@link addGate}: traffic, error
 * ratio, a latency quantile, or a query of your own.
 *
 * Every gate counts only the canary's user requests (never Prometheus's scrapes or internal
 * calls) and judges only on evidence: the traffic gate needs the requests that make the other
 * gates' thresholds meaningful at the stated confidence, and the others return nothing, and are
 * Inconclusive, until that evidence is in. When the gates first measure, and the window they read,
 * are derived from the Prometheus scrape, the spanmetrics flush and the export delay
 * ({@link derivations}). The template is rendered when the app is synthesized, so gates added
 * after construction reach it.
 */
export class CanaryAnalysis extends Construct implements IAnalysis {
  /** the AnalysisTemplate */
  public readonly template: AnalysisTemplate;
  /** the arguments the template declares, with the sources a rollout step passes */
  public readonly args: readonly AnalysisArgument[];
  /** what is judged: the canary's series and the Prometheus that holds them */
  public readonly target: IAnalysisTarget;
  /** the Prometheus the gates query */
  public readonly prometheus: PrometheusBackend;
  /** the lowest canary request rate that can pass */
  public readonly minRequestsPerSecond: number;
  /** the confidence each verdict is given with */
  public readonly confidence: number;
  /** how long the canary may take to serve the evidence */
  public readonly evidenceTime: Duration;
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
        + 'a gate that accepts 0 req/s promotes an idle canary');
    }
    this.confidence = props.confidence ?? GATE_DEFAULTS.confidence;
    if (!(this.confidence > 0 && this.confidence < 1)) {
      throw new Error(`${C}: confidence must lie strictly between 0 and 1, got ${props.confidence} (for 95% write 0.95)`);
    }
    this.evidenceTime = props.evidenceTime ?? GATE_DEFAULTS.evidenceTime;
    argoDuration(C, 'evidenceTime', this.evidenceTime);
    if (this.evidenceTime.toSeconds() <= 0) throw new Error(`${C}: evidenceTime must be at least 1s, got ${this.evidenceTime.toMilliseconds()}ms`);

    this.args = [
      { name: NAMESPACE_ARG, valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      { name: CANARY_HASH_ARG, valueFrom: { podTemplateHashValue: 'Latest' } },
    ];
    const self = this;
    this.template = new AnalysisTemplate(this, 'Resource', {
      metadata: { name },
      spec: {
        args: this.args.map((a) => ({ name: a.name })),
        // A getter, so gates added after construction reach the output.
        get metrics(): AnalysisTemplateSpecMetrics[] {
          return self.gates.map((g) => self.renderMetric(g));
        },
      },
    });
    // Rendered at synth, like the metrics: the kinds of gates added later are in it.
    this.template.metadata.addAnnotation(GATE_KINDS_ANNOTATION, Lazy.any({ produce: () => JSON.stringify(Object.fromEntries(this.gates.map((g) => [g.name, g.kind]))) }));
    this.template.metadata.addAnnotation(GATE_DESIGN_ANNOTATION, designAnnotation({ evidenceSeconds: this.evidenceTime.toSeconds() }));
    for (const gate of props.gates ?? []) this.addGate(gate);
    this.node.addValidation({ validate: () => this.problems() });
  }

  /** Adds a gate; it is rendered into the template at synth (a timing wrong on its face throws now). Returns this analysis. */
  public addGate(gate: GateSpec): this {
    this.specs.push(gate);
    this.rendered = undefined;
    this.checkGivenTiming(this.labelOf(gate), gate.options.timing ?? {});
    return this;
  }

  /** The timings a gate is given, checked on their own: whole seconds, whole counts. */
  private checkGivenTiming(label: string, t: GateTiming): void {
    const C = this.constructName;
    for (const field of ['count', 'failureLimit', 'inconclusiveLimit', 'consecutiveErrorLimit'] as const) {
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

  /** The user requests a canary must serve in a gate's window before it is judged: what the strictest gate needs at {@link confidence}. */
  public get evidenceRequests(): number {
    return Math.max(1, ...this.specs.map((s) => s._evidenceNeeded(this.confidence)));
  }

  /** The user request rate the canary must get so that it serves the evidence within evidenceTime (with 99.9% confidence). */
  public get requiredCanaryRequestsPerSecond(): number {
    return requiredRequestsPerSecond(this.evidenceRequests, this.evidenceTime.toSeconds());
  }

  /** When each path's series can first hold the evidence, worst case, with the terms that make it up. */
  public get derivations(): Readonly<Record<SeriesPath, DerivedTiming>> {
    const pipeline = this.target.pipeline;
    const timing = {
      backend: this.prometheus,
      flushSeconds: pipeline.flushInterval.toMilliseconds() / 1000,
      exportDelaySeconds: pipeline.exportDelayMs(this.target.exportDelayMs) / 1000,
    };
    return {
      [SeriesPath.POD_SCRAPE]: deriveTiming(SeriesPath.POD_SCRAPE, timing, this.evidenceTime.toSeconds()),
      [SeriesPath.SPANMETRICS]: deriveTiming(SeriesPath.SPANMETRICS, timing, this.evidenceTime.toSeconds()),
    };
  }

  /** The gates, rendered, in the order they were added (the same objects until the next addGate). */
  public get gates(): readonly Gate[] {
    this.rendered ??= this.renderGates();
    return this.rendered;
  }

  private renderGates(): readonly Gate[] {
    const derivations = this.derivations;
    const paths = new Set(this.specs.map((s) => s._path(this.target.requests.path)));
    // One schedule for every gate: the run cannot end before its slowest gate anyway, and an idle
    // canary must meet the traffic gate (Failed) no later than the others (Inconclusive).
    const derivedDelay = roundUp5(Math.max(0, ...[...paths].map((p) => derivations[p].totalSeconds)));
    const evidence = this.evidenceRequests;
    const traffic = this.specs.find((s) => s.kind === GateKind.TRAFFIC);
    const rendered = new Map<GateSpec, Gate>();
    // The traffic gate first: the others' evidence guard asks for its threshold.
    let guardThreshold = evidence;
    for (const spec of traffic ? [traffic, ...this.specs.filter((s) => s !== traffic)] : this.specs) {
      const label = this.labelOf(spec);
      const t = this.resolveTiming(label, spec.options.timing, derivedDelay);
      const given = spec.options.timing?.window;
      if (given) argoDuration(this.constructName, `${label}.window`, given);
      const windowSeconds = given?.toSeconds() ?? derivedDelay;
      const path = spec._path(this.target.requests.path);
      this.checkTiming(spec.kind, label, t, windowSeconds, derivations[path]);
      const window = promDuration(Duration.seconds(windowSeconds));
      const canaryRequests = (extra: Readonly<Record<string, string>> = {}) => `sum(increase(${selector(this.target.requests.metric, { ...this.target.requests.matchers, ...extra })}[${window}]))`;
      const threshold = guardThreshold;
      const parts = spec._render({
        target: this.target,
        series: this.target.pipeline.series,
        window,
        windowSeconds,
        evidence: threshold,
        minRequestsPerSecond: this.minRequestsPerSecond,
        canaryRequests,
        evidenceGuard: () => `and on()\n${canaryRequests()} >= ${threshold}\n`,
        spans: (metric) => selector(metric, this.target.canarySpans),
      });
      if (spec === traffic) guardThreshold = parts.threshold;
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
        windowSeconds,
      });
    }
    // Template order is the order of addGate.
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
      problems.push(...this.latencyBetweenBuckets());
    } catch (e) {
      problems.push(e instanceof Error ? e.message : String(e));
    }
    return problems;
  }

  /**
   * A latency threshold between two bucket bounds is judged by histogram_quantile's linear
   * interpolation inside the bucket, not by the requests: with a 500 ms gate and the default bounds
   * 400 and 800, a canary whose p95 is 400 ms reads 522 ms when a few more requests than 5 % land in
   * the 400-800 bucket (measured by `npm run rehearse`, collector-restart, 3 % of healthy canaries
   * aborted under kube-prometheus-stack).
   */
  private latencyBetweenBuckets(): string[] {
    const bounds = this.target.pipeline.bucketBounds();
    const unit = this.target.pipeline.series.histogramUnit;
    return this.gates.filter((g) => g.kind === GateKind.LATENCY && !bounds.some((b) => Math.abs(b - g.threshold) < 1e-9)).map((g) => {
      const below = Math.max(...bounds.filter((b) => b < g.threshold));
      const above = Math.min(...bounds.filter((b) => b > g.threshold));
      return `${this.constructName}: gate '${g.name}' compares a quantile with ${num(g.threshold)}${unit}, which lies between the histogram's bucket bounds `
        + `${Number.isFinite(below) ? num(below) : '-'} and ${Number.isFinite(above) ? num(above) : '+Inf'}: the verdict would follow histogram_quantile's interpolation inside that bucket, `
        + `not the requests; use a bound as the threshold (${[below, above].filter(Number.isFinite).map((b) => `${num(b)}${unit}`).join(' or ')}), or add ${num(g.threshold)}${unit} to the pipeline's histogramBuckets`;
    });
  }

  private resolveTiming(label: string, given: GateTiming = {}, derivedDelay: number): Required<Omit<GateTiming, 'window'>> {
    const C = this.constructName;
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
    validateInteger(C, `${label}.count`, t.count, 1);
    validateInteger(C, `${label}.failureLimit`, t.failureLimit, 0);
    validateInteger(C, `${label}.inconclusiveLimit`, t.inconclusiveLimit, 0);
    validateInteger(C, `${label}.consecutiveErrorLimit`, t.consecutiveErrorLimit, 0);
    argoDuration(C, `${label}.initialDelay`, t.initialDelay);
    argoDuration(C, `${label}.interval`, t.interval);
    if (t.interval.toMilliseconds() <= 0) {
      throw new Error(`${C}: ${label}.interval must be at least 1s, got ${t.interval.toMilliseconds()}ms`);
    }
    if (t.failureLimit >= t.count) {
      throw new Error(`${C}: ${label}.failureLimit ${t.failureLimit} can never be exceeded with count ${t.count}; the gate could not fail: use a failureLimit below count`);
    }
    if (t.inconclusiveLimit >= t.count) {
      throw new Error(`${C}: ${label}.inconclusiveLimit ${t.inconclusiveLimit} lets all ${t.count} measurements be inconclusive, and Argo Rollouts then counts the gate `
        + 'Successful without any evidence: use an inconclusiveLimit below count');
    }
    return t;
  }

  /**
   * An override that cannot work fails the synth: a gate that ends the run (Failed or
   * Inconclusive) before the evidence can be in Prometheus, or reads a window that cannot hold it.
   */
  private checkTiming(kind: GateKind, label: string, t: Required<Omit<GateTiming, 'window'>>, windowSeconds: number, derived: DerivedTiming): void {
    const C = this.constructName;
    const s = t.initialDelay.toSeconds();
    const i = t.interval.toSeconds();
    // Without evidence the traffic gate fails (no series yet) and the others are inconclusive.
    const limit = kind === GateKind.TRAFFIC ? t.failureLimit : t.inconclusiveLimit;
    const endsAt = s + limit * i;
    const how = `initialDelay ${s}s + ${kind === GateKind.TRAFFIC ? 'failureLimit' : 'inconclusiveLimit'} ${limit} x interval ${i}s = ${endsAt}s`;
    if (endsAt < derived.totalSeconds) {
      throw new Error(`${C}: the ${label} gate ends the run at ${endsAt}s without evidence (${how}), but the canary's evidence is in Prometheus only `
        + `${formatDerivation(derived)} after it starts, worst case; a healthy canary would be stopped: raise ${label}.initialDelay to at least `
        + `${Math.ceil(derived.totalSeconds - limit * i)}s, or shorten the scrape interval, the flush interval or evidenceTime`);
    }
    const needed = derived.totalSeconds - derived.lag.reduce((sum, term) => sum + term.seconds, 0);
    if (windowSeconds < needed) {
      throw new Error(`${C}: the ${label} gate's window ${windowSeconds}s cannot hold the evidence: the canary's first counted sample can be `
        + `${needed - derived.evidence.seconds}s after it starts and the evidence takes ${derived.evidence.seconds}s more; use a window of at least ${needed}s`);
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
