/**
 * Gates as sequential tests: Wald's sequential probability ratio test (SPRT) for a share of bad
 * requests (failed ones, or ones slower than a latency threshold), judged on the canary's
 * cumulative counts at every look, so a verdict comes as soon as the evidence allows while both
 * kinds of wrong verdict stay bounded.
 *
 * The test: every request is bad with an unknown probability p. Against the hypotheses
 * "p = good" (the canary must pass) and "p = bad" (it must stop), the log-likelihood ratio after
 * n requests of which x were bad is
 *
 *   LLR = x ln(bad / good) + (n - x) ln((1 - bad) / (1 - good)).
 *
 * It stops the canary when LLR >= ln(1 / falseStop) and promotes it when LLR <= ln(falsePromote)
 * (A. Wald, "Sequential Tests of Statistical Hypotheses",
 * Ann. Math. Statist. 16(2), 1945, sections 3.2-3.3). Wald's inequalities bound the chance of
 * stopping a canary at `good` by falseStop and of promoting one at `bad` by falsePromote with these
 * bounds; they rest only on the ratio being past its bound when the test
 * stops, so they hold when it looks at the counts now and then (at each scrape) rather than after
 * every request: a look that comes late can only overshoot the bound. For p below `good` the
 * chance of a stop is lower still, for p above `bad` the chance of a promotion (the likelihood
 * ratio is monotone in x).
 *
 * Netflix's canary analysis uses anytime-valid sequential tests for the same reason (Lindon,
 * Sanden, Shirikian, "Rapid Regression Detection in Software Deployments through Sequential
 * Testing", KDD 2022, arXiv:2205.14762); theirs bound false alarms only, this one bounds both
 * errors, since a good canary that waits for a person costs a deployment.
 */

/**
 * The operating characteristic a sequential gate is designed for: the true share of bad requests
 * that must pass and the one that must stop, and the chance of a wrong verdict at each.
 */
export interface OperatingCharacteristic {
  /** the share of bad requests a canary may have and still be promoted, with chance 1 - falseStop */
  readonly good: number;
  /** the share of bad requests at which a canary must be stopped, with chance 1 - falsePromote */
  readonly bad: number;
  /** the chance that a canary at `good` is stopped */
  readonly falseStop: number;
  /** the chance that a canary at `bad` is promoted */
  readonly falsePromote: number;
}

/** The chances of a wrong verdict a gate is designed for unless told otherwise. */
export const DEFAULT_FALSE_STOP = 0.01;
export const DEFAULT_FALSE_PROMOTE = 0.01;

/**
 * The share of undecided canaries at `good` and at `bad` a design's horizon leaves: the horizon is
 * the number of requests by which all but this share are decided (with looks after every request).
 */
export const HORIZON_RESIDUAL = 1e-4;

/** What a gate's design may be given; the rest comes from its threshold. */
export interface OperatingCharacteristicOptions {
  /** the share that must pass @default - half the threshold */
  readonly good?: number;
  /** the share that must stop @default - twice the threshold (or halfway to 1 when that is 1 or more) */
  readonly bad?: number;
  /** the chance a canary at `good` is stopped, in (0, 0.5) @default 0.01 */
  readonly falseStop?: number;
  /** the chance a canary at `bad` is promoted, in (0, 0.5) @default 0.01 */
  readonly falsePromote?: number;
}

/**
 * The design of a gate whose threshold is the share `threshold` of bad requests: the options
 * given, the rest by default. Throws, naming `where`, on a design that cannot work.
 */
