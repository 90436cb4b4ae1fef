import { MeasurementPhase } from '../analysis/condition';
import { GateKind } from '../model/gates';
import { replayAnalysisRun, RunOutcome, RunPhase } from './argo-replay';
import { QueryAnswer } from './prometheus-engine';
import { builtInScenarios, Expectation, Scenario } from './scenarios';
import { openMetrics, PlacedScenario, placeScenarios, slotsUsed, Trial } from './series';
import { seriesReadBy } from './series-filter';
import { RehearsalGate, RehearsalInputError, RehearsalTarget } from './target';

/** Anything that answers instant queries at a Unix time: the Prometheus engine. */
export interface QueryEngine {
  query(expr: string, time: number): Promise<QueryAnswer>;
}

/** How many trials of each scenario, the seed they are drawn from, and which series are written. */
export interface TrialOptions {
  /** trials per scenario @default 100 */
  readonly trials?: number;
  /** the seed of the random phases @default 1 */
  readonly seed?: number;
  /**
   * Which of the model's series are written: `'read'`, only those a selector of the target's
   * gate queries (or of {@link alsoReadBy}'s) can match, since no other series can change an
   * answer; `'all'`, every series of the model, to look at the model itself.
   * @default 'read'
   */
  readonly series?: 'read' | 'all';
  /** More queries per target whose series are written: other gates to replay on the same data, or queries of the caller's own. */
  readonly alsoReadBy?: (target: RehearsalTarget) => readonly string[];
  /**
   * Draw each request (Poisson arrivals, failures and latencies at the scenario's true rates), as a
   * cluster does; without, counts are rate x time and shares exact.
   * @default true
   */
  readonly noise?: boolean;
}

/** One target's scenarios, placed in time with their trials. */
export interface PlacedTarget {
  readonly target: RehearsalTarget;
  readonly placed: readonly PlacedScenario[];
  /**
   * The queries its series were written for (its gates', and any others asked for), or
   * undefined when every series of the model was written. {@link runScenarios} refuses gates
   * outside this list: they could read series that were left out.
   */
  readonly readBy?: readonly string[];
}

/** The scenarios of every target, placed in time with their trials, and the series that back them. */
export interface RehearsalData {
  readonly targets: readonly PlacedTarget[];
  /** the OpenMetrics text to backfill, one chunk per scenario that has series (all of them at once: for small runs and tests) */
  readonly chunks: readonly string[];
  /** the same chunks, written one at a time as they are read: a large run never holds them all */
  stream(): Iterable<string>;
}

/** One trial's result. */
export interface TrialResult {
  readonly trial: Trial;
  readonly outcome: RunOutcome;
  readonly asExpected: boolean;
}

/**
 * The share of a scenario's trials that must be as expected: good canaries promoted in 99 % (a
 * disturbed one never aborted after the disturbance either), bad ones stopped in every trial, and
 * at a point of a gate's operating characteristic the chance its design bounds (at `good`, at most
 * falseStop not promoted; at `bad`, at most falsePromote promoted).
 */
export function requiredShare(scenario: Scenario): number {
  switch (scenario.expectation) {
    case Expectation.PROMOTED:
    case Expectation.NOT_ABORTED: return 0.99;
    case Expectation.STOPPED: return 1;
    case Expectation.MEASURED: return scenario.point?.bound ? 1 - scenario.point.bound.atMost : 0;
  }
}

/** One scenario's results over its trials. */
export interface ScenarioResult {
  readonly target: RehearsalTarget;
  readonly scenario: Scenario;
  readonly trials: readonly TrialResult[];
  /** the share of trials with an expected verdict */
  readonly share: number;
  /** how many trials ended with each verdict */
  readonly verdicts: Readonly<Partial<Record<RunPhase, number>>>;
  /** time to verdict over the trials, in seconds after the AnalysisRun started */
  readonly decidedAfter: { readonly p50: number; readonly p95: number };
  /** whether the share reaches {@link requiredShare} (and, for a disturbed good canary, none was aborted after the disturbance) */
  readonly asExpected: boolean;
}

