import { mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { Duration } from 'cdk8s';
import { GateKind, PrometheusBackend } from '../lib';
import { MeasurementPhase } from '../lib/analysis/condition';
import { SPANMETRICS_DEFAULT_BUCKETS } from '../lib/platform/collector-config';
import { targetFromManifests } from '../lib/rehearsal/from-model';
import { prepareRehearsal, RehearsalData } from '../lib/rehearsal/rehearse';
import { builtInScenarios } from '../lib/rehearsal/scenarios';
import { drawPhases, placeScenarios, randomSource, userLatencyDistribution } from '../lib/rehearsal/series';
import { seriesReadBy } from '../lib/rehearsal/series-filter';
import { fixtureDelivery, HOTROD, targetOf } from './helpers';

const BOUNDS = SPANMETRICS_DEFAULT_BUCKETS.map((d) => d.toMilliseconds());

/** histogram_quantile's linear interpolation, for checking the distribution only (the rehearsal itself asks Prometheus). */
function interpolate(bounds: number[], cdf: number[], q: number): number {
  const j = cdf.findIndex((c) => c >= q);
  const lo = j === 0 ? 0 : bounds[j - 1];
  const below = j === 0 ? 0 : cdf[j - 1];
  return lo + (bounds[j] - lo) * (q - below) / (cdf[j] - below);
}

describe('synthetic series', () => {
  test.each([300, 800, 900, 999, 1001, 1100, 1600, 3000])('the user latency distribution (20%% fast /, the rest /dispatch) puts p95 at %sms', (p95) => {
    const { fast, work: dispatch } = userLatencyDistribution(BOUNDS, p95, 0.2, 700);
    expect(dispatch).toHaveLength(BOUNDS.length + 1);
    const combined = dispatch.map((d, k) => 0.2 * fast[k] + 0.8 * d);
    expect(interpolate(BOUNDS, combined, 0.95)).toBeCloseTo(p95, 6);
    // cumulative shares only grow, and end at 1
    expect(dispatch.every((d, k) => k === 0 || d >= dispatch[k - 1])).toBe(true);
    expect(dispatch[dispatch.length - 1]).toBe(1);
  });

  test('a p95 the buckets cannot hold is refused with the bounds', () => {
    expect(() => userLatencyDistribution(BOUNDS, 20000, 0.2)).toThrow('cannot model a p95 of 20000: it must lie above the first bucket bound (2) and at most the last (15000)');
  });

  test('the scenarios follow the gates: thresholds, evidence and the resolution of the error gate', () => {
    // GIVEN stricter gates
    // (without a generator: HotROD could not serve the rate 150 requests a minute take at its canary)
    const fixture = fixtureDelivery({ services: [{ ...HOTROD, gates: { maxErrorRatio: 0.02, maxP95: Duration.millis(400) }, trafficGenerator: false }] });
    const target = targetOf(fixture);
    const scenarios = builtInScenarios(target);
    const canary = (name: string) => scenarios.find((s) => s.name === name)!.canary;
    // 150 requests of evidence at 2%: 3 failures; one failure is a third of the threshold
    expect(fixture.analysis.evidenceRequests).toBe(150);
    expect(canary('error-rate-just-inside').errorRatio).toBeCloseTo(0.02 * (1 - 1 / 3));
    expect(canary('error-rate-just-outside').errorRatio).toBeCloseTo(0.02 * (1 + 1 / 3));
    expect(canary('latency-just-inside').p95Ms).toBeCloseTo(360);
    expect(canary('latency-just-outside').p95Ms).toBeCloseTo(440);
    expect(canary('slow-canary').p95Ms).toBeCloseTo(640);
    expect(canary('idle-canary').userRequestsPerSecond).toBe(0);
    // a trickle serves a third of the evidence before the gates measure
    expect(canary('trickle').userRequestsPerSecond * target.gates[0].initialDelaySeconds).toBeCloseTo(50);
    expect(scenarios.find((s) => s.name === 'trickle')).toMatchObject({ expected: MeasurementPhase.INCONCLUSIVE, expectedGate: GateKind.TRAFFIC });
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
      expect(p.restart!.at).toBeLessThan(130);
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
