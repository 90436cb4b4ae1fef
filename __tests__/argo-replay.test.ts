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

/*
 * The run: argoproj/argo-rollouts analysis/analysis_test.go and utils/analysis/helpers_test.go
 * @ v1.8.3, each case naming its test. Upstream tests set metric results directly; here each
 * metric's measurements are scripted so its result ends as the test has it.
 */
describe('Argo Rollouts v1.8.3 run phase, message, termination and dry-run', () => {
  /** a metric decided by its first measurement: count 1, default limits */
  const once = (name: string, overrides: Partial<RehearsalGate> = {}) => gate(name, { specCount: 1, intervalSeconds: 0, failureLimit: 0, consecutiveErrorLimit: 4, ...overrides });
  /** a metric that measures every 30 s until the run ends */
  const forever = (name: string, overrides: Partial<RehearsalGate> = {}) => gate(name, { specCount: 0, failureLimit: 0, ...overrides });
  const OK = 0;
  const BAD = 5;

  test('TestAssessRunStatus: Successful and Running is Running, with no message', async () => {
    const o = await replayAnalysisRun([once('succeeds'), forever('runs')], scripted({ succeeds: [OK], runs: [OK] }), { untilSeconds: 100 });
    expect(o).toMatchObject({ verdict: 'Running', message: '', decidedAfterSeconds: 100 });
    expect(o.gates.map((g) => [g.name, g.phase])).toEqual([['succeeds', 'Successful'], ['runs', 'Running']]);
  });

  test('TestReconcileAnalysisRunInitial: an interval without a count keeps measuring; count 1 and count 0 without interval succeed at once', async () => {
    const running = await replayAnalysisRun([forever('m', { intervalSeconds: 60 })], scripted({ m: [OK] }), { untilSeconds: 0 });
    expect([running.verdict, running.gates[0].phase, running.gates[0].measurements.length]).toEqual(['Running', 'Running', 1]);
    for (const specCount of [1, 0]) {
      const o = await replayAnalysisRun([once('m', { specCount })], scripted({ m: [OK] }));
      expect([o.verdict, o.decidedAfterSeconds]).toEqual([MeasurementPhase.SUCCESSFUL, 0]);
    }
  });

  test.each([
    ['Failed', { failureLimit: 0 }, BAD],
    ['Inconclusive', { failureCondition: 'result[0] > 9' }, BAD],
    ['Error', { consecutiveErrorLimit: 0 }, 'down'],
  ] as const)('TestReconcileAnalysisRunTerminateSiblingAfterFail: %s', async (phase, overrides, value) => {
    const o = await replayAnalysisRun([once('failed-metric', overrides), forever('run-forever')], scripted({ 'failed-metric': [value], 'run-forever': [OK] }), { untilSeconds: 3600 });
    expect(o.verdict).toBe(phase);
    expect(o.gates.map((g) => [g.name, g.phase, g.terminated])).toEqual([['failed-metric', phase, false], ['run-forever', 'Successful', true]]);
  });

  test('TestAssessRunStatusErrorMessageAnalysisPhaseFail: the message names the metric and its limit', async () => {
    const o = await replayAnalysisRun([once('run-forever'), once('failed-metric')], scripted({ 'run-forever': [OK], 'failed-metric': [BAD] }));
    expect([o.verdict, o.message]).toEqual([MeasurementPhase.FAILED, 'Metric "failed-metric" assessed Failed due to failed (1) > failureLimit (0)']);
  });

  test('TestAssessRunStatusErrorMessageAnalysisPhaseFailInDryRunMode: dry-run metrics decide nothing and carry their own message', async () => {
    const o = await replayAnalysisRun([once('run-forever'), once('failed-metric')], scripted({ 'run-forever': [OK], 'failed-metric': [BAD] }), { dryRun: ['.*'] });
    expect([o.verdict, o.message]).toEqual([MeasurementPhase.SUCCESSFUL, '']);
    expect(o.gates.map((g) => [g.phase, g.dryRun, g.message])).toEqual([
      ['Successful', true, ''],
      ['Failed', true, 'Metric assessed Failed due to failed (1) > failureLimit (0)'],
    ]);
  });

  test('TestAssessRunStatusErrorMessageFromProvider: the last measurement\'s error is appended', async () => {
    // adapted: a metric ended by an Error measurement carries the provider's message, as a Prometheus one does
    const o = await replayAnalysisRun([once('run-forever'), once('failed-metric', { consecutiveErrorLimit: 0 })], scripted({ 'run-forever': [OK], 'failed-metric': ['Provider Error'] }));
    expect(o.message).toBe('Metric "failed-metric" assessed Error due to consecutiveErrors (1) > consecutiveErrorLimit (0): "Error Message: Provider Error"');
  });

  test('TestAssessRunStatusMultipleFailures / ...InDryRunMode: the first metric in spec order names the run', async () => {
    const script = scripted({ 'run-forever': [BAD], 'failed-metric': [BAD] });
    const o = await replayAnalysisRun([once('run-forever'), once('failed-metric')], script);
    expect([o.verdict, o.message]).toEqual([MeasurementPhase.FAILED, 'Metric "run-forever" assessed Failed due to failed (1) > failureLimit (0)']);
    const dry = await replayAnalysisRun([once('run-forever'), once('failed-metric')], scripted({ 'run-forever': [BAD], 'failed-metric': [BAD] }), { dryRun: ['run-forever', 'failed-metric'] });
    expect([dry.verdict, dry.message, dry.gates.map((g) => g.phase)]).toEqual([MeasurementPhase.SUCCESSFUL, '', ['Failed', 'Failed']]);
  });

  test('TestAssessRunStatusWithMixedMetrics: a dry-run failure is ignored, the other metric decides', async () => {
    const o = await replayAnalysisRun(
      [once('run-forever', { failureCondition: 'result[0] > 9' }), once('success-metric')],
      scripted({ 'run-forever': [BAD], 'success-metric': [BAD] }), { dryRun: ['success-metric'] });
    expect([o.verdict, o.message]).toEqual([MeasurementPhase.INCONCLUSIVE, 'Metric "run-forever" assessed Inconclusive due to inconclusive (1) > inconclusiveLimit (0)']);
  });

  test('TestAssessRunStatusWithOnlyDryRunMetrics / research note §8.4: only dry-run metrics, all failing: Successful', async () => {
    const o = await replayAnalysisRun([once('a'), once('b')], scripted({ a: [BAD], b: ['down'] }), { dryRun: ['a', 'b'] });
    expect(o.verdict).toBe(MeasurementPhase.SUCCESSFUL);
  });

  test('TestIsFastFailTerminating / research note §8.4: a failing dry-run metric does not end the run; the run waits for the others', async () => {
    const o = await replayAnalysisRun([once('dry'), gate('normal', { specCount: 3, intervalSeconds: 30 })], scripted({ dry: [BAD], normal: [OK] }), { dryRun: ['dry'] });
    expect([o.verdict, o.decidedAfterSeconds, o.decidingGate]).toEqual([MeasurementPhase.SUCCESSFUL, 60, 'normal']);
    expect(o.gates.map((g) => [g.name, g.phase, g.decidedAfterSeconds])).toEqual([['dry', 'Failed', 0], ['normal', 'Successful', 60]]);
  });

  test('research note §8.4: a failing metric terminates an indefinite dry-run one, which is then Successful', async () => {
    const o = await replayAnalysisRun([forever('dry'), gate('normal', { initialDelaySeconds: 45, failureLimit: 0 })], scripted({ dry: [OK], normal: [BAD] }), { dryRun: ['dry'], untilSeconds: 1000 });
    expect([o.verdict, o.decidedAfterSeconds]).toEqual([MeasurementPhase.FAILED, 45]);
    expect(o.gates.map((g) => [g.name, g.phase, g.terminated])).toEqual([['dry', 'Successful', true], ['normal', 'Failed', false]]);
  });

  test('TestInvalidDryRunConfigThrowsError / TestGetDryRunMetrics: a rule matching no metric makes the run Error; rules match anywhere in a name', async () => {
    const none = await replayAnalysisRun([once('success-rate')], scripted({ 'success-rate': [OK] }), { dryRun: ['error-rate'] });
    expect(none).toMatchObject({ verdict: MeasurementPhase.ERROR, decidedAfterSeconds: 0 });
    expect(none.message).toContain('Analysis spec invalid: dryRun[0]:');
    expect(none.gates[0].measurements).toEqual([]);
    // utils/analysis/helpers.go GetDryRunMetrics: regexp.MatchString, unanchored
    const partial = await replayAnalysisRun([once('success-rate'), once('error-rate')], scripted({ 'success-rate': [OK], 'error-rate': [BAD] }), { dryRun: ['error'] });
    expect(partial.gates.map((g) => g.dryRun)).toEqual([false, true]);
    expect(partial.verdict).toBe(MeasurementPhase.SUCCESSFUL);
  });

  test('TestReconcileAnalysisRunInvalid / factory.go ValidateMetrics: an invalid spec makes the run Error before it measures', async () => {
    const measured: string[] = [];
    const o = await replayAnalysisRun([once('ok'), gate('no-interval', { specCount: 3, intervalSeconds: 0 })], async (g) => {
      measured.push(g.name);
      return { result: [OK] };
    });
    expect(measured).toEqual([]);
    expect(o).toMatchObject({ verdict: MeasurementPhase.ERROR, decidingGate: 'no-interval', decidedAfterSeconds: 0 });
    expect(o.message).toMatch(/^Analysis spec invalid: metrics\[1\] \(no-interval, field interval\): count 3 needs an interval/);
    const twice = await replayAnalysisRun([once('a'), once('a')], scripted({ a: [OK] }));
    expect(twice.message).toContain("metrics[1] (a, field name): an earlier metric is also named 'a'");
  });

  test('analysis.go assessRunStatus: a metric ended by count without its success streak gives no message (R4)', async () => {
    const streak = { specCount: 2, intervalSeconds: 30, failureLimit: -1, consecutiveSuccessLimit: 2 };
    const o = await replayAnalysisRun([gate('streak', streak)], scripted({ streak: [BAD, OK] }));
    expect([o.verdict, o.message, o.decidingGate]).toEqual([MeasurementPhase.FAILED, '', 'streak']);
    // a worse phase without a message keeps the message of a metric before it
    const mixed = await replayAnalysisRun([once('limit', { failureCondition: 'result[0] > 9' }), gate('streak', { ...streak, specCount: 1, consecutiveSuccessLimit: 1 })],
      scripted({ limit: [BAD], streak: [BAD] }));
    expect([mixed.verdict, mixed.message]).toEqual([MeasurementPhase.FAILED, 'Metric "limit" assessed Inconclusive due to inconclusive (1) > inconclusiveLimit (0)']);
  });

  test('an indefinite metric needs a horizon; a consecutiveSuccessLimit can end it', async () => {
    await expect(replayAnalysisRun([forever('m')], scripted({ m: [OK] }))).rejects.toThrow("metric 'm' has an interval and no count");
    // with failureLimit 0 the failure at 30 s ends it before any streak
    const o = await replayAnalysisRun([forever('m', { consecutiveSuccessLimit: 3 })], scripted({ m: [OK, BAD, 'down', OK, OK, OK] }), { untilSeconds: 10_000 });
    expect([o.verdict, o.decidedAfterSeconds]).toEqual([MeasurementPhase.FAILED, 30]);
    // with failureLimit 1 the Error breaks the streak, which three successes after it complete
    const streak = await replayAnalysisRun([forever('m', { consecutiveSuccessLimit: 3, failureLimit: 1 })], scripted({ m: [OK, BAD, 'down', OK, OK, OK] }), { untilSeconds: 10_000 });
    expect(streak.gates[0].measurements.map((m) => [m.atSeconds, m.phase[0]])).toEqual([[0, 'S'], [30, 'F'], [60, 'E'], [70, 'S'], [100, 'S'], [130, 'S']]);
    expect([streak.verdict, streak.decidedAfterSeconds]).toEqual([MeasurementPhase.SUCCESSFUL, 130]);
  });

  test('a condition the model cannot evaluate stops the replay with what it cannot model', async () => {
    await expect(replayAnalysisRun([once('m', { successCondition: "upper('a') == 'A'" })], scripted({ m: [OK] }))).rejects.toThrow("cannot model condition 'upper('a') == 'A''");
  });
});
