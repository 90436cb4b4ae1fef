import { MeasurementPhase } from '../lib/analysis/condition';
import { replayAnalysisRun } from '../lib/rehearsal/argo-replay';
import type { RehearsalGate } from '../lib/rehearsal/target';

// GIVEN gates with small timings and a scripted measurement function
function gate(name: string, overrides: Partial<RehearsalGate> = {}): RehearsalGate {
  return {
    name, query: name, successCondition: 'len(result) > 0 && result[0] < 1',
    initialDelaySeconds: 0, intervalSeconds: 30, specCount: 3, failureLimit: 1, inconclusiveLimit: 0, consecutiveErrorLimit: 2, consecutiveSuccessLimit: 0,
    ...overrides,
  };
}

/** A measurement function from a script per gate: a number is a one-sample result, null an empty one, a string a provider error. */
function scripted(script: Record<string, (number | null | string)[]>) {
  const taken: Record<string, number> = {};
  return async (g: RehearsalGate) => {
    const i = taken[g.name] = (taken[g.name] ?? -1) + 1;
    const v = script[g.name][Math.min(i, script[g.name].length - 1)];
    return typeof v === 'string' ? { error: v } : { result: v === null ? [] : [v] };
  };
}

describe('Argo Rollouts v1.8.3 schedule', () => {
  test('a gate completes Successful after count measurements, one interval apart from initialDelay', async () => {
    const o = await replayAnalysisRun([gate('a', { initialDelaySeconds: 60 })], scripted({ a: [0] }));
    expect(o).toMatchObject({ verdict: 'Successful', decidingGate: 'a', decidedAfterSeconds: 120 });
    expect(o.gates[0].measurements.map((m) => m.atSeconds)).toEqual([60, 90, 120]);
  });

  test('failures must exceed failureLimit: limit 1 fails on the second failure', async () => {
    const o = await replayAnalysisRun([gate('a')], scripted({ a: [5, 0, 5] }));
    expect(o).toMatchObject({ verdict: 'Failed', decidedAfterSeconds: 60 });
    expect(o.gates[0].measurements.map((m) => m.phase)).toEqual(['Failed', 'Successful', 'Failed']);
  });

  test('errors are retried after 10s, do not count towards count, and end the metric when consecutive ones exceed the limit', async () => {
    const ok = await replayAnalysisRun([gate('a')], scripted({ a: ['down', 'down', 0] }));
    expect(ok.gates[0].measurements.map((m) => [m.atSeconds, m.phase])).toEqual([[0, 'Error'], [10, 'Error'], [20, 'Successful'], [50, 'Successful'], [80, 'Successful']]);
    const bad = await replayAnalysisRun([gate('a')], scripted({ a: ['down'] }));
    expect(bad).toMatchObject({ verdict: 'Error', decidedAfterSeconds: 20 });
  });

  test('an empty result under an unguarded condition is an Error', async () => {
    const o = await replayAnalysisRun([gate('a', { successCondition: 'result[0] < 1' })], scripted({ a: [null] }));
    expect(o.verdict).toBe(MeasurementPhase.ERROR);
  });

  test('both conditions false is Inconclusive; exceeding inconclusiveLimit ends the run Inconclusive', async () => {
    const o = await replayAnalysisRun([gate('a', { failureCondition: 'result[0] > 5' })], scripted({ a: [3] }));
    expect(o).toMatchObject({ verdict: 'Inconclusive', decidedAfterSeconds: 0 });
  });

  test('the run stops at the first metric that ends badly; the others stop with it', async () => {
    const o = await replayAnalysisRun([
      gate('slow', { initialDelaySeconds: 100 }),
      gate('running', { specCount: 10 }),
      gate('bad', { failureLimit: 0, initialDelaySeconds: 30 }),
    ], scripted({ slow: [0], running: [0], bad: [5] }));
    expect(o).toMatchObject({ verdict: 'Failed', decidingGate: 'bad', decidedAfterSeconds: 30 });
    expect(o.gates.map((g) => [g.name, g.phase, g.terminated, g.decidedAfterSeconds, g.measurements.length])).toEqual([
      ['slow', 'Pending', true, 30, 0],
      // Argo records a metric cut short by the run's end as Successful ("Run Terminated")
      ['running', 'Successful', true, 30, 2],
      ['bad', 'Failed', false, 30, 1],
    ]);
  });

  test('metrics ending badly at the same time: the worst phase wins (Failed over Error)', async () => {
    const o = await replayAnalysisRun([
      gate('errors', { consecutiveErrorLimit: 0 }),
      gate('fails', { failureLimit: 0 }),
    ], scripted({ errors: ['down'], fails: [5] }));
    expect(o).toMatchObject({ verdict: 'Failed', decidingGate: 'fails', decidedAfterSeconds: 0 });
  });
});
