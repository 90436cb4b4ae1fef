import { Duration } from 'cdk8s';
import { Direction, GateKind, GateSpec, PRESET_IMAGES, PrometheusBackend, PrometheusEngine } from '../lib';
import { MeasurementPhase } from '../lib/analysis/condition';
import { BadCanary, rolloutTimeline } from '../lib/explain/timeline';
import { targetFromManifests } from '../lib/rehearsal/from-model';
import { EngineBinaries, EngineNotFoundError, locateEngine } from '../lib/rehearsal/prometheus-engine';
import { prepareRehearsal, RehearsalData, runScenarios, ScenarioResult, substituteArgs } from '../lib/rehearsal/rehearse';
import { Expectation, ocScenarios, wholeRunScenarios } from '../lib/rehearsal/scenarios';
import { ocRows } from '../lib/rehearsal/report';
import { targetsFromManifests } from '../lib/rehearsal/from-model';
import { join } from 'path';
import { RehearsalGate, RehearsalTarget } from '../lib/rehearsal/target';
import { CHECKOUT, explained, fixtureDelivery, targetOf } from './helpers';

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
// the replays ask a real Prometheus thousands of queries: on a loaded machine a test takes far longer than jest's 5 s
jest.setTimeout(120_000);

/** The fixture delivery of HotROD (not main.ts) with its traffic generator, for one Prometheus setup. */
function stackFor(prometheus: PrometheusBackend) {
  return fixtureDelivery({ prometheus });
}

/** The checkout service (spanmetrics only) with more gates. */
const checkoutWith = (...extraGates: GateSpec[]) => targetOf(fixtureDelivery({ services: [{ ...CHECKOUT, extraGates }] }));

/**
 * The seed's gates (SPEC's table): a rate over every span of the canary, the 90 s / 60 s / 90 s
 * timings tuned for a 10 s scrape, success conditions only.
 */
function seedGates(target: RehearsalTarget): RehearsalGate[] {
  const pods = 'namespace="{{args.namespace}}", rollouts_pod_template_hash="{{args.canary-hash}}"';
  const spans = 'k8s_namespace_name="{{args.namespace}}", k8s_pod_label_rollouts_pod_template_hash="{{args.canary-hash}}"';
  const gate = (name: string, kind: GateKind, query: string, op: '>=' | '<', value: number, t: number[]): RehearsalGate => ({
    name, kind, query, successCondition: `len(result) > 0 && result[0] ${op} ${value}`, threshold: { index: 0, op, value },
    initialDelaySeconds: t[0], intervalSeconds: t[1], specCount: t[2], failureLimit: t[3], inconclusiveLimit: t[4], consecutiveErrorLimit: t[5], consecutiveSuccessLimit: 0,
  });
  return [
    gate('traffic-detection', GateKind.TRAFFIC, `sum(rate(hotrod_requests_total{${pods}}[2m]))`, '>=', 0.05, [90, 10, 5, 3, 5, 3]),
    gate('error-rate-lt-5-percent', GateKind.ERROR_RATE,
      `(sum(rate(hotrod_requests_total{${pods}, error="true"}[2m])) or vector(0)) / sum(rate(hotrod_requests_total{${pods}}[2m]))`, '<', 0.05, [60, 10, 3, 2, 3, 2]),
    gate('latency-p95-lt-1s', GateKind.LATENCY,
      `histogram_quantile(0.95, sum by (le) (rate(${target.spanmetrics.series.durationBucket}{${spans}}[2m])))`, '<', 1000, [90, 10, 3, 2, 3, 2]),
  ];
}

const TRIALS = 4;

/** The p99 gate added to the checkout service's three: a fourth gate, of a kind the scenarios already know. */
const p99Gate = () => GateSpec.latency({ quantile: 0.99, max: Duration.seconds(2) });

