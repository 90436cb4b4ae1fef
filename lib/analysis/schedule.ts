import { MeasurementPhase } from './condition';

/**
 * Argo Rollouts v1.8.3's schedule, limits and spec validation of one analysis metric: when it
 * measures, when it is decided, and which specs put an AnalysisRun in Error before it measures.
 * The rehearsal replays measurements through it, the explain timeline simulates them, and the
 * rules read a template's timings and validate its metrics with it.
 */

/** How long Argo Rollouts waits before retrying a measurement that ended in Error (analysis/analysis.go DefaultErrorRetryInterval @ v1.8.3). */
export const ARGO_ERROR_RETRY_SECONDS = 10;

/** The consecutiveErrorLimit Argo Rollouts uses when a metric sets none (utils/defaults/defaults.go @ v1.8.3). */
export const ARGO_DEFAULT_CONSECUTIVE_ERROR_LIMIT = 4;

/**
 * When a metric measures and what decides it, in seconds and counts. The number of measurements
 * that complete it is not a field: it depends on `specCount` and the interval, see
 * {@link effectiveCount} (undefined for a metric that runs until a limit, its success streak or
 * the end of the run decides it).
 */
export interface MetricSchedule {
  readonly initialDelaySeconds: number;
  /** seconds between measurements; 0 when the metric sets no interval */
  readonly intervalSeconds: number;
  /** `count` as the template writes it; 0 when it is absent (Argo Rollouts reads 0 and absent alike) */
  readonly specCount: number;
  /** failures tolerated; -1 turns the failure check off (valid only with a consecutiveSuccessLimit) */
  readonly failureLimit: number;
  readonly inconclusiveLimit: number;
  readonly consecutiveErrorLimit: number;
  /** successes in a row that complete the metric Successful, even before count; 0 turns it off */
  readonly consecutiveSuccessLimit: number;
}

/**
 * How many measurements (Errors not counted) complete a metric: `count`, or, when it is 0 or
 * absent, 1 without an interval and none with one: the metric then runs until a limit, its
 * success streak or the run's end decides it (pkg/apis/rollouts/v1alpha1/analysis_types.go
 * Metric.EffectiveCount @ v1.8.3).
 */
export function effectiveCount(s: Pick<MetricSchedule, 'specCount' | 'intervalSeconds'>): number | undefined {
  if (s.specCount !== 0) return s.specCount;
  return s.intervalSeconds > 0 ? undefined : 1;
}

/** The fields of a metric as written in a template (after `{{args.*}}` substitution, which Argo does first). */
export interface PlainMetric {
  readonly name?: unknown;
  readonly initialDelay?: unknown;
  readonly interval?: unknown;
  readonly count?: unknown;
  readonly failureLimit?: unknown;
  readonly inconclusiveLimit?: unknown;
  readonly consecutiveErrorLimit?: unknown;
  readonly consecutiveSuccessLimit?: unknown;
  readonly provider?: unknown;
}

/** A metric as Argo Rollouts' ValidateMetric reads it: int-or-string fields as their IntValue (0 when absent), durations as text ('' when absent). */
export interface MetricSpec {
  readonly name: string;
  readonly count: number;
  readonly failureLimit: number;
  readonly inconclusiveLimit: number;
  /** undefined when absent (the default 4 applies) */
  readonly consecutiveErrorLimit: number | undefined;
  readonly consecutiveSuccessLimit: number;
  readonly interval: string;
  readonly initialDelay: string;
  /** how many providers the metric names (each plugin entry counts as one) */
  readonly providers: number;
}

/** A metric field the tools cannot read: an argument, a fraction, a duration that is not text. */
export class MetricReadError extends Error {
  constructor(public readonly field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = 'MetricReadError';
  }
}

/** The providers a metric can name (pkg/apis/rollouts/v1alpha1/analysis_types.go MetricProvider @ v1.8.3; `plugin` is a map, one provider an entry). */
const PROVIDERS = ['prometheus', 'kayenta', 'web', 'datadog', 'wavefront', 'newRelic', 'job', 'cloudWatch', 'graphite', 'influxdb', 'skywalking'];

/**
 * Reads a metric's fields as Argo Rollouts does: an int-or-string is its Kubernetes IntValue (a
 * number, or a string read as a base-10 integer, any other string being 0). Throws
 * {@link MetricReadError} for what cannot be read before Argo substitutes arguments (`{{args.x}}`)
 * and for values no template can hold (a fraction, a duration that is not text).
 */
