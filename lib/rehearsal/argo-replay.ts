import { MeasurementPhase, measurementPhase, MeasurementResult } from '../analysis/condition';
import { MetricRun, specOfSchedule, validateMetricSpecs } from '../analysis/schedule';
import { goRegexpMatcher } from '../analysis/go-regexp';
import { RehearsalGate } from './target';

/**
 * Argo Rollouts v1.8.3's AnalysisRun, replayed against a measurement function
 * (analysis/analysis.go reconcileAnalysisRun, generateMetricTasks, runMeasurements,
 * assessMetricStatus, assessRunStatus; utils/analysis/helpers.go):
 *
 * - an invalid spec (utils/analysis/factory.go ValidateMetrics) or a dry-run rule that matches no
 *   metric makes the run Error before any measurement;
 * - a metric's first measurement is taken `initialDelay` after the run starts, the next one
 *   `interval` after the previous, or 10 s after it when it was an Error; its phase is decided by
 *   {@link MetricRun} (limits, success streak, count);
 * - all metrics due at the same time are measured in the same reconciliation; once a metric that
 *   is not a dry run is Failed, Error or Inconclusive the run terminates: no further measurement,
 *   a metric that has measured and is not decided is Successful, one that never measured has no
 *   result (reported as Pending). Argo decides this one reconciliation later, with no measurement
 *   in between, so the measurements and the phases are the same;
 * - dry-run metrics are measured and decided like the others, but neither terminate the run nor
 *   count towards its phase; the run still waits for them;
 * - the run's phase is the worst phase of its decided metrics that are not dry runs (Successful <
 *   Inconclusive < Error < Failed; Successful when there is none) and its message names the first
 *   metric in spec order with that phase, when a limit decided it.
 */

/** A metric's phase as the outcome reports it: Pending, never measured (no result); Running, still measuring at the horizon. */
export type GatePhase = MeasurementPhase | 'Pending' | 'Running';

/** The run's phase: Running when it is still going at the replay's horizon. */
export type RunPhase = MeasurementPhase | 'Running';

/** One measurement of a gate. */
export interface Measurement {
  /** seconds after the AnalysisRun started */
  readonly atSeconds: number;
  /** the query's result as the provider hands it to the conditions */
  readonly result?: MeasurementResult;
  readonly phase: MeasurementPhase;
  /** why it is an Error */
  readonly error?: string;
}

/** A gate's outcome. */
export interface GateOutcome {
  readonly name: string;
  readonly phase: GatePhase;
  /** whether its phase only counts as the dry run's (spec.dryRun): it does not decide the run */
  readonly dryRun: boolean;
  /** whether the gate stopped because the run ended before it was decided */
  readonly terminated: boolean;
  /** seconds after the run started at which the gate's phase was decided (the run's end when it was cut short) */
  readonly decidedAfterSeconds: number;
  /** Argo's message on the metric's result: the last measurement's error, or for a dry run `Metric assessed <phase> due to <limit>` */
  readonly message: string;
  readonly measurements: readonly Measurement[];
}

/** The run's outcome. */
export interface RunOutcome {
  readonly verdict: RunPhase;
  /**
   * the gate whose phase decided the run: the first one (not a dry run) with the run's phase that
   * was decided when the run ended; when it succeeded, the one decided last; when it is still
   * Running, the first one still measuring; an invalid one when the spec is invalid ('' when no
   * metric is at fault)
   */
  readonly decidingGate: string;
  readonly decidedAfterSeconds: number;
  /**
   * Argo's message on the run: `Metric "<name>" assessed <phase> due to <limit>` for the first
   * metric in spec order with the worst phase, when a limit decided it (empty when its success
   * streak or count did, as in Argo); `Analysis spec invalid: ...` for an invalid spec; empty
   * otherwise
   */
  readonly message: string;
  readonly gates: readonly GateOutcome[];
}

/** Takes one measurement: the query's result, or a provider error. */
export type Measure = (gate: RehearsalGate, atSeconds: number) => Promise<{ result?: MeasurementResult; error?: string }>;

/** How to replay. */
export interface ReplayOptions {
  /**
   * the run's dry-run rules (spec.dryRun[].metricName): Go regular expressions matched anywhere in
   * a metric's name; a rule that matches no metric makes the run Error
   */
  readonly dryRun?: readonly string[];
  /**
   * the replay's horizon, in seconds after the run started: no measurement after it, and a run
   * still going then is reported Running. Required when a metric has an interval and no count
   * (it may never end); without one the run is replayed to its end.
   */
  readonly untilSeconds?: number;
}

/** utils/analysis/helpers.go IsWorse: the order of completed phases, worst last */
const WORSE_ORDER = [MeasurementPhase.SUCCESSFUL, MeasurementPhase.INCONCLUSIVE, MeasurementPhase.ERROR, MeasurementPhase.FAILED];
const isWorse = (a: MeasurementPhase, b: MeasurementPhase) => WORSE_ORDER.indexOf(b) > WORSE_ORDER.indexOf(a);

interface GateState {
  readonly gate: RehearsalGate;
  readonly dryRun: boolean;
  readonly measurements: Measurement[];
  readonly run: MetricRun;
}

