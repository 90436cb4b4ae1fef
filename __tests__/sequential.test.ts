import { BinomialSprt, HORIZON_RESIDUAL, operatingCharacteristic } from '../lib/analysis/sequential';
import { randomSource } from '../lib/rehearsal/series';

/** A test run request by request, or looking only every `look` requests (as a gate that looks at each scrape does). */
function simulate(test: BinomialSprt, share: number, runs: number, seed: number, look = 1, maxRequests = test.horizonRequests()) {
  const random = randomSource(seed);
  // Wald's statistic, written out again from the design (not read from the class under test)
  const { good, bad: badShare, falseStop, falsePromote } = test.design;
  const [a, b, upper, lower] = [Math.log(badShare / good), Math.log((1 - badShare) / (1 - good)), Math.log(1 / falseStop), Math.log(falsePromote)];
  let promote = 0;
  let stop = 0;
  for (let r = 0; r < runs; r++) {
    let llr = 0;
    for (let n = 1; n <= maxRequests; n++) {
      llr += random() < share ? a : b;
      if (n % look !== 0 && n !== maxRequests) continue;
      if (llr >= upper) { stop++; break; }
      if (llr <= lower) { promote++; break; }
    }
  }
  return { promote: promote / runs, stop: stop / runs };
}

describe('the binomial SPRT a sequential gate runs', () => {
  test.each([0.05, 0.02, 0.01, 0.001])('at a %p threshold: weights and bounds as Wald gives them, with the defaults (good half, bad twice, 1 %% each)', (threshold) => {
    const oc = operatingCharacteristic(threshold, {}, 'test');
    expect(oc).toEqual({ good: threshold / 2, bad: threshold * 2, falseStop: 0.01, falsePromote: 0.01 });
    const test = BinomialSprt.of(oc);
    expect(test.badWeight).toBeCloseTo(Math.log(4), 12);
    expect(test.goodWeight).toBeCloseTo(Math.log((1 - 2 * threshold) / (1 - threshold / 2)), 12);
    expect(test.upperBound).toBeCloseTo(Math.log(100), 12);
    expect(test.lowerBound).toBeCloseTo(Math.log(0.01), 12);
    expect(BinomialSprt.of({ ...oc })).toBe(test); // one test per design
  });

  test.each([0.05, 0.01, 0.001])('at a %p threshold the exact chances keep the design: at most 1 %% of good canaries stopped, 1 %% of bad ones promoted', (threshold) => {
    const test = BinomialSprt.of(operatingCharacteristic(threshold, {}, 'test'));
    const horizon = test.horizonRequests();
    const good = test.behaviour(threshold / 2, horizon);
    const bad = test.behaviour(threshold * 2, horizon);
    expect(good.stop + good.undecided).toBeLessThanOrEqual(0.01);
    expect(bad.promote).toBeLessThanOrEqual(0.01);
    // the exact chances are close to the bounds, not far inside them: the test spends its error budget
    expect(good.stop).toBeGreaterThan(0.005);
    expect(bad.promote).toBeGreaterThan(0.005);
    // below good and above bad it only gets better
    expect(test.behaviour(0, horizon).promote).toBe(1);
    expect(test.behaviour(threshold * 4, horizon).promote).toBeLessThan(1e-4);
  });

  test('the horizon is the fewest requests that leave at most the residual undecided at good and at bad', () => {
    const test = BinomialSprt.of(operatingCharacteristic(0.05, {}, 'test'));
    const h = test.horizonRequests();
    const undecided = (n: number) => Math.max(test.behaviour(0.025, n).undecided, test.behaviour(0.1, n).undecided);
    expect(undecided(h)).toBeLessThanOrEqual(HORIZON_RESIDUAL);
    expect(undecided(h - 1)).toBeGreaterThan(HORIZON_RESIDUAL);
  });

  test('the fewest requests to promote and to stop are where the statistic first crosses its bounds', () => {
    const test = BinomialSprt.of(operatingCharacteristic(0.01, {}, 'test'));
    const n = test.fewestToPromote;
    expect(test.verdict(n, 0)).toBe('promote');
    expect(test.verdict(n - 1, 0)).toBeUndefined();
    const k = test.fewestToStop;
    expect(test.verdict(k, k)).toBe('stop');
    expect(test.verdict(k - 1, k - 1)).toBeUndefined();
  });

  test('the dynamic programme agrees with 10000 simulated canaries, request by request', () => {
    const test = BinomialSprt.of(operatingCharacteristic(0.05, {}, 'test'));
    const horizon = test.horizonRequests();
    for (const [share, seed] of [[0.025, 1], [0.05, 2], [0.1, 3]] as const) {
      const exact = test.behaviour(share, horizon);
      const simulated = simulate(test, share, 10000, seed);
      // 4 standard errors of a share measured over 10000 runs
      const tolerance = (p: number) => 4 * Math.sqrt((p * (1 - p)) / 10000) + 1e-3;
      expect(Math.abs(simulated.promote - exact.promote)).toBeLessThan(tolerance(exact.promote));
      expect(Math.abs(simulated.stop - exact.stop)).toBeLessThan(tolerance(exact.stop));
    }
  });

  test('looking only now and then (every 90 requests, a minute of HotROD\'s canary at a 1m scrape) keeps both error rates', () => {
    const test = BinomialSprt.of(operatingCharacteristic(0.05, {}, 'test'));
    const good = simulate(test, 0.025, 10000, 4, 90, 10 * test.horizonRequests());
    const bad = simulate(test, 0.1, 10000, 5, 90, 10 * test.horizonRequests());
    expect(1 - good.promote).toBeLessThanOrEqual(0.01);
    expect(bad.promote).toBeLessThanOrEqual(0.01);
  });

  test('a design that cannot work is refused, naming the field, the value and what is allowed', () => {
    expect(() => operatingCharacteristic(0.05, { good: 0.05 }, 'GateSpec.errorRatio')).toThrow(
      'GateSpec.errorRatio: good must be a share above 0 and below the threshold 0.05, got 0.05');
    expect(() => operatingCharacteristic(0.05, { bad: 0.04 }, 'GateSpec.errorRatio')).toThrow(
      'GateSpec.errorRatio: bad must be a share above the threshold 0.05 and below 1, got 0.04');
    expect(() => operatingCharacteristic(0.05, { falseStop: 1 }, 'X')).toThrow('X: falseStop must be a chance above 0 and below 0.5, got 1 (for 1% write 0.01)');
    expect(() => operatingCharacteristic(0.05, { falsePromote: 0 }, 'X')).toThrow('X: falsePromote must be a chance above 0 and below 0.5, got 0');
    // a threshold at or above one half: bad halfway to 1
    expect(operatingCharacteristic(0.6, {}, 'X').bad).toBeCloseTo(0.8, 12);
  });
});