export function readMetricSpec(m: PlainMetric): MetricSpec {
  const int = (field: string, v: unknown): number | undefined => {
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'number') {
      if (!Number.isInteger(v)) throw new MetricReadError(field, `${v} is not a whole number; write an integer`);
      return v;
    }
    if (typeof v === 'string') {
      if (v.includes('{{')) throw new MetricReadError(field, `'${v}' is an argument, which Argo Rollouts substitutes when the run starts; the tools need a literal number`);
      return /^[+-]?\d+$/.test(v) ? Number(v) : 0;
    }
    throw new MetricReadError(field, `${JSON.stringify(v)} is neither a number nor a string`);
  };
  const duration = (field: string, v: unknown): string => {
    if (v === undefined || v === null) return '';
    if (typeof v !== 'string') throw new MetricReadError(field, `${JSON.stringify(v)} is not a duration string; write e.g. '30s' or '1m'`);
    if (v.includes('{{')) throw new MetricReadError(field, `'${v}' is an argument, which Argo Rollouts substitutes when the run starts; the tools need a literal duration`);
    return v;
  };
  const provider = typeof m.provider === 'object' && m.provider !== null ? (m.provider as Record<string, unknown>) : {};
  const plugin = provider.plugin;
  const providers = PROVIDERS.filter((p) => provider[p] !== undefined && provider[p] !== null).length
    + (typeof plugin === 'object' && plugin !== null ? Object.keys(plugin).length : 0);
  return {
    name: typeof m.name === 'string' ? m.name : '',
    count: int('count', m.count) ?? 0,
    failureLimit: int('failureLimit', m.failureLimit) ?? 0,
    inconclusiveLimit: int('inconclusiveLimit', m.inconclusiveLimit) ?? 0,
    consecutiveErrorLimit: int('consecutiveErrorLimit', m.consecutiveErrorLimit),
    consecutiveSuccessLimit: int('consecutiveSuccessLimit', m.consecutiveSuccessLimit) ?? 0,
    interval: duration('interval', m.interval),
    initialDelay: duration('initialDelay', m.initialDelay),
    providers,
  };
}

/** Why Argo Rollouts refuses a metric spec, in this project's words, and how to fix it. */
export interface MetricSpecProblem {
  /** the metric's position in the run's metrics; undefined when there is none */
  readonly index?: number;
  readonly metric?: string;
  /** the field to change */
  readonly field: string;
  readonly reason: string;
  readonly fix: string;
}

/**
 * Argo Rollouts' check of one metric (utils/analysis/factory.go ValidateMetric @ v1.8.3), in its
 * order, the first problem only: negative limits (failureLimit may be -1, but not together with a
 * consecutiveSuccessLimit of 0), a count below the limits it must leave room for (only when count
 * is set), a count above 1 without an interval, durations Go cannot parse, and not exactly one
 * provider. An AnalysisRun with such a metric is Error before it measures anything.
 */
export function validateMetricSpec(m: MetricSpec, index: number): MetricSpecProblem | undefined {
  const problem = (field: string, reason: string, fix: string): MetricSpecProblem => ({ index, metric: m.name, field, reason, fix });
  const F = m.failureLimit;
  const S = m.consecutiveSuccessLimit;
  const I = m.inconclusiveLimit;
  const C = m.count;
  if (S < 0) return problem('consecutiveSuccessLimit', `consecutiveSuccessLimit ${S} is negative`, 'use 0 (no success streak) or more');
  if (F < -1) return problem('failureLimit', `failureLimit ${F} is below -1`, 'use 0 or more, or -1 to turn the failure check off');
  if (F === -1 && S === 0) {
    return problem('failureLimit', 'failureLimit -1 turns the failure check off and consecutiveSuccessLimit is 0 (off) too, so neither can decide the metric',
      'set consecutiveSuccessLimit above 0, or failureLimit to 0 or more');
  }
  if (I < 0) return problem('inconclusiveLimit', `inconclusiveLimit ${I} is negative`, 'use 0 or more');
  if (m.consecutiveErrorLimit !== undefined && m.consecutiveErrorLimit < 0) {
    return problem('consecutiveErrorLimit', `consecutiveErrorLimit ${m.consecutiveErrorLimit} is negative`, 'use 0 (the first Error ends the metric) or more, or leave it out for 4');
  }
  if (C > 0) {
    if (F >= 0 && C < F + S) {
      return problem('count', `count ${C} leaves no room for failureLimit + consecutiveSuccessLimit (${F} + ${S} = ${F + S}), which it must reach`,
        `raise count to at least ${F + S}, or lower the limits`);
    }
    if (F < 0 && C < S) return problem('count', `count ${C} is below consecutiveSuccessLimit ${S}, so the success streak could never be reached`, `raise count to at least ${S}`);
    if (C < I) return problem('count', `count ${C} is below inconclusiveLimit ${I}`, `raise count to at least ${I}, or lower inconclusiveLimit`);
  }
  if (C > 1 && m.interval === '') return problem('interval', `count ${C} needs an interval between the measurements, and there is none`, "set interval (e.g. '1m'), or count 1");
  for (const field of ['interval', 'initialDelay'] as const) {
    if (m[field] === '') continue;
    try {
      goDurationSeconds(m[field]);
    } catch (e) {
      return problem(field, `${field} '${m[field]}' is not a Go duration (${(e as Error).message})`, "write it with a unit: '30s', '1m', '1m30s', '500ms'");
    }
  }
  if (m.providers === 0) return problem('provider', 'the metric names no provider', 'give it one provider (prometheus, web, job, ...)');
  if (m.providers > 1) return problem('provider', `the metric names ${m.providers} providers`, 'keep exactly one provider per metric');
  return undefined;
}

