import { MeasurementPhase } from '../lib/analysis/condition';
import {
  effectiveCount, goDurationSeconds, MetricReadError, MetricRun, MetricSchedule, MetricSpec, readMetricSchedule, readMetricSpec,
  validateMetricSpec, validateMetricSpecs,
} from '../lib/analysis/schedule';

/*
 * Argo Rollouts v1.8.3's decision of one metric (analysis/analysis.go assessMetricStatus,
 * assessMetricFailureInconclusiveOrError, runMeasurements) and its spec validation
 * (utils/analysis/factory.go ValidateMetric). Most upstream tests set a metric result's counters
 * directly; each case here feeds a sequence of measurement phases that reaches those counters
 * with the decision at the last step (the research note's derived sequences, §4.1 and §4.2):
 * S Successful, F Failed, I Inconclusive, E Error.
 */

const PHASE: Record<string, MeasurementPhase> = { S: MeasurementPhase.SUCCESSFUL, F: MeasurementPhase.FAILED, I: MeasurementPhase.INCONCLUSIVE, E: MeasurementPhase.ERROR };

function schedule(t: Partial<MetricSchedule> = {}): MetricSchedule {
  return { initialDelaySeconds: 0, intervalSeconds: 60, specCount: 0, failureLimit: 0, inconclusiveLimit: 0, consecutiveErrorLimit: 4, consecutiveSuccessLimit: 0, ...t };
}

/**
 * Feeds `sequence` (e.g. 'S F F') one measurement per due time. Returns the metric's phase after
 * the last one ('Running' when undecided), the phase if the run terminated then, and the step
 * (1-based) that decided it.
 */
function feed(s: MetricSchedule, sequence: string) {
  const run = new MetricRun(s);
  let step: number | undefined;
  sequence.split(' ').forEach((p, i) => {
    if (run.phase !== undefined) throw new Error(`'${sequence}' goes on after step ${step} decided the metric`);
    if (run.record(PHASE[p], run.nextAt)) step = i + 1;
  });
  return { phase: run.phase ?? 'Running', terminated: run.phaseOnTermination(), step, run };
}

