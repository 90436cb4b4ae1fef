import { MeasurementPhase, MeasurementResult, measurementPhase } from '../analysis/condition';
import { MetricRun } from '../analysis/schedule';
import { RehearsalGate } from './target';

/**
 * Argo Rollouts v1.8.3's AnalysisRun schedule and phase rules, replayed against a
 * measurement function (analysis/analysis.go: generateMetricTasks, runMeasurements,
 * assessMetricStatus, assessRunStatus):
 *
 * - a metric's first measurement is taken `initialDelay` after the run starts, the next one
 *   `interval` after the previous finished, or 10 s after it when it was an Error;
 * - Error measurements do not count towards `count`; the others do;
 * - a metric is Failed when failures exceed `failureLimit`, Inconclusive when inconclusives exceed
 *   `inconclusiveLimit`, Error when consecutive errors exceed `consecutiveErrorLimit` (checked in
 *   that order, the later one winning), else Successful once `count` measurements were taken;
 * - all metrics due at the same time are measured in the same reconciliation; once one is Failed,
 *   Error or Inconclusive the run takes no further measurement, and its phase is the worst
 *   completed phase (Successful < Inconclusive < Error < Failed). Argo records a metric that was
 *   cut short this way as Successful ("Run Terminated"); one never measured has no result at all,
 *   which we report as Pending.
 */

/** A phase as Argo Rollouts names it. Pending: the metric was never measured. */
export type GatePhase = MeasurementPhase | 'Pending';

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
  /** whether the gate stopped because another gate ended the run */
  readonly terminated: boolean;
  /** seconds after the run started at which the gate's phase was decided */
  readonly decidedAfterSeconds: number;
  readonly measurements: readonly Measurement[];
}

/** The run's outcome. */
export interface RunOutcome {
  readonly verdict: MeasurementPhase;
  /** the gate whose phase decided the run (the first one with the run's phase) */
  readonly decidingGate: string;
  readonly decidedAfterSeconds: number;
  readonly gates: readonly GateOutcome[];
}

/** Takes one measurement: the query's result, or a provider error. */
export type Measure = (gate: RehearsalGate, atSeconds: number) => Promise<{ result?: MeasurementResult; error?: string }>;

const WORSE_ORDER = [MeasurementPhase.SUCCESSFUL, MeasurementPhase.INCONCLUSIVE, MeasurementPhase.ERROR, MeasurementPhase.FAILED];

interface GateState {
  readonly gate: RehearsalGate;
  readonly measurements: Measurement[];
  readonly run: MetricRun;
}

/** Replays one AnalysisRun. */
export async function replayAnalysisRun(gates: readonly RehearsalGate[], measure: Measure): Promise<RunOutcome> {
  if (gates.length === 0) throw new Error('the AnalysisTemplate has no metrics to rehearse');
  const states: GateState[] = gates.map((gate) => ({ gate, measurements: [], run: new MetricRun(gate) }));
  const running = () => states.filter((s) => s.run.phase === undefined);

  for (;;) {
    const active = running();
    if (active.length === 0) break;
    const now = Math.min(...active.map((s) => s.run.nextAt));
    const due = active.filter((s) => s.run.nextAt === now);
    const results = await Promise.all(due.map((s) => measure(s.gate, now)));
    due.forEach((s, i) => record(s, now, results[i]));
    const ended = states.filter((s) => s.run.decidedAt === now && s.run.phase !== MeasurementPhase.SUCCESSFUL);
    if (ended.length > 0) return finish(states, now);
  }
  return finish(states, Math.max(...states.map((s) => s.run.decidedAt!)));
}

function record(s: GateState, now: number, taken: { result?: MeasurementResult; error?: string }): void {
  const { phase, error } = taken.error !== undefined
    ? { phase: MeasurementPhase.ERROR, error: taken.error }
    : measurementPhase(s.gate, taken.result!);
  s.measurements.push({ atSeconds: now, result: taken.result, phase, error });
  s.run.record(phase, now);
}

function finish(states: GateState[], at: number): RunOutcome {
  const gates: GateOutcome[] = states.map((s) => ({
    name: s.gate.name,
    phase: s.run.phase ?? (s.measurements.length > 0 ? MeasurementPhase.SUCCESSFUL : 'Pending'),
    terminated: s.run.phase === undefined,
    decidedAfterSeconds: s.run.decidedAt ?? at,
    measurements: s.measurements,
  }));
  const completed = states.map((s) => s.run).filter((r) => r.phase !== undefined);
  const verdict = completed.map((r) => r.phase!).reduce((worst, p) => (WORSE_ORDER.indexOf(p) > WORSE_ORDER.indexOf(worst) ? p : worst), MeasurementPhase.SUCCESSFUL);
  const deciding = verdict === MeasurementPhase.SUCCESSFUL
    ? states.reduce((last, s) => (s.run.decidedAt! > last.run.decidedAt! ? s : last))
    : states.find((s) => s.run.phase === verdict && s.run.decidedAt === at)!;
  return { verdict, decidingGate: deciding.gate.name, decidedAfterSeconds: at, gates };
}
