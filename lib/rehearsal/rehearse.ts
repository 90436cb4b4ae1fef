import { replayAnalysisRun, RunOutcome } from './argo-replay';
import { QueryAnswer } from './prometheus-engine';
import { builtInScenarios, Scenario } from './scenarios';
import { openMetrics, PlacedScenario, placeScenarios } from './series';
import { RehearsalGate, RehearsalInputError, RehearsalTarget } from './target';

/** Anything that answers instant queries at a Unix time: the Prometheus engine. */
export interface QueryEngine {
  query(expr: string, time: number): Promise<QueryAnswer>;
}

/** The scenarios of a target, placed in time, and the series that back them. */
export interface RehearsalData {
  readonly placed: readonly PlacedScenario[];
  /** the OpenMetrics text to backfill */
  readonly openMetrics: string;
}

/** One scenario's result. */
export interface ScenarioResult {
  readonly scenario: Scenario;
  readonly outcome: RunOutcome;
  /** whether the verdict is the expected one */
  readonly asExpected: boolean;
}

/** The built-in scenarios of a target and their series. */
export function prepareRehearsal(target: RehearsalTarget, scenarios: readonly Scenario[] = builtInScenarios(target)): RehearsalData {
  const placed = placeScenarios(target, scenarios);
  return { placed, openMetrics: openMetrics(target, placed) };
}

/** The value of each step argument in a placed scenario, as Argo Rollouts would resolve it. */
function argumentValues(target: RehearsalTarget, placed: PlacedScenario): Record<string, string> {
  return Object.fromEntries(target.args.map((a) => {
    if (a.value !== undefined) return [a.name, a.value];
    if (a.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace') return [a.name, target.namespace];
    if (a.valueFrom?.podTemplateHashValue === 'Latest') return [a.name, placed.canaryHash];
    if (a.valueFrom?.podTemplateHashValue === 'Stable') return [a.name, placed.stableHash];
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

/** Replays the AnalysisRun of every placed scenario against the engine. */
export async function runScenarios(target: RehearsalTarget, data: RehearsalData, engine: QueryEngine): Promise<ScenarioResult[]> {
  return Promise.all(data.placed.map(async (placed) => {
    const values = argumentValues(target, placed);
    const gates: RehearsalGate[] = target.gates.map((g) => ({
      ...g,
      query: substituteArgs(g.query, values, g.name),
      successCondition: g.successCondition && substituteArgs(g.successCondition, values, g.name),
      failureCondition: g.failureCondition && substituteArgs(g.failureCondition, values, g.name),
    }));
    const outcome = await replayAnalysisRun(gates, (gate, at) => engine.query(gate.query, placed.origin + at));
    return { scenario: placed.scenario, outcome, asExpected: outcome.verdict === placed.scenario.expected };
  }));
}

/** Whether every verdict was the expected one. */
export function allAsExpected(results: readonly ScenarioResult[]): boolean {
  return results.every((r) => r.asExpected);
}