describe('consecutiveSuccessLimit', () => {
  // argoproj/argo-rollouts analysis/analysis_test.go TestAssessMetricStatusConsecutiveSuccessLimit @ v1.8.3:
  // failureLimit -1, interval 60s; counters F3 S4 C7 CS3, derived sequence S F F F S S S
  test.each([
    [0, 3, MeasurementPhase.SUCCESSFUL, MeasurementPhase.SUCCESSFUL],
    [0, 5, 'Running', MeasurementPhase.SUCCESSFUL],
    [7, 5, MeasurementPhase.FAILED, MeasurementPhase.FAILED],
    [7, 3, MeasurementPhase.SUCCESSFUL, MeasurementPhase.SUCCESSFUL],
    [9, 3, MeasurementPhase.SUCCESSFUL, MeasurementPhase.SUCCESSFUL],
    [9, 5, 'Running', MeasurementPhase.SUCCESSFUL],
  ])('count %p (0: unset), consecutiveSuccessLimit %p: %s, terminated %s', (specCount, consecutiveSuccessLimit, phase, terminated) => {
    const o = feed(schedule({ failureLimit: -1, specCount, consecutiveSuccessLimit }), 'S F F F S S S');
    expect([o.phase, o.terminated]).toEqual([phase, terminated]);
    if (phase !== 'Running') expect(o.step).toBe(7);
  });

  // argoproj/argo-rollouts analysis/analysis_test.go TestAssessMetricStatusFailureLimitAndConsecutiveSuccessLimit @ v1.8.3:
  // failureLimit 4, consecutiveSuccessLimit 4, interval 60s; the rows a sequence can reach (the
  // others set counters no sequence gives: a metric is decided as soon as failures exceed the limit)
  test.each([
    [0, 'S F F F S S S', 'Running', MeasurementPhase.SUCCESSFUL],
    [0, 'F F F F F', MeasurementPhase.FAILED, MeasurementPhase.FAILED],
    [0, 'S F F F S S S S', MeasurementPhase.SUCCESSFUL, MeasurementPhase.SUCCESSFUL],
    [10, 'S S S F F F F S S S', MeasurementPhase.INCONCLUSIVE, MeasurementPhase.INCONCLUSIVE],
    [10, 'S S S F F F F F', MeasurementPhase.FAILED, MeasurementPhase.FAILED],
    [10, 'S S F F F F S S S S', MeasurementPhase.SUCCESSFUL, MeasurementPhase.SUCCESSFUL],
    [10, 'S S F F F S S S', 'Running', MeasurementPhase.SUCCESSFUL],
    [10, 'F S F S F S F F', MeasurementPhase.FAILED, MeasurementPhase.FAILED],
    [10, 'S F F F S S S S', MeasurementPhase.SUCCESSFUL, MeasurementPhase.SUCCESSFUL],
  ])('count %p, %s: %s, terminated %s', (specCount, sequence, phase, terminated) => {
    const o = feed(schedule({ failureLimit: 4, consecutiveSuccessLimit: 4, specCount }), sequence);
    expect([o.phase, o.terminated]).toEqual([phase, terminated]);
    if (phase !== 'Running') expect(o.step).toBe(sequence.split(' ').length);
  });

  // derived from analysis.go assessMetricStatus and runMeasurements @ v1.8.3 (research note §4.1, §8.4); no upstream test
  test.each([
    ['failureLimit 0: one failure ends it', { consecutiveSuccessLimit: 3 }, 'F', MeasurementPhase.FAILED],
    ['an Error breaks the streak', { consecutiveSuccessLimit: 3 }, 'S S E S', 'Running'],
    ['the streak after an Error', { consecutiveSuccessLimit: 3 }, 'S S E S S S', MeasurementPhase.SUCCESSFUL],
    ['one inconclusive exceeds the default inconclusiveLimit 0', { consecutiveSuccessLimit: 3 }, 'I', MeasurementPhase.INCONCLUSIVE],
    ['failure check off: count without the streak is Failed', { failureLimit: -1, consecutiveSuccessLimit: 2, specCount: 4 }, 'F F F F', MeasurementPhase.FAILED],
    ['failure check off: the streak before count', { failureLimit: -1, consecutiveSuccessLimit: 2, specCount: 4 }, 'F S S', MeasurementPhase.SUCCESSFUL],
    ['failureLimit 1: count without the streak is Inconclusive', { failureLimit: 1, consecutiveSuccessLimit: 2, specCount: 3 }, 'S F S', MeasurementPhase.INCONCLUSIVE],
    ['failureLimit 1: the second failure', { failureLimit: 1, consecutiveSuccessLimit: 2, specCount: 3 }, 'F F', MeasurementPhase.FAILED],
  ])('%s', (_what, t, sequence, phase) => {
    const o = feed(schedule(t), sequence);
    expect(o.phase).toBe(phase);
    if (phase !== 'Running') expect(o.step).toBe(sequence.split(' ').length);
  });

  test('count without the streak carries no limit message (the run message stays empty)', () => {
    // analysis.go assessMetricStatus @ v1.8.3: the count branch returns a phase without a message
    expect(feed(schedule({ failureLimit: -1, consecutiveSuccessLimit: 2, specCount: 4 }), 'F F F F').run.message).toBe('');
    expect(feed(schedule({ failureLimit: 1, consecutiveSuccessLimit: 2, specCount: 3 }), 'S F S').run.message).toBe('');
  });
});