/** The built-in scenarios of each target, with their trials and series. */
export function prepareRehearsal(targets: RehearsalTarget | readonly RehearsalTarget[], options: TrialOptions = {}, scenariosOf: (t: RehearsalTarget) => Scenario[] = builtInScenarios): RehearsalData {
  const trials = options.trials ?? 100;
  const seed = options.seed ?? 1;
  let slot = 0;
  const list = (Array.isArray(targets) ? targets : [targets]) as readonly RehearsalTarget[];
  const placedTargets = list.map((target): PlacedTarget => {
    const scenarios = scenariosOf(target);
    const placed = placeScenarios(target, scenarios, trials, seed, slot, options.noise ?? true);
    slot += slotsUsed(target, scenarios);
    if (options.series === 'all') return { target, placed };
    return { target, placed, readBy: [...new Set([...target.gates.map((g) => g.query), ...(options.alsoReadBy?.(target) ?? [])])] };
  });
  function* stream(): Iterable<string> {
    for (const { target, placed, readBy } of placedTargets) {
      for (const p of placed) {
        // a scenario that replays some gates needs only the series they (and the caller's queries) read
        const queries = readBy && [...new Set([...gatesOf(target, p.scenario).map((g) => g.query), ...(options.alsoReadBy?.(target) ?? [])])];
        const chunk = openMetrics(target, p, queries && seriesReadBy(queries));
        if (chunk.length > 0) yield chunk;
      }
    }
  }
  let chunks: string[] | undefined;
  return {
    targets: placedTargets,
    get chunks() {
      return (chunks ??= [...stream()]);
    },
    stream,
  };
}

/** The gates a scenario replays: those it names, else every gate of the target. */
export function gatesOf(target: RehearsalTarget, scenario: Scenario): readonly RehearsalGate[] {
  return scenario.gates ? target.gates.filter((g) => scenario.gates!.includes(g.name)) : target.gates;
}

/** Refuses a gate whose query is not one the target's series were written for. */
function checkSeriesWritten({ target, readBy }: PlacedTarget): void {
  if (!readBy) return;
  const unknown = target.gates.filter((g) => !readBy.includes(g.query));
  if (unknown.length === 0) return;
  throw new RehearsalInputError(`gate${unknown.length > 1 ? 's' : ''} ${unknown.map((g) => `'${g.name}'`).join(', ')} of ${target.source} `
    + 'were not among the queries the series were written for, so they could read series that were left out; '
    + 'prepare the rehearsal with these gates (option alsoReadBy) or with series: \'all\'');
}

/** The value of each step argument in a trial, as Argo Rollouts would resolve it. */
function argumentValues(target: RehearsalTarget, placed: PlacedScenario, trial: Trial): Record<string, string> {
  return Object.fromEntries(target.args.map((a) => {
    if (a.value !== undefined) return [a.name, a.value];
    if (a.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace') return [a.name, target.namespace];
    if (a.valueFrom?.podTemplateHashValue === 'Latest') return [a.name, trial.canaryHash];
    if (a.valueFrom?.podTemplateHashValue === 'Stable') return [a.name, trial.stableHash ?? placed.stableHash];
    throw new RehearsalInputError(`analysis argument '${a.name}' takes its value from ${JSON.stringify(a.valueFrom)}, which the rehearsal cannot resolve; `
      + 'use a value, fieldRef metadata.namespace or podTemplateHashValue');
  }));
}

/** Substitutes `{{args.x}}` as Argo Rollouts does before a measurement; an unknown argument fails the run. */
export function substituteArgs(text: string, values: Readonly<Record<string, string>>, gate: string): string {
  return text.replace(/\{\{\s*args\.([^}\s]+)\s*\}\}/g, (_, name: string) => {
    const v = values[name];
    if (v === undefined) throw new RehearsalInputError(`metric '${gate}' uses {{args.${name}}}, which the analysis step does not pass; Argo Rollouts fails such a run`);
    return v;
  });
}

/**
 * Whether a trial's outcome is what its scenario expects.
 *
 * A good canary must be promoted (or, when its evidence was disturbed, at least not aborted)
 * whatever gates there are: a custom gate that fails a healthy canary is a miss.
 *
 * A bad canary must be stopped with the expected phase by a gate of the expected kind (one of the
 * gates that ended the run at its last look: several may fail at the same scrape). The rule
 * for the gates no scenario can predict, custom gates and gates whose kind the template does not
 * state: when one of them decides the run, stopping the canary (Failed or Inconclusive) is as
 * expected, since the canary had to be stopped and no expectation says what such a gate should
 * see. Its Error (a query that fails) is not.
 */
