import { parseDurationSeconds } from '../util';
import { MeasurementPhase } from './condition';

/**
 * Argo Rollouts v1.8.3's schedule and limits of one analysis metric: when it measures and
 * when it is decided. The rehearsal replays measurements through it, the explain timeline
 * simulates them, and the rules read a template's timings with it.
 */

/** How long Argo Rollouts waits before retrying a measurement that ended in Error. */
export const ARGO_ERROR_RETRY_SECONDS = 10;

/** The consecutiveErrorLimit Argo Rollouts uses when a metric sets none. */
export const ARGO_DEFAULT_CONSECUTIVE_ERROR_LIMIT = 4;

/** When a metric measures and how many bad measurements it tolerates, in seconds and counts. */
export interface MetricSchedule {
  readonly initialDelaySeconds: number;
  /** 0 when the metric measures once */
  readonly intervalSeconds: number;
  readonly count: number;
  readonly failureLimit: number;
  readonly inconclusiveLimit: number;
  readonly consecutiveErrorLimit: number;
}

/** The timing fields of a metric as written in a template. */
export interface PlainMetricTiming {
  readonly initialDelay?: unknown;
  readonly interval?: unknown;
  readonly count?: unknown;
  readonly failureLimit?: unknown;
  readonly inconclusiveLimit?: unknown;
  readonly consecutiveErrorLimit?: unknown;
}

/**
 * Reads a metric's timing with Argo Rollouts' defaults (no initialDelay: 0; no interval: one
 * measurement; limits 0 and consecutiveErrorLimit 4). Throws, naming the field, on a value
 * that is not a plain duration or whole number (e.g. an argument) and on an interval without
 * a count (such a metric measures until the rollout ends).
 */
export function readMetricSchedule(m: PlainMetricTiming): MetricSchedule {
  const seconds = (field: string, v: unknown): number => {
    try {
      return parseDurationSeconds(String(v));
    } catch (e) {
      throw new Error(`${field}: ${(e as Error).message}`);
    }
  };
  const int = (field: string, v: unknown, fallback: number | undefined): number => {
    if (v === undefined) {
      if (fallback === undefined) throw new Error(`${field} is missing; a metric with an interval and no count measures until the rollout ends`);
      return fallback;
    }
    const n = typeof v === 'number' ? v : Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`${field} must be a whole number, got '${String(v)}' (arguments in limits are not supported)`);
    return n;
  };
  const interval = m.interval === undefined ? undefined : seconds('interval', m.interval);
  return {
    initialDelaySeconds: m.initialDelay === undefined ? 0 : seconds('initialDelay', m.initialDelay),
    intervalSeconds: interval ?? 0,
    count: int('count', m.count, interval === undefined ? 1 : undefined),
    failureLimit: int('failureLimit', m.failureLimit, 0),
    inconclusiveLimit: int('inconclusiveLimit', m.inconclusiveLimit, 0),
    consecutiveErrorLimit: int('consecutiveErrorLimit', m.consecutiveErrorLimit, ARGO_DEFAULT_CONSECUTIVE_ERROR_LIMIT),
  };
}

/**
 * One metric of a running AnalysisRun: feed it each measurement's phase and it keeps Argo's
 * counters. Error measurements do not count towards `count` and are retried after 10 s; the
 * metric is Failed when failures exceed failureLimit, Inconclusive when inconclusives exceed
 * inconclusiveLimit, Error when consecutive errors exceed consecutiveErrorLimit (checked in
 * that order, the later winning), else Successful once `count` measurements were taken.
 */
export class MetricRun {
  /** when the next measurement is due, in seconds after the run started */
  public nextAt: number;
  /** the metric's phase once decided */
  public phase?: MeasurementPhase;
  /** when the phase was decided */
  public decidedAt?: number;
  private counted = 0;
  private failed = 0;
  private inconclusive = 0;
  private consecutiveErrors = 0;

  constructor(public readonly schedule: MetricSchedule) {
    this.nextAt = schedule.initialDelaySeconds;
  }

  /** Records the measurement taken at `now`; returns the metric's phase if this decided it. */
  public record(phase: MeasurementPhase, now: number): MeasurementPhase | undefined {
    const s = this.schedule;
    if (phase === MeasurementPhase.ERROR) {
      this.consecutiveErrors++;
    } else {
      this.counted++;
      this.consecutiveErrors = 0;
      if (phase === MeasurementPhase.FAILED) this.failed++;
      if (phase === MeasurementPhase.INCONCLUSIVE) this.inconclusive++;
    }
    let assessed: MeasurementPhase | undefined;
    if (this.failed > s.failureLimit) assessed = MeasurementPhase.FAILED;
    if (this.inconclusive > s.inconclusiveLimit) assessed = MeasurementPhase.INCONCLUSIVE;
    if (this.consecutiveErrors > s.consecutiveErrorLimit) assessed = MeasurementPhase.ERROR;
    if (!assessed && this.counted >= s.count) assessed = MeasurementPhase.SUCCESSFUL;
    if (assessed) {
      this.phase = assessed;
      this.decidedAt = now;
    }
    this.nextAt = now + (phase === MeasurementPhase.ERROR ? ARGO_ERROR_RETRY_SECONDS : s.intervalSeconds);
    return assessed;
  }
}