describe('limits and count', () => {
  // argoproj/argo-rollouts analysis/analysis_test.go @ v1.8.3, the test named in each row; metrics with an interval of 60s and no count
  test.each([
    ['TestAssessMetricStatusFailureLimit', { failureLimit: 2 }, 'F F F', MeasurementPhase.FAILED, MeasurementPhase.FAILED],
    ['TestAssessMetricStatusFailureLimit', { failureLimit: 3 }, 'F F F', 'Running', MeasurementPhase.SUCCESSFUL],
    ['TestAssessMetricStatusInconclusiveLimit', { inconclusiveLimit: 2 }, 'I I I', MeasurementPhase.INCONCLUSIVE, MeasurementPhase.INCONCLUSIVE],
    ['TestAssessMetricStatusInconclusiveLimit', { inconclusiveLimit: 3 }, 'I I I', 'Running', MeasurementPhase.SUCCESSFUL],
    ['TestAssessMetricStatusConsecutiveErrors', {}, 'E E E E E', MeasurementPhase.ERROR, MeasurementPhase.ERROR],
    ['TestAssessMetricStatusConsecutiveErrors', {}, 'E E E E', 'Running', MeasurementPhase.SUCCESSFUL],
    // count 10 without an interval, which assessMetricStatus accepts (only ValidateMetric refuses it)
    ['TestAssessMetricStatusCountReached', { specCount: 10, intervalSeconds: 0 }, 'S S S S S S S S S S', MeasurementPhase.SUCCESSFUL, MeasurementPhase.SUCCESSFUL],
    ['TestAssessMetricStatusCountReached (S5 I5: the first I decides)', { specCount: 10, intervalSeconds: 0 }, 'S S S S S I', MeasurementPhase.INCONCLUSIVE, MeasurementPhase.INCONCLUSIVE],
  ])('%s: %p, %s: %s, terminated %s', (_test, t, sequence, phase, terminated) => {
    const o = feed(schedule(t), sequence);
    expect([o.phase, o.terminated]).toEqual([phase, terminated]);
  });

  test('TestAssessMetricStatusNoMeasurements: a metric that never measured is Pending, and has no result when the run terminates', () => {
    // analysis/analysis_test.go @ v1.8.3 asserts Pending / Successful for a result without measurements;
    // Argo creates a result only with a first measurement, so a terminated run has none for it (reported Pending)
    const run = new MetricRun(schedule());
    expect([run.phase, run.phaseOnTermination()]).toEqual([undefined, undefined]);
  });

  test('TestAssessMetricFailureInconclusiveOrError: the limit messages', () => {
    // argoproj/argo-rollouts analysis/analysis_test.go TestAssessMetricFailureInconclusiveOrError @ v1.8.3 (a default metric)
    expect(feed(schedule(), 'F').run.message).toBe('failed (1) > failureLimit (0)');
    expect(feed(schedule(), 'I').run.message).toBe('inconclusive (1) > inconclusiveLimit (0)');
    expect(feed(schedule(), 'E E E E E').run.message).toBe('consecutiveErrors (5) > consecutiveErrorLimit (4)');
    // the later limit wins when several are exceeded at once (assessMetricFailureInconclusiveOrError order)
    expect(feed(schedule({ consecutiveErrorLimit: 0 }), 'E').run.message).toBe('consecutiveErrors (1) > consecutiveErrorLimit (0)');
  });

  test('TestRunMeasurementsResetConsecutiveErrorCounter: errors do not count towards count', () => {
    // argoproj/argo-rollouts analysis/analysis_test.go TestRunMeasurementsResetConsecutiveErrorCounter @ v1.8.3
    const o = feed(schedule(), 'S S S S E E E E E');
    expect(o.run.counters).toMatchObject({ count: 4, error: 5, consecutiveError: 5, consecutiveSuccess: 0 });
    expect(o.phase).toBe(MeasurementPhase.ERROR);
  });
});

describe('count 0 or absent (EffectiveCount)', () => {
  // pkg/apis/rollouts/v1alpha1/analysis_types.go Metric.EffectiveCount @ v1.8.3
  test.each([
    [0, 0, 1],
    [0, 60, undefined],
    [3, 60, 3],
    [1, 0, 1],
  ])('count %p with interval %ps: effective count %p', (specCount, intervalSeconds, expected) => {
    expect(effectiveCount({ specCount, intervalSeconds })).toBe(expected);
  });

  test('TestReconcileAnalysisRunInitial: count 0 without an interval measures once; an Error is retried after 10 s first', () => {
    // argoproj/argo-rollouts analysis/analysis_test.go TestReconcileAnalysisRunInitial @ v1.8.3; the retry: analysis.go DefaultErrorRetryInterval
    expect(feed(schedule({ intervalSeconds: 0 }), 'S')).toMatchObject({ phase: MeasurementPhase.SUCCESSFUL, step: 1 });
    const o = feed(schedule({ intervalSeconds: 0 }), 'E S');
    expect([o.phase, o.step, o.run.decidedAt]).toEqual([MeasurementPhase.SUCCESSFUL, 2, 10]);
  });

  test('an interval without a count runs until a limit decides it, or the run ends (then Successful)', () => {
    const healthy = feed(schedule(), Array(50).fill('S').join(' '));
    expect([healthy.phase, healthy.terminated]).toEqual(['Running', MeasurementPhase.SUCCESSFUL]);
    expect(healthy.run.nextAt).toBe(50 * 60);
    expect(feed(schedule({ failureLimit: 2 }), 'S S F S F S F')).toMatchObject({ phase: MeasurementPhase.FAILED, step: 7 });
  });

  test('measurement times: initialDelay, then the interval, Errors retried after 10 s even with an interval', () => {
    // analysis/analysis_test.go TestGenerateMetricTasksHonorInitialDelay, TestGenerateMetricTasksError,
    // TestCalculateNextReconcileUponError @ v1.8.3
    const run = new MetricRun(schedule({ initialDelaySeconds: 20, intervalSeconds: 300, specCount: 3 }));
    const times: number[] = [];
    for (const p of ['S', 'E', 'S', 'S']) {
      times.push(run.nextAt);
      run.record(PHASE[p], run.nextAt);
    }
    expect(times).toEqual([20, 320, 330, 630]);
    expect(run.phase).toBe(MeasurementPhase.SUCCESSFUL);
  });
});