export function outcomeAsExpected(target: RehearsalTarget, scenario: Scenario, outcome: RunOutcome): boolean {
  const promoted = outcome.verdict === MeasurementPhase.SUCCESSFUL;
  switch (scenario.expectation) {
    case Expectation.PROMOTED:
    case Expectation.NOT_ABORTED: return promoted;
    case Expectation.MEASURED: return scenario.point?.bound?.verdict === 'promoted' ? !promoted : promoted;
    case Expectation.STOPPED: {
      const gate = target.gates.find((g) => g.name === outcome.decidingGate);
      if (gate && isUnpredictable(gate)) return outcome.verdict === MeasurementPhase.FAILED || outcome.verdict === MeasurementPhase.INCONCLUSIVE;
      if (gate?.design && scenario.healthyShares && outcome.verdict === MeasurementPhase.FAILED) return true;
      if (!(scenario.expected as readonly RunPhase[]).includes(outcome.verdict)) return false;
      if (scenario.expectedGate === undefined || sameJudgment(gate?.kind, scenario.expectedGate)) return true;
      // gates that end the run at the same look decide it together: one of the expected kind among them is as expected
      return outcome.gates.some((g) => !g.dryRun && !g.terminated && g.phase === outcome.verdict && g.decidedAfterSeconds === outcome.decidedAfterSeconds
        && sameJudgment(target.gates.find((x) => x.name === g.name)?.kind, scenario.expectedGate!));
    }
  }
}

/** Whether a gate of `kind` judges what a scenario expects of `expected`: a comparison with the stable pods' error ratio judges errors too. */
function sameJudgment(kind: GateKind | undefined, expected: GateKind): boolean {
  return kind === expected || (expected === GateKind.ERROR_RATE && kind === GateKind.ERROR_RATE_VS_STABLE);
}

/**
 * Whether a trial was aborted once its disturbance had begun: a collector restart can abort a
 * canary only after it happens; an abort before it is a sequential test's false stop.
 */
export function abortedByDisruption({ trial, outcome }: Pick<TrialResult, 'trial' | 'outcome'>): boolean {
  return aborts(outcome.verdict) && outcome.decidedAfterSeconds >= (trial.phases.restart?.at ?? 0);
}

/** Whether a verdict aborts the rollout (a paused one waits for a person). */
function aborts(verdict: RunPhase): boolean {
  return verdict === MeasurementPhase.FAILED || verdict === MeasurementPhase.ERROR;
}

/** A gate no scenario expects: a custom gate, or one whose kind is not known. */
function isUnpredictable(gate: RehearsalGate): boolean {
  return gate.kind === undefined || gate.kind === GateKind.CUSTOM;
}

/** The q-quantile of numbers (nearest rank). */
export function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** Runs `work` over `items` with at most `limit` in flight. */
async function pooled<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await work(items[i]);
    }
  }));
  return out;
}

/**
 * How many trials replay at once: all of a scenario's trials look at the same instants, so their
 * queries go to Prometheus together (batching.ts); more in flight makes bigger batches.
 */
const TRIALS_IN_FLIGHT = 1000;

/** Replays the AnalysisRun of every trial of every scenario against the engine. */
export async function runScenarios(data: RehearsalData, engine: QueryEngine): Promise<ScenarioResult[]> {
  data.targets.forEach(checkSeriesWritten);
  const jobs = data.targets.flatMap(({ target, placed }) => placed.flatMap((p) => p.trials.map((trial) => ({ target, placed: p, trial }))));
  const outcomes = await pooled(jobs, TRIALS_IN_FLIGHT, async ({ target, placed, trial }) => {
    const values = argumentValues(target, placed, trial);
    const gates: RehearsalGate[] = gatesOf(target, placed.scenario).map((g) => ({
      ...g,
      query: substituteArgs(g.query, values, g.name),
      successCondition: g.successCondition && substituteArgs(g.successCondition, values, g.name),
      failureCondition: g.failureCondition && substituteArgs(g.failureCondition, values, g.name),
    }));
    return replayAnalysisRun(gates, (gate, at) => engine.query(gate.query, placed.origin + at), { dryRun: target.dryRun });
  });
  let k = 0;
  return data.targets.flatMap(({ target, placed }) => placed.map((p) => {
    const trials = p.trials.map((trial) => {
      const outcome = outcomes[k++];
      return { trial, outcome, asExpected: outcomeAsExpected(target, p.scenario, outcome) };
    });
    const share = trials.filter((t) => t.asExpected).length / trials.length;
    const verdicts: Partial<Record<RunPhase, number>> = {};
    for (const t of trials) verdicts[t.outcome.verdict] = (verdicts[t.outcome.verdict] ?? 0) + 1;
    const times = trials.map((t) => t.outcome.decidedAfterSeconds);
    const neverAborted = p.scenario.expectation !== Expectation.NOT_ABORTED || trials.every((t) => !abortedByDisruption(t));
    return {
      target,
      scenario: p.scenario,
      trials,
      share,
      verdicts,
      decidedAfter: { p50: quantile(times, 0.5), p95: quantile(times, 0.95) },
      asExpected: share >= requiredShare(p.scenario) - 1e-9 && neverAborted,
    };
  }));
}

/** Whether every scenario reached its required share. */
export function allAsExpected(results: readonly ScenarioResult[]): boolean {
  return results.every((r) => r.asExpected);
}