/** Replays one AnalysisRun. */
export async function replayAnalysisRun(gates: readonly RehearsalGate[], measure: Measure, options: ReplayOptions = {}): Promise<RunOutcome> {
  const invalid = specError(gates, options.dryRun ?? []);
  if (invalid) return invalid;
  const dry = dryRunGates(gates, options.dryRun ?? []);
  const states: GateState[] = gates.map((gate) => ({ gate, dryRun: dry.has(gate.name), measurements: [], run: new MetricRun(gate) }));
  const until = options.untilSeconds ?? Infinity;
  const indefinite = states.find((s) => s.run.indefinite);
  if (indefinite && until === Infinity) {
    throw new Error(`metric '${indefinite.gate.name}' has an interval and no count, so it measures until a limit, its success streak or the run's end decides it: `
      + 'give replayAnalysisRun an untilSeconds to stop at');
  }

  for (;;) {
    const active = states.filter((s) => s.run.phase === undefined);
    if (active.length === 0) return finish(states, Math.max(...states.map((s) => s.run.decidedAt!)), false);
    const now = Math.min(...active.map((s) => s.run.nextAt));
    if (now > until) return finish(states, until, false);
    const due = active.filter((s) => s.run.nextAt === now);
    const results = await Promise.all(due.map((s) => measure(s.gate, now)));
    due.forEach((s, i) => record(s, now, results[i]));
    // IsTerminating: a decided metric that is not a dry run and not Successful ends the run
    if (states.some((s) => !s.dryRun && s.run.decidedAt === now && s.run.phase !== MeasurementPhase.SUCCESSFUL)) return finish(states, now, true);
  }
}

/** The run's Error for an invalid spec (ValidateMetrics) or a dry-run rule that matches nothing (GetDryRunMetrics), as Argo checks them before measuring. */
function specError(gates: readonly RehearsalGate[], rules: readonly string[]): RunOutcome | undefined {
  const error = (message: string, decidingGate: string): RunOutcome => ({
    verdict: MeasurementPhase.ERROR,
    decidingGate,
    decidedAfterSeconds: 0,
    message,
    gates: gates.map((g) => ({ name: g.name, phase: 'Pending', dryRun: false, terminated: true, decidedAfterSeconds: 0, message: '', measurements: [] })),
  });
  const problem = validateMetricSpecs(gates.map((g) => specOfSchedule(g.name, g)));
  if (problem) {
    const where = problem.index === undefined ? '' : `metrics[${problem.index}] (${problem.metric}, field ${problem.field}): `;
    return error(`Analysis spec invalid: ${where}${problem.reason}; ${problem.fix}`, problem.metric ?? '');
  }
  const unmatched = rules.findIndex((rule) => !gates.some((g) => goRegexpMatcher(rule, 'dryRun')(g.name)));
  if (unmatched >= 0) return error(`Analysis spec invalid: dryRun[${unmatched}]: the rule '${rules[unmatched]}' matches no metric name`, '');
  return undefined;
}

function dryRunGates(gates: readonly RehearsalGate[], rules: readonly string[]): Set<string> {
  return new Set(gates.filter((g) => rules.some((rule) => goRegexpMatcher(rule, 'dryRun')(g.name))).map((g) => g.name));
}

function record(s: GateState, now: number, taken: { result?: MeasurementResult; error?: string }): void {
  if (taken.error === undefined && taken.result === undefined) throw new Error(`the measurement of '${s.gate.name}' at ${now}s gave neither a result nor an error`);
  const { phase, error } = taken.error !== undefined
    ? { phase: MeasurementPhase.ERROR, error: taken.error }
    : measurementPhase(s.gate, taken.result!);
  s.measurements.push({ atSeconds: now, result: taken.result, phase, error });
  s.run.record(phase, now);
}

/** The outcome at `at`: the run terminated (a metric failed), completed, or still going at the horizon (assessRunStatus). */
function finish(states: readonly GateState[], at: number, terminating: boolean): RunOutcome {
  let worst: MeasurementPhase | undefined;
  let message = '';
  let completed = true;
  const gates = states.map((s): GateOutcome => {
    const decided = s.run.phase ?? (terminating ? s.run.phaseOnTermination() : undefined);
    // the result's message is the last measurement's, taken when its phase changed
    let own = s.measurements[s.measurements.length - 1]?.error ?? '';
    if (decided === undefined) completed = false;
    else if (!s.dryRun) {
      if (worst === undefined || isWorse(worst, decided)) {
        worst = decided;
        if (s.run.message) message = `Metric "${s.gate.name}" assessed ${decided} due to ${s.run.message}${own ? `: "Error Message: ${own}"` : ''}`;
      }
    } else {
      worst ??= MeasurementPhase.SUCCESSFUL;
      if (s.run.message) own = `Metric assessed ${decided} due to ${s.run.message}`;
    }
    const phase: GatePhase = decided ?? (s.measurements.length > 0 ? 'Running' : 'Pending');
    return {
      name: s.gate.name, phase, dryRun: s.dryRun, terminated: s.run.phase === undefined, decidedAfterSeconds: s.run.decidedAt ?? at, message: own, measurements: s.measurements,
    };
  });
  const verdict: RunPhase = terminating ? worst ?? MeasurementPhase.SUCCESSFUL : !completed || worst === undefined ? 'Running' : worst;
  return { verdict, decidingGate: decidingGate(states, verdict, at), decidedAfterSeconds: at, message: verdict === 'Running' ? '' : message, gates };
}

function decidingGate(states: readonly GateState[], verdict: RunPhase, at: number): string {
  const judged = states.filter((s) => !s.dryRun);
  const pool = judged.length > 0 ? judged : states;
  if (verdict === 'Running') return (pool.find((s) => s.run.phase === undefined) ?? states.find((s) => s.run.phase === undefined))!.gate.name;
  if (verdict === MeasurementPhase.SUCCESSFUL) {
    const decided = pool.filter((s) => s.run.decidedAt !== undefined);
    if (decided.length === 0) return pool[0].gate.name;
    return decided.reduce((last, s) => (s.run.decidedAt! > last.run.decidedAt! ? s : last)).gate.name;
  }
  const same = pool.filter((s) => s.run.phase === verdict);
  return (same.find((s) => s.run.decidedAt === at) ?? same[0]).gate.name;
}