/** A spec as ValidateMetric reads it: a valid prometheus metric unless overridden. */
function spec(m: Partial<MetricSpec> = {}): MetricSpec {
  return { name: 'success-rate', count: 0, failureLimit: 0, inconclusiveLimit: 0, consecutiveErrorLimit: undefined, consecutiveSuccessLimit: 0, interval: '', initialDelay: '', providers: 1, ...m };
}

describe('ValidateMetric', () => {
  // argoproj/argo-rollouts utils/analysis/factory_test.go TestValidateMetrics @ v1.8.3, the subtest named in each row;
  // the expected field and a part of the reason (the reasons are this project's words)
  test.each<[string, Partial<MetricSpec>, string | undefined, string]>([
    ['Ensure count >= failureLimit + consecutiveSuccessLimit', { count: 1, failureLimit: 2 }, 'count', 'failureLimit + consecutiveSuccessLimit (2 + 0 = 2)'],
    ['Ensure count >= failureLimit + consecutiveSuccessLimit (count 0)', { count: 0, failureLimit: 2 }, undefined, ''],
    ['Ensure count must be >= inconclusiveLimit', { count: 1, inconclusiveLimit: 2 }, 'count', 'below inconclusiveLimit 2'],
    ['Ensure count must be >= inconclusiveLimit (count 0)', { count: 0, inconclusiveLimit: 2 }, undefined, ''],
    ['Validate metric', { count: 2, interval: '60s', failureLimit: 2 }, undefined, ''],
    ['Ensure valid internal string', { count: 2, interval: '60s-typo', failureLimit: 2 }, 'interval', 'time: unknown unit "s-typo" in duration "60s-typo"'],
    ['Ensure valid initialDelay string', { count: 2, interval: '60s', failureLimit: 2, initialDelay: '60s-typo' }, 'initialDelay', 'time: unknown unit "s-typo" in duration "60s-typo"'],
    ['Ensure interval set when count > 1', { count: 2 }, 'interval', 'count 2 needs an interval'],
    ['Ensure failureLimit >= -1', { failureLimit: -2 }, 'failureLimit', 'below -1'],
    ['Ensure inconclusiveLimit >= 0', { inconclusiveLimit: -1 }, 'inconclusiveLimit', 'negative'],
    ['Ensure consecutiveErrorLimit >= 0', { consecutiveErrorLimit: -1 }, 'consecutiveErrorLimit', 'negative'],
    ['Ensure metric has provider', { count: 1, providers: 0 }, 'provider', 'no provider'],
    ['Ensure metric does not have more than 1 provider', { providers: 10 }, 'provider', '10 providers'],
    ['Ensure consecutiveSuccessLimit >= 0', { consecutiveSuccessLimit: -1 }, 'consecutiveSuccessLimit', 'negative'],
    ['Ensure consecutiveSuccessLimit and failureLimit are not both disabled', { consecutiveSuccessLimit: 0, failureLimit: -1 }, 'failureLimit', 'neither can decide the metric'],
    // factory.go ValidateMetric's count >= consecutiveSuccessLimit branch, which no upstream subtest covers (research note §5.2)
    ['own: failure check off, count below the streak', { count: 2, interval: '1m', failureLimit: -1, consecutiveSuccessLimit: 3 }, 'count', 'below consecutiveSuccessLimit 3'],
    ['own: failure check off, count equal to the streak', { count: 3, interval: '1m', failureLimit: -1, consecutiveSuccessLimit: 3 }, undefined, ''],
    ['own: both limits', { count: 5, interval: '1m', failureLimit: 3, consecutiveSuccessLimit: 3 }, 'count', '(3 + 3 = 6)'],
    ['own: consecutiveErrorLimit 0 is allowed', { consecutiveErrorLimit: 0 }, undefined, ''],
  ])('%s', (_subtest, m, field, reason) => {
    const problem = validateMetricSpec(spec(m), 0);
    expect(problem?.field).toBe(field);
    if (reason) expect(problem?.reason).toContain(reason);
    if (problem) expect(problem.fix.length).toBeGreaterThan(5);
  });

  test('Ensure metric provider listed / Ensure no duplicate metric names', () => {
    // argoproj/argo-rollouts utils/analysis/factory_test.go TestValidateMetrics @ v1.8.3
    expect(validateMetricSpecs([])).toMatchObject({ field: 'metrics', reason: 'there are no metrics' });
    expect(validateMetricSpecs([spec(), spec()])).toMatchObject({ index: 1, field: 'name', reason: "an earlier metric is also named 'success-rate'" });
    // the first problem in metric order, as Argo reports one
    expect(validateMetricSpecs([spec({ name: 'a' }), spec({ name: 'b', count: 2 }), spec({ name: 'c', providers: 0 })])).toMatchObject({ index: 1, metric: 'b', field: 'interval' });
  });
});