/**
 * Argo Rollouts' check of a run's metrics (factory.go ValidateMetrics @ v1.8.3): there must be
 * one, names must differ, and each must pass {@link validateMetricSpec}; the problem Argo reports
 * (the first in metric order).
 */
export function validateMetricSpecs(metrics: readonly MetricSpec[]): MetricSpecProblem | undefined {
  return metricSpecProblems(metrics)[0];
}

/**
 * Every metric's first problem, in metric order, as {@link validateMetricSpecs} finds them one
 * after the other (Argo reports only the first); an undefined metric (one that cannot be read
 * before arguments are substituted) is skipped.
 */
export function metricSpecProblems(metrics: readonly (MetricSpec | undefined)[]): MetricSpecProblem[] {
  if (metrics.length === 0) return [{ field: 'metrics', reason: 'there are no metrics', fix: 'add a metric' }];
  const seen = new Set<string>();
  return metrics.flatMap((m, i) => {
    if (!m) return [];
    const twice = seen.has(m.name);
    seen.add(m.name);
    if (twice) return [{ index: i, metric: m.name, field: 'name', reason: `an earlier metric is also named '${m.name}'`, fix: 'give each metric a name of its own' }];
    return validateMetricSpec(m, i) ?? [];
  });
}

/** The spec a schedule was read from, as far as validation needs it (the durations already parsed, one provider). */
export function specOfSchedule(name: string, s: MetricSchedule): MetricSpec {
  return {
    name,
    count: s.specCount,
    failureLimit: s.failureLimit,
    inconclusiveLimit: s.inconclusiveLimit,
    consecutiveErrorLimit: s.consecutiveErrorLimit,
    consecutiveSuccessLimit: s.consecutiveSuccessLimit,
    interval: s.intervalSeconds > 0 ? `${s.intervalSeconds}s` : '',
    initialDelay: '',
    providers: 1,
  };
}

/**
 * A metric's schedule from its spec, with Argo Rollouts' defaults (no initialDelay: 0; limits 0,
 * consecutiveErrorLimit 4). It does not validate: see {@link validateMetricSpec}. Throws
 * {@link MetricReadError} for what it cannot model: a duration Go cannot parse, and an interval
 * of 0 or less, with which Argo measures at every reconciliation.
 */
export function scheduleOf(m: MetricSpec): MetricSchedule {
  const seconds = (field: 'interval' | 'initialDelay'): number => {
    if (m[field] === '') return 0;
    try {
      return goDurationSeconds(m[field]);
    } catch (e) {
      throw new MetricReadError(field, `'${m[field]}' is not a Go duration (${(e as Error).message}); write e.g. '30s', '1m' or '1m30s'`);
    }
  };
  const intervalSeconds = seconds('interval');
  if (m.interval !== '' && intervalSeconds <= 0) {
    throw new MetricReadError('interval', `'${m.interval}' is not after the previous measurement; Argo Rollouts then measures at every reconciliation, which the tools cannot model: use an interval of 1s or more`);
  }
  return {
    initialDelaySeconds: Math.max(0, seconds('initialDelay')),
    intervalSeconds,
    specCount: m.count,
    failureLimit: m.failureLimit,
    inconclusiveLimit: m.inconclusiveLimit,
    consecutiveErrorLimit: m.consecutiveErrorLimit ?? ARGO_DEFAULT_CONSECUTIVE_ERROR_LIMIT,
    consecutiveSuccessLimit: m.consecutiveSuccessLimit,
  };
}