/** A custom gate of the checkout service: at most 10 % of its user requests fail (looser than the preset's 5 %), measured once. */
const failedShareGate = () => GateSpec.custom({
  name: 'failed-share-below-10-percent',
  query: (ctx) => `(sum(increase(${ctx.failedRequests}[${ctx.window}])) or vector(0))\n/\nsum(increase(${ctx.requests}[${ctx.window}]))`,
  threshold: 0.1,
  direction: Direction.BELOW,
});

describeWithEngine('rehearsal on a real Prometheus engine', () => {
  const setups = [PrometheusBackend.communityChart(), PrometheusBackend.challengeEnvironment(), PrometheusBackend.kubePrometheusStack()];
  const stacks = setups.map(stackFor);
  const targets = stacks.map((stack) => targetOf(stack));
  const [chart, challenge] = targets;
  const seedOnChart: RehearsalTarget = { ...chart, source: 'the seed\'s gates', gates: seedGates(chart) };
  const seedOnChallenge: RehearsalTarget = { ...challenge, source: 'the seed\'s gates', gates: seedGates(challenge) };
  // any service: spanmetrics only, two user endpoints, no metrics port, and a fourth gate
  const checkout = checkoutWith(p99Gate());

  // The other gates the tests replay on the same data, and the queries they run themselves: the
  // series these can read are written beside the ones the targets' own gates read.
  /** the chart's gates with a latency gate over every span, not only the user endpoints' */
  const allSpans = chart.gates.map((g) => (g.kind === GateKind.LATENCY
    ? { ...g, query: g.query.replace(/service_name="frontend", span_kind="SPAN_KIND_SERVER", span_name=~"[^"]*", /g, '') }
    : g));
  /** the chart's gates without the canary-hash selector */
  const loose = chart.gates.map((g) => ({ ...g, query: g.query.replace(/, (rollouts_pod_template_hash|k8s_pod_label_rollouts_pod_template_hash)="\{\{args\.canary-hash\}\}"/g, '') }));
  /** every request the canary's counter holds, and those of its /metrics endpoint */
  const counted = (endpoint = '') => `sum(increase(hotrod_requests_total{rollouts_pod_template_hash="{{args.canary-hash}}"${endpoint && `, endpoint="${endpoint}"`}}[190s]))`;
  /** checkout with a custom gate (at most 10 % of requests fail), and with one no canary can pass */
  const withCustom = checkoutWith(p99Gate(), failedShareGate());
  const impossible = GateSpec.custom({ name: 'requests-at-least-a-billion', query: (ctx) => `sum(increase(${ctx.requests}[${ctx.window}]))`, threshold: 1e9, direction: Direction.AT_LEAST });
  const strict = checkoutWith(p99Gate(), impossible);
  /** what the checkout tests ask of its series: its spans, anything of a pod in its namespace, its failed calls */
  const checkoutInventory = [
    `count by (service_name, span_name, status_code) (last_over_time(${checkout.spanmetrics.series.calls}{k8s_namespace_name="checkout"}[10m]))`,
    'sum by (__name__) (count_over_time({namespace="checkout"}[1h]))',
    `sum(increase(${checkout.spanmetrics.series.calls}{service_name="checkout", status_code="STATUS_CODE_ERROR"}[10m]))`,
  ];
  const alsoReadBy = (t: RehearsalTarget): string[] => {
    if (t === chart) return [...allSpans, ...loose].map((g) => g.query).concat(counted(), counted('/metrics'));
    if (t === checkout) return [...withCustom.gates, ...strict.gates].map((g) => g.query).concat(checkoutInventory);
    return [];
  };
  let data: RehearsalData;
  let engine: PrometheusEngine;
  let results: ScenarioResult[];

  beforeAll(async () => {
    // the whole run's scenarios (the operating characteristic is measured below, on its own data);
    // the seed's gates only on the scenarios they are checked on
    const seedScenarios = ['healthy', 'idle-canary', 'failing-half'];
    data = prepareRehearsal([...targets, seedOnChart, seedOnChallenge, checkout], { trials: TRIALS, seed: 7, alsoReadBy },
      (t) => wholeRunScenarios(t).filter((sc) => !t.source.startsWith('the seed') || seedScenarios.includes(sc.name)));
    engine = await PrometheusEngine.start(data.chunks, binaries);
    results = await runScenarios(data, engine);
  }, 60_000);

  afterAll(async () => {
    await engine?.stop();
  });

  const of = (target: RehearsalTarget, name: string, rs: ScenarioResult[] = results) => {
    const r = rs.find((x) => x.target === target && x.scenario.name === name);
    if (!r) throw new Error(`no scenario ${name} for ${target.source}`);
    return r;
  };
  /** The named scenarios of the data placed for a target, run with other gates. */
  const rerunOn = (placedFor: RehearsalTarget, target: RehearsalTarget, scenarios: string[]) => {
    const placed = data.targets.find((t) => t.target === placedFor)!;
    return runScenarios({ ...data, targets: [{ ...placed, target, placed: placed.placed.filter((p) => scenarios.includes(p.scenario.name)) }] }, engine)
      .then((rs) => (name: string) => rs.find((r) => r.scenario.name === name)!);
  };
  /** The chart target's data, run with other gates. */
  const rerun = (gates: RehearsalGate[], scenarios: string[]) => rerunOn(chart, { ...chart, gates }, scenarios);

  test.each(setups.map((s, i) => [s.name, i]))('%s: every scenario reaches its share; no good canary is promoted before the traffic gate\'s first look', (_name, i) => {
    const target = targets[i as number];
    const rs = results.filter((r) => r.target === target);
    expect(rs.map((r) => r.scenario.name)).toEqual(['healthy', 'bad-stable-good-canary', 'idle-canary', 'trickle', 'failing-half', 'slow-half', 'no-spanmetrics', 'collector-restart']);
    expect(rs.filter((r) => !r.asExpected).map((r) => `${r.scenario.name}: ${JSON.stringify(r.verdicts)}`)).toEqual([]);
    const schedule = stacks[i as number].analysis.schedule;
    for (const r of rs.filter((x) => x.scenario.expectation === Expectation.PROMOTED)) {
      expect(r.trials.every((t) => t.outcome.decidedAfterSeconds >= schedule.trafficFirstLookSeconds)).toBe(true);
    }
    // an idle canary fails at exactly that look
    expect(of(target, 'idle-canary').decidedAfter).toEqual({ p50: schedule.trafficFirstLookSeconds, p95: schedule.trafficFirstLookSeconds });
    // never promoted: idle, a trickle, errors, slowness, missing spanmetrics
    for (const r of rs.filter((x) => x.scenario.expectation === Expectation.STOPPED)) {
      expect([r.scenario.name, r.verdicts[MeasurementPhase.SUCCESSFUL] ?? 0]).toEqual([r.scenario.name, 0]);
    }
  });

  test('writing only the series the gates can read changes no verdict, and leaves out most of the text', async () => {
    // the first two trials of each scenario: they are drawn first, so they are the shared run's first two
    const all = prepareRehearsal(chart, { trials: 2, seed: 7, series: 'all' }, wholeRunScenarios);
    const read = prepareRehearsal(chart, { trials: 2, seed: 7 }, wholeRunScenarios);
    const size = (d: RehearsalData) => d.chunks.reduce((n, c) => n + c.length, 0);
    expect(size(read) / size(all)).toBeLessThan(0.5);
    expect(all.targets[0].placed).toEqual(data.targets[0].placed.map((p) => ({ ...p, trials: p.trials.slice(0, 2) })));
    const full = await PrometheusEngine.start(all.chunks, binaries);
    try {
      const verdicts = (rs: ScenarioResult[]) => rs.map((r) => [r.scenario.name, r.trials.slice(0, 2).map((t) => [t.outcome.verdict, t.outcome.decidedAfterSeconds])]);
      expect(verdicts(await runScenarios(all, full))).toEqual(verdicts(results.filter((r) => r.target === chart)));
    } finally {
      await full.stop();
    }
  });

  test('gates the series were not written for are refused, not judged on missing series', async () => {
    await expect(runScenarios({ ...data, targets: [{ ...data.targets[0], target: { ...chart, gates: loose.concat(seedGates(chart)) } }] }, engine))
      .rejects.toThrow(/gates 'traffic-detection', 'error-rate-lt-5-percent', 'latency-p95-lt-1s' of the fixture, prometheus-community chart 29.1.0 were not among the queries the series were written for/);
  });

  test('Prometheus\'s /metrics scrapes alone never pass the traffic gate: they are counted, and filtered out', async () => {
    const idle = of(chart, 'idle-canary');
    for (const t of idle.trials) {
      const traffic = t.outcome.gates.find((g) => g.name === 'traffic-at-least-58-requests')!;
      expect(traffic.measurements.map((m) => [m.phase, m.result])).toEqual([[MeasurementPhase.FAILED, []]]);
    }
    // The idle canary's counter is not empty: its /metrics endpoint counts every scrape.
    const placed = data.targets[0].placed.find((p) => p.scenario.name === 'idle-canary')!;
    const hash = placed.trials[0].canaryHash;
    const all = await engine.query(substituteArgs(counted(), { 'canary-hash': hash }, 'all'), placed.origin + 190);
    const self = await engine.query(substituteArgs(counted('/metrics'), { 'canary-hash': hash }, '/metrics'), placed.origin + 190);
    expect((all.result as number[])[0]).toBeGreaterThan(0);
    expect((self.result as number[])[0]).toBe((all.result as number[])[0]);
  });

  test('a slow /dispatch among fast internal spans fails the latency gate; a gate over all spans would let it through', async () => {
    expect(of(chart, 'slow-half').verdicts).toEqual({ [MeasurementPhase.FAILED]: TRIALS });
    expect(allSpans[2].query).not.toContain('span_name');
    // half the user requests slow are a few percent of all spans (twelve internal ones per /dispatch): never stopped by that gate
    const scenario = await rerun(allSpans, ['slow-half']);
    expect(scenario('slow-half').trials.filter((t) => t.outcome.decidingGate === allSpans[2].name && t.outcome.verdict === MeasurementPhase.FAILED)).toEqual([]);
  });

  test('the seed\'s gates miss the targets: healthy canaries aborted at the chart\'s 1m scrape, idle ones promoted at a 10 s scrape', () => {
    const healthy = of(seedOnChart, 'healthy');
    expect(healthy.share).toBeLessThan(0.99);
    expect(healthy.verdicts[MeasurementPhase.FAILED] ?? 0).toBeGreaterThan(0);
    // /metrics at 0.1 req/s and internal calls pass a 0.05 req/s rate gate over every server span
    expect(of(seedOnChallenge, 'idle-canary').verdicts[MeasurementPhase.SUCCESSFUL] ?? 0).toBeGreaterThan(0);
    // a canary failing half its user requests reads as a few percent among the internal calls
    expect(of(seedOnChallenge, 'failing-half').verdicts[MeasurementPhase.SUCCESSFUL] ?? 0).toBeGreaterThan(0);
  });

  test('a gate without the canary-hash selector judges the stable pods too', async () => {
    expect(loose.every((g) => !g.query.includes('canary-hash'))).toBe(true);
    const scenario = await rerun(loose, ['idle-canary', 'bad-stable-good-canary']);
    // the idle canary is promoted on the stable pods' requests (and, here, the other trials' canaries: they share the namespace)
    expect(scenario('idle-canary').verdicts).toEqual({ [MeasurementPhase.SUCCESSFUL]: TRIALS });
    // the failing stable pods leak into the canary's error test: it stops a good canary
    expect(scenario('bad-stable-good-canary').verdicts[MeasurementPhase.FAILED] ?? 0).toBeGreaterThan(0);
    expect(of(chart, 'bad-stable-good-canary').verdicts).toEqual({ [MeasurementPhase.SUCCESSFUL]: TRIALS });
  });

  test('a collector restart never aborts a good canary: the tests start again on the new collector\'s counts', () => {
    const r = of(chart, 'collector-restart');
    expect(r.verdicts[MeasurementPhase.FAILED] ?? 0).toBe(0);
    expect(r.verdicts[MeasurementPhase.ERROR] ?? 0).toBe(0);
  });

  test('the decisions measured agree with the explain timeline: its phase and gate, never before the time it states', () => {
    const timeline = rolloutTimeline(explained(stacks[0]));
    const kinds: Record<string, BadCanary> = {
      'idle-canary': BadCanary.IDLE, trickle: BadCanary.TRICKLE, 'failing-half': BadCanary.ERRORING,
      'slow-half': BadCanary.SLOW, 'no-spanmetrics': BadCanary.NO_SPANMETRICS,
    };
    for (const r of results.filter((x) => x.target === chart)) {
      const kind = kinds[r.scenario.name];
      for (const t of r.trials) {
        if (t.outcome.verdict === MeasurementPhase.SUCCESSFUL) {
          expect([r.scenario.name, t.outcome.decidedAfterSeconds >= timeline.earliestPromotionSeconds]).toEqual([r.scenario.name, true]);
        } else if (kind && kind !== BadCanary.TRICKLE) {
          // data arrives at random: a decision can come at a later look than the earliest, never earlier
          const bad = timeline.badCanaries.find((b) => b.kind === kind)!;
          expect([r.scenario.name, t.outcome.verdict, t.outcome.decidingGate, t.outcome.decidedAfterSeconds >= bad.stopSeconds])
            .toEqual([r.scenario.name, bad.runPhase, bad.stoppedBy[0], true]);
        }
      }
    }
  });

  test('--manifests names the same series and reaches the same verdicts as the constructs', async () => {
    // the same constructs, written out as a synth writes them
    const stack = stackFor(PrometheusBackend.communityChart());
    stack.app.synth();
    const fromStack = targetOf(stack);
    const written = targetFromManifests(stack.app.outdir, { images: PRESET_IMAGES });
    expect(written.gates.map((g) => [g.name, g.kind, g.query])).toEqual(fromStack.gates.map((g) => [g.name, g.kind, g.query]));
    expect(written.canaryUserRequestsPerSecond).toBeCloseTo(fromStack.canaryUserRequestsPerSecond, 9);
    expect(prepareRehearsal(written, { trials: 2, seed: 7 }, wholeRunScenarios).chunks).toEqual(prepareRehearsal(fromStack, { trials: 2, seed: 7 }, wholeRunScenarios).chunks);
    const rs = await runScenarios({ ...data, targets: [{ ...data.targets[0], target: written }] }, engine);
    expect(rs.map((r) => [r.scenario.name, r.verdicts])).toEqual(results.filter((r) => r.target === chart).map((r) => [r.scenario.name, r.verdicts]));
  });

  describe('any service: checkout, spanmetrics only, with the three gates and a p99 gate', () => {
    const checkoutResults = () => results.filter((r) => r.target === checkout);

    test('its series are spanmetrics alone: calls and durations of its user endpoints, no pod series', async () => {
      const placed = data.targets.find((t) => t.target === checkout)!.placed.find((p) => p.scenario.name === 'failing-half')!;
      const at = placed.origin + 160;
      const [spans, byName, failed] = await Promise.all(checkoutInventory.map((q) => engine.query(q, at)));
      expect((spans.result as number[]).length).toBe(4);
      expect(byName.result).toEqual([]);
      expect((failed.result as number[])[0]).toBeGreaterThan(0);
    });

    test('it meets the scenarios as HotROD does: good canaries promoted, bad ones stopped by the right gate', () => {
      const rs = checkoutResults();
      expect(rs.map((r) => r.scenario.name)).toEqual(['healthy', 'bad-stable-good-canary', 'idle-canary', 'trickle', 'failing-half', 'slow-half', 'no-spanmetrics', 'collector-restart']);
      expect(rs.filter((r) => !r.asExpected).map((r) => `${r.scenario.name}: ${JSON.stringify(r.verdicts)}`)).toEqual([]);
      for (const r of rs.filter((x) => x.scenario.expectation === Expectation.STOPPED)) {
        expect([r.scenario.name, r.verdicts[MeasurementPhase.SUCCESSFUL] ?? 0]).toEqual([r.scenario.name, 0]);
      }
      // without its spanmetrics the canary shows no request at all: the traffic gate fails it as idle
      expect(of(checkout, 'no-spanmetrics').scenario).toMatchObject({ expected: [MeasurementPhase.FAILED], expectedGate: GateKind.TRAFFIC });
    });

    test('a collector restart never aborts a healthy spanmetrics-only canary: its series gone for a while read as not yet, not as idle', () => {
      // A finding of the rehearsal: a replaced collector pod is a new scrape target; until it is, the
      // canary has no current series and `len(result) == 0` would fail it as idle. The traffic gate's
      // `or on() (0 * count(last_over_time(...)) + 1)` turns that into 1 request: not yet, the next look decides.
      const r = of(checkout, 'collector-restart');
      expect(r.trials.filter((t) => t.outcome.verdict === MeasurementPhase.FAILED)).toEqual([]);
      expect(r.asExpected).toBe(true);
    });

    test('the fourth gate is replayed and reported with the others', () => {
      expect(checkout.gates.map((g) => [g.name, g.kind, g.quantile])).toEqual([
        ['traffic-at-least-304-requests', GateKind.TRAFFIC, undefined], ['error-rate-lt-5-percent', GateKind.ERROR_RATE, undefined],
        ['latency-p95-lt-1s', GateKind.LATENCY, 0.95], ['latency-p99-lt-2s', GateKind.LATENCY, 0.99]]);
      const healthy = of(checkout, 'healthy');
      expect(healthy.trials[0].outcome.gates.map((g) => [g.name, g.phase])).toEqual(checkout.gates.map((g) => [g.name, MeasurementPhase.SUCCESSFUL]));
      // the p99 test promotes at its lower bound: its log-likelihood ratio at or below ln(1 %)
      const p99 = healthy.trials[0].outcome.gates[3].measurements.at(-1)!.result as number[];
      expect(p99[0]).toBeLessThanOrEqual(Math.log(0.01));
    });

    test('a custom gate is replayed: one that stops a bad canary first is accepted, one that fails a healthy canary is a miss', async () => {
      // the custom gate measures once, when the evidence is in; the sequential error test stops a canary failing half its requests first
      const custom = withCustom.gates[4];
      expect([custom.name, custom.kind]).toEqual(['failed-share-below-10-percent', GateKind.CUSTOM]);
      const scenario = await rerunOn(checkout, withCustom, ['failing-half', 'healthy']);
      const failing = scenario('failing-half');
      expect(failing.trials.map((t) => [t.outcome.verdict, t.outcome.decidingGate])).toEqual(failing.trials.map(() => [MeasurementPhase.FAILED, 'error-rate-lt-5-percent']));
      // alone, the custom gate stops it too (a gate no scenario predicts: stopping a bad canary is accepted)
      const alone = (await rerunOn(checkout, { ...withCustom, gates: [withCustom.gates[0], custom] }, ['failing-half']))('failing-half');
      expect(alone.trials.map((t) => [t.outcome.verdict, t.outcome.decidingGate])).toEqual(alone.trials.map(() => [MeasurementPhase.FAILED, custom.name]));
      expect(alone.asExpected).toBe(true);
      expect(scenario('healthy').asExpected).toBe(true);

      // a custom gate no healthy canary can pass
      const healthy = (await rerunOn(checkout, strict, ['healthy']))('healthy');
      expect(healthy.asExpected).toBe(false);
      expect(healthy.trials.map((t) => [t.outcome.verdict, t.outcome.decidingGate])).toEqual(healthy.trials.map(() => [MeasurementPhase.FAILED, 'requests-at-least-a-billion']));
    });
  });
});

/**
 * The gates as the project synthesized them before they were sequential tests (commit a07dba9's
 * synth of examples/platform's staging folder, with checkout judged at 1 %): an error ratio
 * over a window, compared with its threshold once, at a fixed time, after an evidence floor of
 * -ln(0.05) / threshold requests.
 */
const FIXED_GATES = join(__dirname, 'fixtures', 'fixed-gates');

describeWithEngine('sampling noise', () => {
  const fixed = targetsFromManifests(FIXED_GATES, { images: PRESET_IMAGES, prometheus: PrometheusBackend.communityChart() });
  const fixedCheckout = fixed.find((t) => t.rollout === 'checkout/checkout')!;
  // the same service and threshold with sequential gates
  const sequential = targetOf(fixtureDelivery({ services: [{ ...CHECKOUT, gates: { maxErrorRatio: 0.01 } }] }));

  test('switched off, the rehearsal reproduces the verdicts it gave the fixed-threshold gates', async () => {
    const data = prepareRehearsal(fixed, { trials: 3, seed: 3, noise: false }, wholeRunScenarios);
    const engine = await PrometheusEngine.start(data.chunks, binaries);
    try {
      const rs = await runScenarios(data, engine);
      for (const target of fixed) {
        const of = (name: string) => rs.find((r) => r.target === target && r.scenario.name === name)!;
        const decided = (name: string) => of(name).trials.map((t) => [t.outcome.verdict, target.gates.find((g) => g.name === t.outcome.decidingGate)?.kind]);
        const all = (verdict: MeasurementPhase, kind?: GateKind) => Array.from({ length: 3 }, () => [verdict, kind]);
        expect([target.rollout, of('healthy').verdicts]).toEqual([target.rollout, { [MeasurementPhase.SUCCESSFUL]: 3 }]);
        expect([target.rollout, decided('idle-canary')]).toEqual([target.rollout, all(MeasurementPhase.FAILED, GateKind.TRAFFIC)]);
        expect([target.rollout, decided('trickle')]).toEqual([target.rollout, all(MeasurementPhase.INCONCLUSIVE, GateKind.TRAFFIC)]);
        if (target.rollout !== 'catalog/catalog') {
          // catalog's custom gate (95 % within 2 s) stops a slow canary first: accepted for a gate no scenario predicts
          expect([target.rollout, decided('failing-half')]).toEqual([target.rollout, all(MeasurementPhase.FAILED, GateKind.ERROR_RATE)]);
          expect([target.rollout, decided('slow-half')]).toEqual([target.rollout, all(MeasurementPhase.FAILED, GateKind.LATENCY)]);
        }
        expect([target.rollout, of('collector-restart').verdicts[MeasurementPhase.FAILED] ?? 0]).toEqual([target.rollout, 0]);
      }
    } finally {
      await engine.stop();
    }
  }, 60_000);

  test('switched on, the fixed-threshold gates of a service judged at 1 % stop good canaries and promote bad ones far more often than 1 %; the sequential test does not', async () => {
    const TRIALS_PER_POINT = 400;
    const points = (t: RehearsalTarget) => ocScenarios(t).filter((sc) => sc.point!.kind === GateKind.ERROR_RATE && [0.5, 2].includes(sc.point!.multiple));
    const data = prepareRehearsal([fixedCheckout, sequential], { trials: TRIALS_PER_POINT, seed: 5 }, points);
    const engine = await PrometheusEngine.start(data.chunks, binaries);
    try {
      const rs = await runScenarios(data, engine);
      const oc = (t: RehearsalTarget) => {
        const [row] = ocRows(rs.filter((r) => r.target === t));
        const at = (m: number) => row.points.find((p) => p.multiple === m)!;
        return { good: at(0.5), bad: at(2), row };
      };
      const old = oc(fixedCheckout);
      expect(old.row).toMatchObject({ gate: 'error-rate-lt-1-percent', threshold: 0.01, designed: false });
      // binomial arithmetic puts both near 19 % and 6 % at an evidence floor of 300 requests; the fixed gates see more, but not enough
      const worst = Math.max(1 - old.good.promoted, old.bad.promoted);
      expect(worst).toBeGreaterThan(0.03);
      expect(old.good.bound!.kept && old.bad.bound!.kept).toBe(false);
      // the sequential test on the same service: within its 1 % (400 trials: a 95 % upper bound near 1.5 %)
      const now = oc(sequential);
      expect(now.row).toMatchObject({ gate: 'error-rate-lt-1-percent', threshold: 0.01, designed: true });
      expect(1 - now.good.promoted).toBeLessThanOrEqual(0.015);
      expect(now.bad.promoted).toBeLessThanOrEqual(0.015);
    } finally {
      await engine.stop();
    }
  }, 120_000);

  test('a collector replaced before it was scraped with the canary\'s first spans: the traffic gate waits for the new one instead of stopping the canary as idle', async () => {
    // A miss of the 1000-trial run (1.1 % of checkout's healthy canaries aborted): the canary's spans
    // went to a collector that was replaced before its first scrape after the flush, and the new pod
    // was scraped only after the traffic gate's first look, which saw no request. Placed here on
    // purpose: the old pod scraped at 12 s (before the flush at 18 s) and gone at 40 s; the new one up
    // at 50 s, flushing at 65 s, discovered at 59.9 s and scraped at 60 s and 120 s.
    const placedAt = (target: RehearsalTarget) => {
      const data = prepareRehearsal(target, { trials: 3, seed: 5 }, (t) => wholeRunScenarios(t).filter((x) => x.name === 'collector-restart'));
      for (const trial of data.targets[0].placed[0].trials) {
        Object.assign(trial, { phases: { ...trial.phases, flushPhase: 3, exportDelay: 3, collectorScrapePhase: 12, restart: { at: 40, discovery: 9.9, scrapePhase: 0 } } });
      }
      return data;
    };
    const checkout = targetOf(fixtureDelivery({ services: [CHECKOUT] }));
    const traffic = checkout.gates.find((g) => g.kind === GateKind.TRAFFIC)!;
    expect(traffic.initialDelaySeconds).toBeLessThan(120);
    // the chart's 1m scrape: two looks may pass empty
    expect(traffic.failureLimit).toBe(2);
    const untolerant = { ...checkout, gates: checkout.gates.map((g) => (g === traffic ? { ...g, failureLimit: 0 } : g)) };
    for (const [target, verdict] of [[untolerant, MeasurementPhase.FAILED], [checkout, MeasurementPhase.SUCCESSFUL]] as const) {
      const data = placedAt(target);
      const engine = await PrometheusEngine.start(data.chunks, binaries);
      try {
        const [r] = await runScenarios(data, engine);
        expect(r.trials.map((t) => t.outcome.verdict)).toEqual([verdict, verdict, verdict]);
        if (verdict === MeasurementPhase.FAILED) expect(r.trials.map((t) => t.outcome.decidingGate)).toEqual([traffic.name, traffic.name, traffic.name]);
      } finally {
        await engine.stop();
      }
    }
  }, 60_000);
});
