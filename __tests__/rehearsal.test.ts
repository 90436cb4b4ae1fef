import {
  EngineBinaries,
  EngineNotFoundError,
  GateKind,
  locateEngine,
  MeasurementPhase,
  podLabelToPrometheusLabel,
  PodIdentity,
  prepareRehearsal,
  PrometheusEngine,
  RehearsalData,
  RehearsalTarget,
  ROLLOUTS_POD_TEMPLATE_HASH_LABEL,
  runScenarios,
  ScenarioResult,
  BadCanary,
  rolloutTimeline,
  targetFromManifests,
  targetFromStack,
} from '../lib';
import { defaultStack } from './helpers';

// The rehearsal needs a real Prometheus. Without one it is skipped, visibly; on CI it must run.
let binaries: EngineBinaries | undefined;
try {
  binaries = locateEngine();
} catch (e) {
  if (!(e instanceof EngineNotFoundError)) throw e;
  if (process.env.CI === 'true') {
    test('a Prometheus engine is installed (CI=true)', () => {
      throw e;
    });
  } else {
    console.warn(`SKIPPED: the rehearsal tests need promtool and prometheus.\n${e.message}`);
  }
}
const describeWithEngine = binaries ? describe : describe.skip;

describeWithEngine('rehearsal on a real Prometheus engine', () => {
  const stack = defaultStack();
  const target = targetFromStack(stack);
  const gateName = (kind: GateKind) => stack.gates.gate(kind).name;
  let data: RehearsalData;
  let engine: PrometheusEngine;
  let results: ScenarioResult[];

  beforeAll(async () => {
    data = prepareRehearsal(target);
    engine = await PrometheusEngine.start(data.openMetrics, binaries);
    results = await runScenarios(target, data, engine);
  }, 30_000);

  afterAll(async () => {
    await engine?.stop();
  });

  const outcome = (rs: ScenarioResult[], name: string) => {
    const r = rs.find((x) => x.scenario.name === name);
    if (!r) throw new Error(`no scenario ${name}`);
    return r.outcome;
  };

  /** The template with every gate query passed through `edit`. */
  const weakened = (edit: (query: string) => string): RehearsalTarget => ({ ...target, gates: target.gates.map((g) => ({ ...g, query: edit(g.query) })) });

  test.each([
    ['healthy', MeasurementPhase.SUCCESSFUL, undefined, 130],
    // The guarded error-rate gate reads "no canary requests" as a failure and starts 30 s before the traffic gate.
    ['idle-canary', MeasurementPhase.FAILED, GateKind.ERROR_RATE, 80],
    ['erroring-canary', MeasurementPhase.FAILED, GateKind.ERROR_RATE, 80],
    ['slow-canary', MeasurementPhase.FAILED, GateKind.LATENCY, 110],
    ['no-spanmetrics', MeasurementPhase.FAILED, GateKind.LATENCY, 110],
    ['bad-stable-good-canary', MeasurementPhase.SUCCESSFUL, undefined, 130],
    ['traffic-just-inside', MeasurementPhase.SUCCESSFUL, undefined, 130],
    ['traffic-just-outside', MeasurementPhase.FAILED, GateKind.TRAFFIC, 120],
    ['error-rate-just-inside', MeasurementPhase.SUCCESSFUL, undefined, 130],
    ['error-rate-just-outside', MeasurementPhase.FAILED, GateKind.ERROR_RATE, 80],
    ['latency-just-inside', MeasurementPhase.SUCCESSFUL, undefined, 130],
    ['latency-just-outside', MeasurementPhase.FAILED, GateKind.LATENCY, 110],
  ] as const)('%s: %s (deciding gate: %s) after %ss', (name, verdict, kind, seconds) => {
    const o = outcome(results, name);
    expect(o.verdict).toBe(verdict);
    if (kind) expect(o.decidingGate).toBe(gateName(kind));
    // a Successful run is decided by the gate that completed last
    else expect(o.decidingGate).toBe(gateName(GateKind.TRAFFIC));
    expect(o.decidedAfterSeconds).toBe(seconds);
  });

  test('every built-in scenario reaches its expected verdict', () => {
    expect(results.filter((r) => !r.asExpected).map((r) => r.scenario.name)).toEqual([]);
    expect(results).toHaveLength(12);
  });

  test('measurements follow the template timings: traffic 5 from 90s, error rate 3 from 60s, latency 3 from 90s, every 10s', () => {
    const gates = outcome(results, 'healthy').gates;
    expect(gates.map((g) => g.measurements.map((m) => m.atSeconds))).toEqual([[90, 100, 110, 120, 130], [60, 70, 80], [90, 100, 110]]);
    // The canary's spanmetrics have been flushed once by 90s: rate() over them is 0 and p95 is NaN.
    expect(gates[2].measurements[0].result).toEqual([NaN]);
  });

  test('a gate without the canary-hash selector judges the stable pods too', async () => {
    const hashMatchers = [
      podLabelToPrometheusLabel(ROLLOUTS_POD_TEMPLATE_HASH_LABEL),
      stack.pipeline.dimensionLabel(PodIdentity.POD_TEMPLATE_HASH),
    ].map((label) => new RegExp(`,\\s*${label}="\\{\\{args\\.canary-hash\\}\\}"`, 'g'));
    const loose = weakened((q) => hashMatchers.reduce((acc, re) => acc.replace(re, ''), q));
    expect(loose.gates.every((g) => !g.query.includes('canary-hash'))).toBe(true);
    const rs = await runScenarios(loose, data, engine);
    expect(outcome(rs, 'idle-canary').verdict).toBe(MeasurementPhase.SUCCESSFUL);
    expect(outcome(rs, 'bad-stable-good-canary')).toMatchObject({ verdict: MeasurementPhase.FAILED, decidingGate: gateName(GateKind.ERROR_RATE) });
  });

  test('a latency gate on the median lets the slow canary through', async () => {
    const median = weakened((q) => q.replace('histogram_quantile(0.95,', 'histogram_quantile(0.5,'));
    const rs = await runScenarios(median, data, engine);
    expect(outcome(rs, 'slow-canary').verdict).toBe(MeasurementPhase.SUCCESSFUL);
    expect(outcome(rs, 'latency-just-outside').verdict).toBe(MeasurementPhase.SUCCESSFUL);
    expect(outcome(rs, 'healthy').verdict).toBe(MeasurementPhase.SUCCESSFUL);
  });

  test('an unguarded condition turns the empty latency result into Errors, retried every 10s', async () => {
    const unguarded: RehearsalTarget = { ...target, gates: target.gates.map((g) => ({ ...g, successCondition: g.successCondition?.replace('len(result) > 0 && ', '') })) };
    const o = outcome(await runScenarios(unguarded, data, engine), 'no-spanmetrics');
    const latency = o.gates.find((g) => g.name === gateName(GateKind.LATENCY))!;
    expect(o.verdict).toBe(MeasurementPhase.ERROR);
    // consecutiveErrorLimit 2: the third consecutive error ends the run
    expect(latency.measurements.map((m) => [m.atSeconds, m.phase])).toEqual([[90, 'Error'], [100, 'Error'], [110, 'Error']]);
    expect(latency.measurements[0].error).toBe('runtime error: index out of range [0] with length 0');
  });

  test('the decision times measured fall inside the bounds the explain timeline states', () => {
    const timeline = rolloutTimeline(stack);
    const badKind: Record<string, BadCanary> = {
      'idle-canary': BadCanary.IDLE,
      'erroring-canary': BadCanary.ERRORING,
      'slow-canary': BadCanary.SLOW,
      'no-spanmetrics': BadCanary.NO_SPANMETRICS,
    };
    const earliestFail = Math.min(...timeline.gates.map((g) => g.earliestFailSeconds));
    const latestFail = Math.max(...timeline.gates.map((g) => g.latestFailSeconds));
    for (const r of results) {
      const o = r.outcome;
      if (o.verdict === MeasurementPhase.SUCCESSFUL) {
        expect([r.scenario.name, o.decidedAfterSeconds >= timeline.earliestPromotionSeconds]).toEqual([r.scenario.name, true]);
        continue;
      }
      expect([r.scenario.name, o.decidedAfterSeconds >= earliestFail && o.decidedAfterSeconds <= latestFail]).toEqual([r.scenario.name, true]);
      const kind = badKind[r.scenario.name];
      if (kind) {
        const bad = timeline.badCanaries.find((b) => b.kind === kind)!;
        expect([r.scenario.name, o.decidedAfterSeconds >= bad.stopSeconds && o.decidedAfterSeconds <= bad.worstCaseStopSeconds]).toEqual([r.scenario.name, true]);
        expect([r.scenario.name, bad.stoppedBy[0]]).toEqual([r.scenario.name, o.decidingGate]);
      }
    }
  });

  test('--manifests dist names the same series and reaches the same verdicts', async () => {
    const fromDist = targetFromManifests('dist');
    expect(prepareRehearsal(fromDist).openMetrics).toBe(data.openMetrics);
    expect(fromDist.gates.map((g) => g.kind)).toEqual(target.gates.map((g) => g.kind));
    const rs = await runScenarios(fromDist, data, engine);
    expect(rs.map((r) => [r.scenario.name, r.outcome.verdict, r.outcome.decidingGate, r.outcome.decidedAfterSeconds]))
      .toEqual(results.map((r) => [r.scenario.name, r.outcome.verdict, r.outcome.decidingGate, r.outcome.decidedAfterSeconds]));
  });
});
