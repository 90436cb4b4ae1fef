import { mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { builtInScenarios, GateKind, latencyDistribution, MeasurementPhase, placeScenarios, SPANMETRICS_DEFAULT_BUCKETS, targetFromManifests, targetFromStack } from '../lib';
import { defaultStack, wiredStack } from './helpers';

const BOUNDS = SPANMETRICS_DEFAULT_BUCKETS.map((d) => d.toMilliseconds());

/** histogram_quantile's linear interpolation, for checking the distribution only (the rehearsal itself asks Prometheus). */
function interpolate(bounds: number[], cdf: number[], q: number): number {
  const j = cdf.findIndex((c) => c >= q);
  const lo = j === 0 ? 0 : bounds[j - 1];
  const below = j === 0 ? 0 : cdf[j - 1];
  return lo + (bounds[j] - lo) * (q - below) / (cdf[j] - below);
}

describe('synthetic series', () => {
  test.each([300, 900, 999, 1001, 1100, 1500, 3000])('the latency distribution puts p95 at %sms', (p95) => {
    const cdf = latencyDistribution(BOUNDS, p95);
    expect(cdf).toHaveLength(BOUNDS.length + 1);
    expect(interpolate(BOUNDS, cdf, 0.95)).toBeCloseTo(p95, 6);
    // most spans are fast: the median is far below p95
    expect(interpolate(BOUNDS, cdf, 0.5)).toBeLessThan(p95 / 2);
  });

  test('a p95 the buckets cannot hold is refused with the bounds', () => {
    expect(() => latencyDistribution(BOUNDS, 20000)).toThrow('cannot model a p95 of 20000: it must lie above the first bucket bound (2) and at most the last (15000)');
  });

  test('the threshold pairs follow the gates thresholds', () => {
    // GIVEN stricter gates
    const { pipeline, collector, rollout, gates } = wiredStack({ gates: { maxErrorRatio: 0.02, maxP95Ms: 500, minRequestsPerSecond: 1 } });
    const scenarios = builtInScenarios(targetFromStack({ pipeline, collector, rollout, gates }));
    const canary = (name: string) => scenarios.find((s) => s.name === name)!.canary;
    expect(canary('error-rate-just-inside').errorRatio).toBeCloseTo(0.018);
    expect(canary('error-rate-just-outside').errorRatio).toBeCloseTo(0.022);
    expect(canary('latency-just-inside').p95).toBeCloseTo(450);
    expect(canary('latency-just-outside').p95).toBeCloseTo(550);
    expect(canary('traffic-just-inside').requestsPerSecond).toBeCloseTo(1.5);
    expect(canary('traffic-just-outside').requestsPerSecond).toBeCloseTo(0.75);
    expect(canary('slow-canary').p95).toBeCloseTo(750);
    expect(scenarios.find((s) => s.name === 'traffic-just-outside')).toMatchObject({ expected: MeasurementPhase.FAILED, expectedGate: GateKind.TRAFFIC });
  });

  test('each scenario gets its own canary and stable hash, and stable and canary pods exist', () => {
    const target = targetFromStack(defaultStack());
    const placed = placeScenarios(target, builtInScenarios(target));
    const hashes = placed.flatMap((p) => [p.canaryHash, p.stableHash]);
    expect(new Set(hashes).size).toBe(hashes.length);
    expect(placed[0].pods.map((p) => p.hash)).toEqual([placed[0].stableHash, placed[0].canaryHash]);
  });

  test('a folder without a rollout is a clear error', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rehearse-empty-'));
    try {
      expect(() => targetFromManifests(dir)).toThrow(`${dir}: expected one Rollout with a canary analysis step, found 0`);
      expect(() => targetFromManifests(join(dir, 'missing'))).toThrow('missing: no such folder');
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});