export function operatingCharacteristic(threshold: number, options: OperatingCharacteristicOptions, where: string): OperatingCharacteristic {
  const oc: OperatingCharacteristic = {
    good: options.good ?? threshold / 2,
    bad: options.bad ?? (2 * threshold < 1 ? 2 * threshold : (1 + threshold) / 2),
    falseStop: options.falseStop ?? DEFAULT_FALSE_STOP,
    falsePromote: options.falsePromote ?? DEFAULT_FALSE_PROMOTE,
  };
  for (const field of ['falseStop', 'falsePromote'] as const) {
    const v = oc[field];
    if (!(v > 0 && v < 0.5)) throw new Error(`${where}: ${field} must be a chance above 0 and below 0.5, got ${v} (for 1% write 0.01)`);
  }
  if (!(oc.good > 0 && oc.good < threshold)) {
    throw new Error(`${where}: good must be a share above 0 and below the threshold ${num(threshold)}, got ${oc.good}; `
      + 'a canary at good must pass, so it must lie inside the threshold (a share of 0 can never be told apart from a bad one by counting)');
  }
  if (!(oc.bad > threshold && oc.bad < 1)) {
    throw new Error(`${where}: bad must be a share above the threshold ${num(threshold)} and below 1, got ${oc.bad}; a canary at bad must stop, so it must lie outside the threshold`);
  }
  return oc;
}

/** How a sequential test ends after some requests: promoted, stopped, or not yet. */
export type SequentialVerdict = 'promote' | 'stop' | undefined;

/** The exact behaviour of a design at one true share, as if it looked after every request. */
export interface DesignBehaviour {
  /** the true share of bad requests */
  readonly share: number;
  readonly promote: number;
  readonly stop: number;
  /** the chance it is still undecided after `maxRequests` */
  readonly undecided: number;
  /** the expected number of requests to a verdict (counting the undecided at maxRequests) */
  readonly expectedRequests: number;
  /** the median number of requests to a verdict; undefined when fewer than half are decided by maxRequests */
  readonly medianRequests?: number;
  readonly maxRequests: number;
}

/** Wald's binomial SPRT for one operating characteristic. */
export class BinomialSprt {
  /** The test of a design, made once per design (its exact behaviours are cached). */
  public static of(design: OperatingCharacteristic): BinomialSprt {
    const key = `${design.good}/${design.bad}/${design.falseStop}/${design.falsePromote}`;
    let test = TESTS.get(key);
    if (!test) TESTS.set(key, test = new BinomialSprt(design));
    return test;
  }

  /** what the log-likelihood ratio gains with each bad request (> 0) */
  public readonly badWeight: number;
  /** what it gains with each good request (< 0) */
  public readonly goodWeight: number;
  /** at or below it: promote */
  public readonly lowerBound: number;
  /** at or above it: stop */
  public readonly upperBound: number;

  constructor(public readonly design: OperatingCharacteristic) {
    const { good, bad, falseStop, falsePromote } = design;
    this.badWeight = Math.log(bad / good);
    this.goodWeight = Math.log((1 - bad) / (1 - good));
    // Wald's inequalities (1945, section 3.2): a stop rate at `good` of at most (1 - falsePromote') / A
    // and a promotion rate at `bad` of at most B (1 - falseStop') whatever the overshoot; A = 1 / falseStop
    // and B = falsePromote keep both at most what was asked (Wald's A = (1 - beta) / alpha and B = beta / (1 - alpha)
    // only approximate them: 1.003 % promoted at twice a 0.1 % threshold, measured with behaviour()).
    this.lowerBound = Math.log(falsePromote);
    this.upperBound = -Math.log(falseStop);
  }

  /** The log-likelihood ratio after `requests`, `bad` of them bad. */
  public statistic(requests: number, bad: number): number {
    return bad * this.badWeight + (requests - bad) * this.goodWeight;
  }

  /** The verdict after `requests`, `bad` of them bad. */
  public verdict(requests: number, bad: number): SequentialVerdict {
    const llr = this.statistic(requests, bad);
    return llr >= this.upperBound ? 'stop' : llr <= this.lowerBound ? 'promote' : undefined;
  }

  /** The fewest requests that can promote a canary: all of them good. */
  public get fewestToPromote(): number {
    return Math.ceil(this.lowerBound / this.goodWeight - 1e-9);
  }

  /** The fewest requests that can stop a canary: all of them bad. */
  public get fewestToStop(): number {
    return Math.ceil(this.upperBound / this.badWeight - 1e-9);
  }