/** Reads a metric's schedule from a template ({@link readMetricSpec}, then {@link scheduleOf}); it does not validate. */
export function readMetricSchedule(m: PlainMetric): MetricSchedule {
  return scheduleOf(readMetricSpec(m));
}

const NANOSECONDS: Record<string, bigint> = { ns: 1n, us: 1000n, 'µs': 1000n, 'μs': 1000n, ms: 1_000_000n, s: 1_000_000_000n, m: 60_000_000_000n, h: 3_600_000_000_000n };

/** Go's quoting of a duration in its errors (time/format.go quote): non-ASCII and control bytes as \x escapes. */
function goTimeQuote(s: string): string {
  const bytes = Buffer.from(s, 'utf8');
  let out = '"';
  for (const b of bytes) {
    if (b >= 0x80 || b < 0x20) out += `\\x${b.toString(16).padStart(2, '0')}`;
    else out += (b === 0x22 || b === 0x5c ? '\\' : '') + String.fromCharCode(b);
  }
  return `${out}"`;
}

/**
 * Seconds of a Go duration (time.ParseDuration, which Argo Rollouts' DurationString uses):
 * `[-+]` then one or more `number unit`, units ns, us, µs, ms, s, m, h, fractions allowed, a bare
 * `0` allowed. Throws with Go's message otherwise (`time: missing unit in duration "60"`).
 */