describe('reading a metric from a template', () => {
  test('int-or-string fields are their IntValue; consecutiveSuccessLimit and failureLimit -1 are read', () => {
    const m = readMetricSpec({ name: 'x', count: '3', failureLimit: -1, consecutiveSuccessLimit: 2, interval: '1m', provider: { prometheus: { query: 'q' } } });
    expect(m).toEqual(spec({ name: 'x', count: 3, failureLimit: -1, consecutiveSuccessLimit: 2, interval: '1m' }));
    // Kubernetes IntOrString.IntValue reads a string that is not an integer as 0
    expect(readMetricSpec({ count: 'three' }).count).toBe(0);
    // each plugin entry counts as a provider (factory.go ValidateMetric)
    expect(readMetricSpec({ provider: { web: { url: 'u' }, plugin: { a: {}, b: {} } } }).providers).toBe(3);
  });

  test('arguments and fractions cannot be read, and say so with the field', () => {
    expect(() => readMetricSpec({ failureLimit: '{{args.limit}}' })).toThrow(MetricReadError);
    expect(() => readMetricSpec({ failureLimit: '{{args.limit}}' })).toThrow("failureLimit: '{{args.limit}}' is an argument");
    expect(() => readMetricSpec({ count: 2.5 })).toThrow('count: 2.5 is not a whole number');
  });

  test('the schedule: defaults, Go durations, count as written', () => {
    expect(readMetricSchedule({})).toEqual({
      initialDelaySeconds: 0, intervalSeconds: 0, specCount: 0, failureLimit: 0, inconclusiveLimit: 0, consecutiveErrorLimit: 4, consecutiveSuccessLimit: 0,
    });
    expect(readMetricSchedule({ initialDelay: '1m30s', interval: '500ms', count: 4, consecutiveSuccessLimit: 2 }))
      .toMatchObject({ initialDelaySeconds: 90, intervalSeconds: 0.5, specCount: 4, consecutiveSuccessLimit: 2 });
    expect(() => readMetricSchedule({ interval: '0s', count: 2 })).toThrow('interval: \'0s\' is not after the previous measurement');
    expect(() => readMetricSchedule({ interval: '60' })).toThrow('interval: \'60\' is not a Go duration (time: missing unit in duration "60")');
  });

  test.each([
    ['90s', 90], ['1m30s', 90], ['1.5m', 90], ['500ms', 0.5], ['0', 0], ['1h', 3600], ['100us', 0.0001], ['100µs', 0.0001], ['1000000ns', 0.001], ['+5s', 5],
  ])('Go duration %s is %p s', (text, seconds) => {
    // Go's time.ParseDuration, which DurationString.Duration uses (research note §5.1, checked with Go 1.19)
    expect(goDurationSeconds(text)).toBeCloseTo(seconds, 9);
  });

  test.each([
    ['60', 'time: missing unit in duration "60"'],
    ['1d', 'time: unknown unit "d" in duration "1d"'],
    ['', 'time: invalid duration ""'],
    ['.s', 'time: invalid duration ".s"'],
  ])('Go duration %p is refused: %s', (text, message) => {
    expect(() => goDurationSeconds(text)).toThrow(message);
  });
});
