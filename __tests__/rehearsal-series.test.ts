import { mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { Duration } from 'cdk8s';
import { GateKind, PrometheusBackend } from '../lib';
import { MeasurementPhase } from '../lib/analysis/condition';
import { SPANMETRICS_DEFAULT_BUCKETS } from '../lib/platform/collector-config';
import { targetFromManifests } from '../lib/rehearsal/from-model';
import { prepareRehearsal, RehearsalData } from '../lib/rehearsal/rehearse';
import { builtInScenarios, consistentSlow, lastLookSeconds } from '../lib/rehearsal/scenarios';
import { drawPhases, openMetrics, placeScenarios, randomSource, workLatencyCdf } from '../lib/rehearsal/series';
import { seriesReadBy } from '../lib/rehearsal/series-filter';
import { CHECKOUT, fixtureDelivery, HOTROD, targetOf } from './helpers';

const BOUNDS = SPANMETRICS_DEFAULT_BUCKETS.map((d) => d.toMilliseconds());

describe('synthetic series', () => {
  test('a work endpoint\'s latency: the slow shares sit just above their bounds, the rest at its typical latency (20 % fast / never slow)', () => {
    // 1 % of all user requests slower than 1000 ms, 0.2 % slower than 2000 ms: of the 80 % work, 1.25 % and 0.25 %
    const cdf = workLatencyCdf(BOUNDS, [{ bound: 1000, share: 0.01 }, { bound: 2000, share: 0.002 }], 0.2, 700);
    const at = (ms: number) => cdf[BOUNDS.indexOf(ms)];
    expect(cdf).toHaveLength(BOUNDS.length + 1);
    expect(at(400)).toBe(0);
    expect(at(800)).toBeCloseTo(1 - 0.0125, 12);
    expect(at(1000)).toBeCloseTo(1 - 0.0125, 12);
    expect(at(1400)).toBeCloseTo(1 - 0.0025, 12);
    expect(at(2000)).toBeCloseTo(1 - 0.0025, 12);
    expect(at(5000)).toBe(1);
    expect(cdf.every((c, k) => k === 0 || c >= cdf[k - 1])).toBe(true);
    // a typical latency above the lowest bound is held just below it; shares that do not hold together are made to
    expect(workLatencyCdf(BOUNDS, [{ bound: 400, share: 0.1 }], 0, 700)[BOUNDS.indexOf(400)]).toBeCloseTo(0.9, 12);
    expect(consistentSlow([{ bound: 2000, share: 0.05 }, { bound: 1000, share: 0.01 }])).toEqual([{ bound: 1000, share: 0.05 }, { bound: 2000, share: 0.05 }]);
  });

  test('with sampling noise, requests arrive as a Poisson process and fail at random at the scenario\'s true rate; without, counts are rate x time', () => {
    const target = targetOf(fixtureDelivery({ services: [CHECKOUT] }));
    const scenario = builtInScenarios(target).find((s) => s.name === 'error-rate-lt-5-percent@2x')!;
    expect(scenario.canary.errorRatio).toBeCloseTo(0.1, 12);
    const trials = 200;
    const calls = target.spanmetrics.series.calls;
    const counts = (noise: boolean) => {
      const [placed] = placeScenarios(target, [scenario], trials, 11, 0, noise);
      // only the calls: the last value of each series, summed per canary and status
      const text = openMetrics(target, placed, seriesReadBy([`${calls}{}`]));
      const last = new Map<string, { hash: string; failed: boolean; value: number }>();
      for (const line of text.split('\n').filter((l) => l.startsWith(`${calls}{`))) {
        const series = line.slice(0, line.lastIndexOf('}') + 1);
        const hash = /k8s_pod_label_rollouts_pod_template_hash="([^"]*)"/.exec(series)![1];
        last.set(series, { hash, failed: series.includes('STATUS_CODE_ERROR'), value: Number(line.slice(series.length).trim().split(' ')[0]) });
      }
      return placed.trials.map((t) => {
        const of = [...last.values()].filter((v) => v.hash === t.canaryHash);
        const failed = of.filter((v) => v.failed).reduce((n, v) => n + v.value, 0);
        return { all: of.reduce((n, v) => n + v.value, 0), failed };
      });
    };
    const noisy = counts(true);
    const steady = counts(false);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const variance = (xs: number[]) => mean(xs.map((x) => (x - mean(xs)) ** 2));
    // without noise every trial counts alike (up to its phases); with it, the counts scatter as a Poisson count does: variance near the mean
    const all = noisy.map((c) => c.all);
    expect(variance(all) / mean(all)).toBeGreaterThan(0.6);
    expect(Math.abs(mean(all) - mean(steady.map((c) => c.all))) / mean(all)).toBeLessThan(0.05);
    const ratio = noisy.reduce((n, c) => n + c.failed, 0) / noisy.reduce((n, c) => n + c.all, 0);
    expect(ratio).toBeGreaterThan(0.09);
    expect(ratio).toBeLessThan(0.11);
    // the failed share of single trials scatters around 10 %; without noise it is 10 % up to a request or two
    expect(variance(noisy.map((c) => c.failed / c.all))).toBeGreaterThan(10 * variance(steady.map((c) => c.failed / c.all)));
    for (const c of steady) expect(Math.abs(c.failed / c.all - 0.1)).toBeLessThan(0.01);
  });

  test('a trial\'s draws come from its own seed: the same seed writes the same series, another seed others', () => {
    const target = targetOf(fixtureDelivery());
    const healthy = builtInScenarios(target).filter((s) => s.name === 'healthy');
    const text = (seed: number) => openMetrics(target, placeScenarios(target, healthy, 3, seed)[0]);
    expect(text(5)).toBe(text(5));
    expect(text(5)).not.toBe(text(6));
    const [a, b] = [placeScenarios(target, healthy, 3, 5)[0], placeScenarios(target, healthy, 3, 6)[0]];
    expect(new Set([...a.trials, ...b.trials].map((t) => t.seed)).size).toBe(6);
  });

  test('the scenarios follow the gates: shares at a fifth of each threshold, the idle canary, and a trickle of a third of what promotion needs', () => {
    const fixture = fixtureDelivery({ services: [{ ...HOTROD, gates: { maxErrorRatio: 0.02, maxP95: Duration.millis(400) }, trafficGenerator: false }] });
    const target = targetOf(fixture);
    const scenarios = builtInScenarios(target);
    const canary = (name: string) => scenarios.find((x) => x.name === name)!.canary;
    expect(canary('healthy').errorRatio).toBeCloseTo(0.004, 12);
    expect(canary('healthy').slow).toEqual([{ bound: 400, share: expect.closeTo(0.01, 12) }]);
    expect(canary('failing-half').errorRatio).toBe(0.5);
    expect(canary('slow-half').slow).toEqual([{ bound: 400, share: 0.5 }]);
    expect(canary('idle-canary').userRequestsPerSecond).toBe(0);
    // a trickle serves a third of the traffic gate's requests by its last look
    const traffic = target.gates[0];
    const last = traffic.initialDelaySeconds + (traffic.specCount - 1) * traffic.intervalSeconds;
    expect(canary('trickle').userRequestsPerSecond * last).toBeCloseTo(traffic.threshold!.value / 3, 6);
    expect(scenarios.find((x) => x.name === 'trickle')).toMatchObject({ expected: [MeasurementPhase.INCONCLUSIVE, MeasurementPhase.FAILED], expectedGate: GateKind.TRAFFIC });
    // each share gate's operating characteristic, at 0 to 4 times its threshold
    expect(scenarios.filter((x) => x.point?.gate === 'error-rate-lt-2-percent').map((x) => x.canary.errorRatio)).toEqual([0, 0.01, 0.02, 0.04, 0.08]);
  });

  test('each trial draws its phases within the pipeline\'s bounds, reproducibly', () => {
    const target = targetOf(fixtureDelivery({ prometheus: PrometheusBackend.kubePrometheusStack() }));
    const restart = builtInScenarios(target).find((s) => s.name === 'collector-restart')!;
    const a = Array.from({ length: 200 }, ((r) => () => drawPhases(target, restart, r))(randomSource(3)));
    const b = Array.from({ length: 200 }, ((r) => () => drawPhases(target, restart, r))(randomSource(3)));
    expect(a).toEqual(b);
    for (const p of a) {
      expect(p.discovery).toBeGreaterThanOrEqual(0);
      expect(p.discovery).toBeLessThan(10);
      expect(p.canaryScrapePhase).toBeLessThan(30);
      expect(p.collectorScrapePhase).toBeLessThan(30);
      expect(p.flushPhase).toBeLessThan(15);
      expect(p.exportDelay).toBeLessThanOrEqual(1.2);
      // somewhere in the first 60 % of the looks
      expect(p.restart!.at).toBeLessThan(0.6 * lastLookSeconds(target));
    }
    // the draws spread over their ranges
    expect(Math.max(...a.map((p) => p.canaryScrapePhase))).toBeGreaterThan(27);
    expect(Math.min(...a.map((p) => p.canaryScrapePhase))).toBeLessThan(3);
  });

  test('every trial gets its own canary hash; each scenario its own hour', () => {
    const target = targetOf(fixtureDelivery());
    const placed = placeScenarios(target, builtInScenarios(target), 5, 1);
    const hashes = placed.flatMap((p) => [...p.trials.map((t) => t.canaryHash), p.stableHash]);
    expect(new Set(hashes).size).toBe(hashes.length);
    expect(new Set(placed.map((p) => p.origin)).size).toBe(placed.length);
  });

  test('a folder without a rollout is a clear error', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rehearse-empty-'));
    try {
      expect(() => targetFromManifests(dir)).toThrow(`${dir}: no Rollout with a canary analysis step; the rehearsal replays the analysis a Rollout's canary step runs`);
      expect(() => targetFromManifests(join(dir, 'missing'))).toThrow('missing: no such folder');
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});

describe('the series a set of queries can read (seriesReadBy)', () => {
  const requests = 'hotrod_requests_total';
  const canary = '{{args.canary-hash}}';
  const gate = `sum(increase(${requests}{namespace="hotrod", rollouts_pod_template_hash="${canary}", endpoint=~"/|/dispatch", error!="true"}[2m]))`;
  const keep = seriesReadBy([gate])!;

  test('a series is kept when a selector matches it: the metric name, = and != on its labels, an anchored regex', () => {
    expect(keep(requests, { namespace: 'hotrod', rollouts_pod_template_hash: 'abc', endpoint: '/dispatch', error: 'false' })).toBe(true);
    expect(keep(requests, { namespace: 'hotrod', rollouts_pod_template_hash: 'abc', endpoint: '/', error: 'false' })).toBe(true);
    // the regex is anchored at both ends, as Prometheus anchors it
    expect(keep(requests, { namespace: 'hotrod', rollouts_pod_template_hash: 'abc', endpoint: '/dispatcher', error: 'false' })).toBe(false);
    expect(keep(requests, { namespace: 'hotrod', rollouts_pod_template_hash: 'abc', endpoint: '/metrics', error: 'false' })).toBe(false);
    expect(keep(requests, { namespace: 'hotrod', rollouts_pod_template_hash: 'abc', endpoint: '/', error: 'true' })).toBe(false);
    expect(keep(requests, { namespace: 'other', rollouts_pod_template_hash: 'abc', endpoint: '/', error: 'false' })).toBe(false);
    expect(keep('traces_span_metrics_calls_total', { namespace: 'hotrod', endpoint: '/' })).toBe(false);
  });

  test('a placeholder matches any value; an absent label reads as the empty value', () => {
    expect(keep(requests, { namespace: 'hotrod', rollouts_pod_template_hash: 'any-other-hash', endpoint: '/' })).toBe(true);
    // error!="true" keeps a series without the label; the placeholder's matcher keeps one without the hash
    expect(keep(requests, { namespace: 'hotrod', endpoint: '/' })).toBe(true);
    expect(seriesReadBy([`${requests}{error="true"}`])!(requests, { endpoint: '/' })).toBe(false);
  });

  test('what it cannot be sure of it keeps: a regex outside the plain subset, a selector without a name, a query that does not parse', () => {
    // Prometheus would not match '/' with "/[a-z]+", nor keep 'X' with !~"(?i)x"; the filter keeps both
    const classes = seriesReadBy([`${requests}{endpoint=~"/[a-z]+"}`])!;
    expect(classes(requests, { endpoint: '/' })).toBe(true);
    expect(classes('other_total', { endpoint: '/' })).toBe(false);
    expect(seriesReadBy([`${requests}{job!~"(?i)x"}`])!(requests, { job: 'X' })).toBe(true);
    // `.` matches a newline in Prometheus 3, not in 2: kept by =~ and by !~ alike
    expect(seriesReadBy([`${requests}{job=~"a.b"}`])!(requests, { job: 'a\nb' })).toBe(true);
    expect(seriesReadBy([`${requests}{job!~"a.b"}`])!(requests, { job: 'a\nb' })).toBe(true);
    expect(seriesReadBy([`${requests}{job!~"a.b"}`])!(requests, { job: 'axb' })).toBe(false);
    expect(seriesReadBy(['count({namespace="checkout"})'])!('anything_at_all', { namespace: 'checkout' })).toBe(true);
    expect(seriesReadBy(['sum(rate(x[5m])'])).toBeUndefined();
    expect(seriesReadBy([])).toBeUndefined();
    // more queries, more series
    expect(seriesReadBy([gate, `${requests}{endpoint="/metrics"}`])!(requests, { endpoint: '/metrics' })).toBe(true);
  });

  test('a rehearsal writes the series of its gates and of the queries asked for, and every series with series: all', () => {
    const target = targetOf(fixtureDelivery());
    const [healthy] = builtInScenarios(target);
    const lines = (d: RehearsalData) => new Set(d.chunks.flatMap((c) => c.split('\n')));
    const all = lines(prepareRehearsal(target, { trials: 1, series: 'all' }, () => [healthy]));
    const read = lines(prepareRehearsal(target, { trials: 1 }, () => [healthy]));
    const metrics = lines(prepareRehearsal(target, { trials: 1, alsoReadBy: () => [`${requests}{endpoint="/metrics"}`] }, () => [healthy]));
    expect([...read].every((l) => all.has(l))).toBe(true);
    expect([...all].some((l) => l.includes('span_name="/route"'))).toBe(true);
    expect([...read].some((l) => l.includes('span_name="/route"') || l.includes('endpoint="/metrics"'))).toBe(false);
    expect([...metrics].filter((l) => !read.has(l)).every((l) => l.startsWith(`${requests}{`) && l.includes('endpoint="/metrics"'))).toBe(true);
    expect(metrics.size).toBeGreaterThan(read.size);
  });
});