export function goDurationSeconds(text: string): number {
  const invalid = () => new Error(`time: invalid duration ${goTimeQuote(text)}`);
  let s = text;
  let negative = false;
  if (s[0] === '-' || s[0] === '+') {
    negative = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') throw invalid();
  let total = 0n;
  const limit = 1n << 63n;
  while (s !== '') {
    const m = /^(\d*)(?:\.(\d*))?/.exec(s)!;
    const [whole, fraction] = [m[1], m[2]];
    if (whole === '' && (fraction === undefined || fraction === '')) throw invalid();
    s = s.slice(m[0].length);
    const unitText = /^[^0-9.]*/.exec(s)![0];
    if (unitText === '') throw new Error(`time: missing unit in duration ${goTimeQuote(text)}`);
    s = s.slice(unitText.length);
    const unit = NANOSECONDS[unitText];
    if (unit === undefined) throw new Error(`time: unknown unit ${goTimeQuote(unitText)} in duration ${goTimeQuote(text)}`);
    const v = BigInt(whole || '0');
    if (v > limit / unit) throw invalid();
    let ns = v * unit;
    if (fraction) ns += BigInt(Math.floor(Number(`0.${fraction}`) * Number(unit)));
    total += ns;
    if (total > limit) throw invalid();
  }
  if (!negative && total > limit - 1n) throw invalid();
  return (negative ? -Number(total) : Number(total)) / 1e9;
}

/** Argo Rollouts' counters of one metric (MetricResult @ v1.8.3). */
export interface MetricCounters {
  /** measurements that were not Errors */
  count: number;
  successful: number;
  failed: number;
  inconclusive: number;
  error: number;
  consecutiveError: number;
  consecutiveSuccess: number;
}

/**
 * One metric of a running AnalysisRun: feed it each measurement's phase and it keeps Argo's
 * counters and decides the metric as analysis/analysis.go assessMetricStatus does @ v1.8.3:
 *
 * - Errors do not count towards `count` and are retried after 10 s; every measurement but a
 *   Successful one breaks the success streak, Errors included;
 * - first the limits, the later winning: Failed when failures exceed failureLimit (unless it is
 *   -1), Inconclusive when inconclusives exceed inconclusiveLimit, Error when consecutive errors
 *   exceed consecutiveErrorLimit; each with Argo's message (`failed (2) > failureLimit (1)`);
 * - then the success streak: Successful once consecutiveSuccessLimit successes came in a row;
 * - then the count: Successful once `count` measurements were taken, unless a
 *   consecutiveSuccessLimit was set and not reached: then Inconclusive, or Failed when
 *   failureLimit is -1 (these phases carry no message);
 * - a metric without a count runs until one of the above decides it.
 */
export class MetricRun {
  /** when the next measurement is due, in seconds after the run started */
  public nextAt: number;
  /** the metric's phase once decided */
  public phase?: MeasurementPhase;
  /** when the phase was decided */
  public decidedAt?: number;
  /** Argo's limit message when a limit decided the phase; '' when the success streak or the count did */
  public message = '';
  public readonly counters: MetricCounters = { count: 0, successful: 0, failed: 0, inconclusive: 0, error: 0, consecutiveError: 0, consecutiveSuccess: 0 };
  private readonly count: number | undefined;

  constructor(public readonly schedule: MetricSchedule) {
    this.nextAt = schedule.initialDelaySeconds;
    this.count = effectiveCount(schedule);
  }

  /** whether the metric runs until a limit, its success streak or the run's end decides it */
  public get indefinite(): boolean {
    return this.count === undefined;
  }

  /** Records the measurement taken at `now` (analysis.go runMeasurements); returns the metric's phase if this decided it. */
  public record(phase: MeasurementPhase, now: number): MeasurementPhase | undefined {
    if (this.phase !== undefined) throw new Error(`a measurement at ${now}s of a metric already ${this.phase} at ${this.decidedAt}s`);
    const c = this.counters;
    if (phase === MeasurementPhase.ERROR) {
      c.error++;
      c.consecutiveError++;
      c.consecutiveSuccess = 0;
    } else {
      c.count++;
      c.consecutiveError = 0;
      if (phase === MeasurementPhase.SUCCESSFUL) {
        c.successful++;
        c.consecutiveSuccess++;
      } else {
        c.consecutiveSuccess = 0;
        if (phase === MeasurementPhase.FAILED) c.failed++;
        else c.inconclusive++;
      }
    }
    const assessed = this.assess();
    if (assessed) {
      this.phase = assessed;
      this.decidedAt = now;
    }
    this.nextAt = now + (phase === MeasurementPhase.ERROR ? ARGO_ERROR_RETRY_SECONDS : this.schedule.intervalSeconds);
    return assessed;
  }

  /** analysis.go assessMetricStatus after a completed measurement, not terminating */
  private assess(): MeasurementPhase | undefined {
    const s = this.schedule;
    const c = this.counters;
    let limit: MeasurementPhase | undefined;
    if (s.failureLimit >= 0 && c.failed > s.failureLimit) {
      limit = MeasurementPhase.FAILED;
      this.message = `failed (${c.failed}) > failureLimit (${s.failureLimit})`;
    }
    if (c.inconclusive > s.inconclusiveLimit) {
      limit = MeasurementPhase.INCONCLUSIVE;
      this.message = `inconclusive (${c.inconclusive}) > inconclusiveLimit (${s.inconclusiveLimit})`;
    }
    if (c.consecutiveError > s.consecutiveErrorLimit) {
      limit = MeasurementPhase.ERROR;
      this.message = `consecutiveErrors (${c.consecutiveError}) > consecutiveErrorLimit (${s.consecutiveErrorLimit})`;
    }
    if (limit) return limit;
    if (s.consecutiveSuccessLimit > 0 && c.consecutiveSuccess >= s.consecutiveSuccessLimit) return MeasurementPhase.SUCCESSFUL;
    if (this.count !== undefined && c.count >= this.count) {
      if (s.consecutiveSuccessLimit > 0) return s.failureLimit >= 0 ? MeasurementPhase.INCONCLUSIVE : MeasurementPhase.FAILED;
      return MeasurementPhase.SUCCESSFUL;
    }
    return undefined;
  }

  /**
   * The metric's phase when the run terminates before it is decided (assessMetricStatus with
   * terminating): Successful once it has measured; undefined when it never measured (Argo keeps
   * no result for it).
   */
  public phaseOnTermination(): MeasurementPhase | undefined {
    if (this.phase !== undefined) return this.phase;
    return this.counters.count + this.counters.error > 0 ? MeasurementPhase.SUCCESSFUL : undefined;
  }
}

/** How a metric ends; `message` is Argo's limit message ('' when the streak or the count decided it). */
export interface MetricEnd {
  readonly phase: MeasurementPhase;
  readonly atSeconds: number;
  readonly message: string;
}

/**
 * How a metric ends when its measurement at each time has the phase `phaseAt` gives, with no
 * other metric ending the run; undefined when it is still running after `untilSeconds`. A metric
 * without a count needs a finite `untilSeconds`: it may never end.
 */
export function simulateMetric(s: MetricSchedule, phaseAt: (atSeconds: number) => MeasurementPhase, untilSeconds = Infinity): MetricEnd | undefined {
  const run = new MetricRun(s);
  if (run.indefinite && untilSeconds === Infinity) throw new Error('a metric with an interval and no count may run until the run ends: give simulateMetric a finite untilSeconds');
  for (;;) {
    const at = run.nextAt;
    if (at > untilSeconds) return undefined;
    const phase = run.record(phaseAt(at), at);
    if (phase) return { phase, atSeconds: at, message: run.message };
  }
}