  /**
   * The exact chances of each verdict at a true share, looking after every request up to
   * `maxRequests`, by dynamic programming over the number of bad requests (the undecided band is
   * (upper - lower) / (badWeight - goodWeight) bad requests wide at every n, so this is cheap).
   */
  public behaviour(share: number, maxRequests: number): DesignBehaviour {
    const key = `${share}/${maxRequests}`;
    let found = this.behaviours.get(key);
    if (!found) this.behaviours.set(key, found = this.compute(share, maxRequests));
    return found;
  }

  private readonly behaviours = new Map<string, DesignBehaviour>();
  private readonly horizons = new Map<number, number>();

  private compute(share: number, maxRequests: number): DesignBehaviour {
    let last: DesignBehaviour = { share, promote: 0, stop: 0, undecided: 1, expectedRequests: 0, maxRequests: 0 };
    for (const step of this.steps(share)) {
      last = step;
      if (step.maxRequests >= maxRequests || step.undecided === 0) break;
    }
    return { ...last, expectedRequests: last.expectedRequests + last.undecided * last.maxRequests };
  }

  /**
   * The horizon: the fewest requests after which at most `residual` of canaries at `good` and at
   * `bad` are still undecided.
   */
  public horizonRequests(residual = HORIZON_RESIDUAL): number {
    let found = this.horizons.get(residual);
    if (found === undefined) this.horizons.set(residual, found = this.computeHorizon(residual));
    return found;
  }

  /**
   * The expected number of requests to a verdict at a true share, up to the horizon (the
   * undecided counted at the horizon).
   */
  public expectedRequests(share: number): number {
    return this.behaviour(share, this.horizonRequests()).expectedRequests;
  }

  private computeHorizon(residual: number): number {
    return Math.max(...[this.design.good, this.design.bad].map((share) => {
      for (const step of this.steps(share)) {
        if (step.undecided <= residual) return step.maxRequests;
        if (step.maxRequests > 1e7) break;
      }
      throw new Error(`the sequential design ${describeDesign(this.design)} decides too slowly at ${share}`);
    }));
  }

  /** The state after each request: `expectedRequests` counts only the decided ones. */
  private* steps(share: number): Generator<DesignBehaviour> {
    // mass[k]: the chance of being undecided with `low + k` bad requests after n requests
    let low = 0;
    let mass = [1];
    let promote = 0;
    let stop = 0;
    let expected = 0;
    let medianRequests: number | undefined;
    for (let n = 1; ; n++) {
      const next = new Array<number>(mass.length + 1).fill(0);
      for (let k = 0; k < mass.length; k++) {
        next[k] += mass[k] * (1 - share);
        next[k + 1] += mass[k] * share;
      }
      let keepFrom = next.length;
      let keepTo = -1;
      let undecided = 0;
      for (let k = 0; k < next.length; k++) {
        if (next[k] === 0) continue;
        const v = this.verdict(n, low + k);
        if (v === undefined) {
          keepFrom = Math.min(keepFrom, k);
          keepTo = k;
          undecided += next[k];
          continue;
        }
        if (v === 'promote') promote += next[k];
        else stop += next[k];
        expected += n * next[k];
      }
      if (medianRequests === undefined && promote + stop >= 0.5) medianRequests = n;
      yield { share, promote, stop, undecided, expectedRequests: expected, medianRequests, maxRequests: n };
      if (keepTo < 0) return;
      mass = next.slice(keepFrom, keepTo + 1);
      low += keepFrom;
    }
  }
}

const TESTS = new Map<string, BinomialSprt>();

/** `good 2.5% / bad 10%, falseStop 1%, falsePromote 1%`, for messages. */
export function describeDesign(oc: OperatingCharacteristic): string {
  return `good ${pct(oc.good)} / bad ${pct(oc.bad)}, falseStop ${pct(oc.falseStop)}, falsePromote ${pct(oc.falsePromote)}`;
}

function pct(share: number): string {
  return `${Number((share * 100).toPrecision(3))}%`;
}

function num(n: number): string {
  return Number(n.toPrecision(6)).toString();
}
