import { MeasurementPhase } from '../analysis/condition';
import { effectiveCount } from '../analysis/schedule';
import { DEFAULT_FALSE_PROMOTE, DEFAULT_FALSE_STOP, OperatingCharacteristic } from '../analysis/sequential';
import { GateDesign, GateKind } from '../model/gates';
import { slowerShare } from '../analysis/profile';
import { RehearsalGate, RehearsalTarget, workEndpoints } from './target';

/**
 * The situations the rehearsal puts a canary in, stated as true rates: the chance that a user
 * request fails and the chance that it is slower than a latency bound. The series writer draws
 * each request from them (series.ts), so what the gates measure carries the sampling noise of a
 * real cluster.
 */

/** The share of user requests slower than a latency bound. */
export interface SlowShare {
  /** the bound, in the histogram's unit */
  readonly bound: number;
  /** the chance that a user request is slower, 0..1 */
  readonly share: number;
}

/** What the pods of one side (stable or canary) serve, each. */
export interface PodTraffic {
  /** user requests per second each pod serves, on average (they arrive at random) */
  readonly userRequestsPerSecond: number;
  /** the chance that a user request fails, 0..1 (failures fall on the work endpoints, e.g. HotROD's `/dispatch`; fast ones such as its `/` never fail) */
  readonly errorRatio: number;
  /** the chance that a user request is slower than each bound, ascending by bound (slowness falls on the work endpoints too) */
  readonly slow: readonly SlowShare[];
}

/** Something that happens to the telemetry pipeline during the analysis. */
export enum Disruption {
  /** the collector exports no spanmetrics at all (broken metrics pipeline) */
  NO_SPANMETRICS = 'no-spanmetrics',
  /** the collector pod the canary's spans reach restarts mid-analysis: its spanmetrics counters start again from zero */
  COLLECTOR_RESTART = 'collector-restart',
}

/** The verdicts a scenario accepts. */
export enum Expectation {
  /** a good canary: promoted */
  PROMOTED = 'promoted',
  /** a bad canary: stopped with one of the expected phases by a gate of the expected kind */
  STOPPED = 'stopped',
  /**
   * a good canary whose evidence was disturbed: promoted, or paused for a person; never aborted
   * once the disturbance began (an abort before it is a sequential test's false stop, which its
   * design bounds and the share promoted counts)
   */
  NOT_ABORTED = 'not-aborted',
  /** a point of a gate's operating characteristic: the chance of each verdict is measured, and bounded at good and bad */
  MEASURED = 'measured',
}

/** A point of a gate's operating characteristic: its own verdicts at a true share of bad requests. */
export interface OcPoint {
  /** the gate measured (the only gate the scenario replays) */
  readonly gate: string;
  readonly kind: ShareKind;
  /** the true share as a multiple of the gate's threshold (for a comparison with the stable pods: the factor over its maxFactor) */
  readonly multiple: number;
  /** the true share of failed (or slower) requests */
  readonly share: number;
  /** the gate's threshold, as a share */
  readonly threshold: number;
  /** the design the gate is held to: its own, or the defaults for a gate that states none */
  readonly design: OperatingCharacteristic;
  /** whether the gate states its design (a sequential gate of this project) */
  readonly designed: boolean;
  /** what the point must show: at most falseStop not promoted (at or below good), at most falsePromote promoted (at or above bad) */
  readonly bound?: { readonly verdict: 'not-promoted' | 'promoted'; readonly atMost: number };
}

/** A situation the gates must judge, with the verdict they should reach. */
export interface Scenario {
  readonly name: string;
  /** one line: what is going on */
  readonly description: string;
  readonly expectation: Expectation;
  /** the phases a stopped run may end with */
  readonly expected: readonly MeasurementPhase[];
  /** the kind of gate that should decide, when the canary must be stopped */
  readonly expectedGate?: GateKind;
  readonly stable: PodTraffic;
  readonly canary: PodTraffic;
  readonly disruption?: Disruption;
  /** the gates replayed: every gate of the template unless the scenario names some */
  readonly gates?: readonly string[];
  /** the operating-characteristic point it measures */
  readonly point?: OcPoint;
  /** draw stable pods of its own for every trial (a gate that compares canary and stable needs independent stables) */
  readonly stablePerTrial?: boolean;
  /**
   * a stopped canary whose shares are healthy, only its traffic is not: a sequential test that
   * stops it makes a false stop, as often as the test's design allows, and the canary is not
   * promoted either way, so that counts as stopped
   */
  readonly healthyShares?: boolean;
}

/** The multiples of a gate's threshold its operating characteristic is measured at. */
export const OC_MULTIPLES = [0, 0.5, 1, 2, 4] as const;

/** The kinds of gate whose verdict follows a share of bad requests. */
export type ShareKind = GateKind.ERROR_RATE | GateKind.LATENCY | GateKind.ERROR_RATE_VS_STABLE;

/** A gate whose verdict follows a share of bad requests, and that share's threshold. */
export interface ShareGate {
  readonly gate: RehearsalGate;
  readonly kind: ShareKind;
  /** the highest share of bad requests that passes */
  readonly threshold: number;
  /** for a latency gate: the bound that makes a request slow, in the histogram's unit */
  readonly bound?: number;
  readonly design: OperatingCharacteristic & Pick<GateDesign, 'vsStable'>;
  readonly designed: boolean;
}

/**
 * The gates whose verdict follows a share of bad requests: the sequential gates (their design
 * annotation states the share and the bound), and the fixed-threshold ones a template states the
 * kind of (an error ratio compared with its threshold; a quantile compared with a latency, which
 * passes while fewer than 1 - quantile of the requests are slower). A gate that states no design is
 * held to the default one: good at half its threshold, bad at twice it, 1 % each.
 */
export function shareGates(target: RehearsalTarget): ShareGate[] {
  return target.gates.flatMap((gate): ShareGate[] => {
    const d = gate.design;
    if (gate.kind === GateKind.ERROR_RATE_VS_STABLE) {
      // its shares are the chances that a failure is the canary's; its threshold is a factor of the stable pods' error ratio
      const v = d?.vsStable;
      return v ? [{ gate, kind: gate.kind, threshold: v.maxFactor, design: d!, designed: true }] : [];
    }
    if (gate.kind !== GateKind.ERROR_RATE && gate.kind !== GateKind.LATENCY) return [];
    if (d) {
      if (gate.kind === GateKind.LATENCY && d.latencyBound === undefined) return [];
      return [{ gate, kind: gate.kind, threshold: d.threshold, bound: d.latencyBound, design: d, designed: true }];
    }
    const value = gate.threshold?.value;
    if (value === undefined || !(value > 0)) return [];
    const threshold = gate.kind === GateKind.ERROR_RATE ? value : 1 - (gate.quantile ?? 0.95);
    if (!(threshold > 0 && threshold < 1)) return [];
    const design = { good: threshold / 2, bad: Math.min(2 * threshold, (1 + threshold) / 2), falseStop: DEFAULT_FALSE_STOP, falsePromote: DEFAULT_FALSE_PROMOTE };
    return [{ gate, kind: gate.kind, threshold, bound: gate.kind === GateKind.LATENCY ? value : undefined, design, designed: false }];
  });
}

/** The share of a healthy canary's requests that are bad, as a share of a gate's threshold. */
export const HEALTHY_SHARE_OF_THRESHOLD = 0.2;

/** The share of its evidence a trickle serves by the horizon: some traffic, about a third of what promotion needs. */
const TRICKLE_SHARE = 1 / 3;

/** The chance a request fails (or is slow) in the scenarios of a canary that fails half its requests. */
const HALF = 0.5;

/**
 * Slow shares that can hold together: ascending by bound, and a request slower than a bound is
 * slower than every lower one, so the shares never grow with the bound (the larger one wins).
 */
export function consistentSlow(slow: readonly SlowShare[]): SlowShare[] {
  const sorted = [...slow].sort((a, b) => a.bound - b.bound);
  const merged: SlowShare[] = [];
  for (const s of sorted) {
    const same = merged.find((m) => Math.abs(m.bound - s.bound) < 1e-9);
    if (same) merged[merged.indexOf(same)] = { bound: s.bound, share: Math.max(same.share, s.share) };
    else merged.push(s);
  }
  for (let i = merged.length - 2; i >= 0; i--) merged[i] = { ...merged[i], share: Math.max(merged[i].share, merged[i + 1].share) };
  return merged;
}

/**
 * The healthy profile of a target: what the service states (its error ratio, its latency at some
 * quantiles), else comfortably inside every gate, each share at a fifth of its gate's threshold; a
 * service compared with its stable pods fails as often as the design expects of them.
 */
export function healthyTraffic(target: RehearsalTarget): PodTraffic {
  const gates = shareGates(target);
  const errors = gates.filter((g) => g.kind === GateKind.ERROR_RATE).map((g) => g.threshold);
  const stable = gates.map((g) => g.design.vsStable?.stableErrorRatio).find((p) => p !== undefined);
  const stated = target.healthy;
  const slowerThan = (g: ShareGate) => {
    const ms = g.bound! * target.spanmetrics.msPerUnit;
    return stated?.latencyMs ? slowerShare(stated.latencyMs, ms) : g.threshold * HEALTHY_SHARE_OF_THRESHOLD;
  };
  return {
    userRequestsPerSecond: target.canaryUserRequestsPerSecond,
    errorRatio: stated?.errorRatio ?? stable ?? (errors.length > 0 ? Math.min(...errors) * HEALTHY_SHARE_OF_THRESHOLD : 0),
    slow: consistentSlow(gates.filter((g) => g.kind === GateKind.LATENCY).map((g) => ({ bound: g.bound!, share: slowerThan(g) }))),
  };
}

/** What the rehearsal assumes of a healthy canary, in words, for the report. */
export function healthyAssumption(target: RehearsalTarget): string {
  const stated = target.healthy;
  if (!stated) return 'not stated by the service: comfortably inside every gate, each share at a fifth of its threshold';
  const parts = [
    ...(stated.errorRatio !== undefined ? [`fails ${pct(stated.errorRatio)}`] : []),
    ...Object.entries(stated.latencyMs ?? {}).map(([q, ms]) => `${q} ${num(ms!)}ms`),
  ];
  return `as the service states it: ${parts.join(', ')}`;
}

/** A list of names for a description: `a`, `a and b`, `a, b and c`. */
function names(items: readonly string[]): string {
  return items.length <= 1 ? items.join('') : `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

/**
 * When the collector exports no spanmetrics, the gates that read them never get their evidence.
 * A service that counts its requests itself still passes the traffic gate, and the latency gate
 * is Inconclusive at its horizon (the run pauses); a spanmetrics-only service shows no request at
 * all, so its traffic gate fails the canary as if it were idle.
 */
function noSpanmetricsExpectation(target: RehearsalTarget): { expected: MeasurementPhase; gate: GateKind; why: string } {
  return target.requests.kind === 'counter'
    ? { expected: MeasurementPhase.INCONCLUSIVE, gate: GateKind.LATENCY, why: 'the latency gate never gets its evidence' }
    : { expected: MeasurementPhase.FAILED, gate: GateKind.TRAFFIC, why: 'the traffic gate, counting spanmetrics, sees no request' };
}

/** The last look of the target's gates, in seconds after the run starts. */
export function lastLookSeconds(target: RehearsalTarget): number {
  return Math.max(...target.gates.map((g) => g.initialDelaySeconds + Math.max(0, (effectiveCount(g) ?? 1) - 1) * g.intervalSeconds));
}

/** The points of every share gate's operating characteristic: the gate alone, at each multiple of its threshold. */
export function ocScenarios(target: RehearsalTarget): Scenario[] {
  const healthy = healthyTraffic(target);
  return shareGates(target).flatMap((g) => (g.kind === GateKind.ERROR_RATE_VS_STABLE ? vsStablePoints(g, healthy) : OC_MULTIPLES.map((multiple): Scenario => {
    const share = Math.min(1, multiple * g.threshold);
    const canary: PodTraffic = g.kind === GateKind.ERROR_RATE
      ? { ...healthy, errorRatio: share }
      : { ...healthy, slow: consistentSlow([...healthy.slow.filter((s) => Math.abs(s.bound - g.bound!) > 1e-9), { bound: g.bound!, share }]) };
    const bound = share <= g.design.good + 1e-12 ? { verdict: 'not-promoted' as const, atMost: g.design.falseStop }
      : share >= g.design.bad - 1e-12 ? { verdict: 'promoted' as const, atMost: g.design.falsePromote } : undefined;
    const what = g.kind === GateKind.ERROR_RATE ? 'fail' : `are slower than ${num(g.bound! * target.spanmetrics.msPerUnit)}ms`;
    return {
      name: `${g.gate.name}@${multiple}x`,
      description: `${pct(share)} of the canary's user requests ${what} (${multiple} x the threshold ${pct(g.threshold)}); only this gate is replayed`,
      expectation: Expectation.MEASURED,
      expected: [],
      stable: healthy,
      canary,
      gates: [g.gate.name],
      point: { gate: g.gate.name, kind: g.kind, multiple, share, threshold: g.threshold, design: g.design, designed: g.designed, bound },
    };
  })));
}

/**
 * A comparison with the stable pods, alone: stable pods failing the design's stable error ratio,
 * and a canary failing 0, goodFactor, maxFactor, badFactor and twice badFactor times as often
 * (2 % against 2 % must pass, 6 % against 2 % must stop, with the defaults). Every trial has stable
 * pods of its own.
 */
function vsStablePoints(g: ShareGate, healthy: PodTraffic): Scenario[] {
  const v = g.design.vsStable!;
  const stable = { ...healthy, errorRatio: v.stableErrorRatio };
  return [0, v.goodFactor, v.maxFactor, v.badFactor, 2 * v.badFactor].map((factor): Scenario => {
    const share = Math.min(1, factor * v.stableErrorRatio);
    const bound = factor <= v.goodFactor + 1e-12 ? { verdict: 'not-promoted' as const, atMost: g.design.falseStop }
      : factor >= v.badFactor - 1e-12 ? { verdict: 'promoted' as const, atMost: g.design.falsePromote } : undefined;
    const multiple = Number((factor / v.maxFactor).toPrecision(6));
    return {
      name: `${g.gate.name}@${multiple}x`,
      description: `the stable pods fail ${pct(v.stableErrorRatio)} of their user requests, the canary ${pct(share)} (${num(factor)} x theirs; the threshold is ${num(v.maxFactor)} x); only this gate is replayed`,
      expectation: Expectation.MEASURED,
      expected: [],
      stable,
      canary: { ...stable, errorRatio: share },
      gates: [g.gate.name],
      point: { gate: g.gate.name, kind: g.kind, multiple, share: factor, threshold: v.maxFactor, design: g.design, designed: true, bound },
      stablePerTrial: true,
    };
  });
}

/**
 * The built-in scenarios of the whole run: good canaries that must be promoted, bad ones that
 * must be stopped by the right gate, and a collector restart that must never abort a good canary.
 * Each canary serves the traffic generator's share of user requests unless the scenario says
 * otherwise; failures and slowness fall on its work endpoints (see `workEndpoints`).
 */
export function wholeRunScenarios(target: RehearsalTarget): Scenario[] {
  const healthy = healthyTraffic(target);
  const gates = shareGates(target);
  const errorGate = gates.find((g) => g.kind === GateKind.ERROR_RATE);
  const latencyGate = gates.find((g) => g.kind === GateKind.LATENCY);
  const traffic = target.gates.find((g) => g.kind === GateKind.TRAFFIC);
  const evidence = traffic?.threshold?.value ?? 60;
  const rate = target.canaryUserRequestsPerSecond;
  const P = MeasurementPhase;
  const scenario = (name: string, description: string, expectation: Expectation, expected: readonly MeasurementPhase[], expectedGate: GateKind | undefined,
    canary: Partial<PodTraffic>, stable: Partial<PodTraffic> = {}, disruption?: Disruption, more: Pick<Scenario, 'healthyShares'> = {}): Scenario =>
    ({ name, description, expectation, expected, expectedGate, canary: { ...healthy, ...canary }, stable: { ...healthy, ...stable }, disruption, ...more });
  const work = names(workEndpoints(target).map((m) => m.endpoint.spanName));
  const internal = target.userMix.some((m) => m.calls.length > 0);
  const scrapes = target.workload.metricsPort ? `; Prometheus still scrapes its ${target.scrapeSpan?.spanName ?? 'metrics'}` : '';
  const noSpanmetrics = noSpanmetricsExpectation(target);
  const profile = describeProfile(target, healthy);
  const badStable: Partial<PodTraffic> = {
    errorRatio: Math.min(1, 6 * (errorGate?.threshold ?? 0.05)),
    slow: healthy.slow.map((s) => ({ ...s, share: Math.min(1, 6 * s.share / HEALTHY_SHARE_OF_THRESHOLD) })),
  };
  // the traffic gate's last look: a trickle serves a third of the evidence by then
  const horizon = traffic ? traffic.initialDelaySeconds + ((effectiveCount(traffic) ?? 1) - 1) * traffic.intervalSeconds : lastLookSeconds(target);

  return [
    scenario('healthy', `canary and stable ${profile}`, Expectation.PROMOTED, [P.SUCCESSFUL], undefined, {}),
    scenario('bad-stable-good-canary', `stable pods fail ${pct(badStable.errorRatio!)}${latencyGate ? ` and are slow 6 times as often` : ''}; the canary ${profile}`,
      Expectation.PROMOTED, [P.SUCCESSFUL], undefined, {}, badStable),
    scenario('idle-canary', `the canary serves no user request${scrapes}`, Expectation.STOPPED, [P.FAILED], GateKind.TRAFFIC,
      { userRequestsPerSecond: 0 }, { userRequestsPerSecond: 2 * rate }),
    scenario('trickle', `the canary serves ${num(evidence * TRICKLE_SHARE)} user requests by the last look, a third of what promotion needs `
      + '(Failed when none has arrived by the first look, else Inconclusive: too little traffic for the design)',
    Expectation.STOPPED, [P.INCONCLUSIVE, P.FAILED], GateKind.TRAFFIC, { userRequestsPerSecond: (evidence * TRICKLE_SHARE) / Math.max(1, horizon) }, {}, undefined, { healthyShares: true }),
    ...(errorGate ? [scenario('failing-half', `the canary fails ${pct(HALF)} of its user requests (its ${work} fail${internal ? ', internal calls succeed' : ''})`,
      Expectation.STOPPED, [P.FAILED], GateKind.ERROR_RATE, { errorRatio: HALF })] : []),
    ...(latencyGate ? [scenario('slow-half', `${pct(HALF)} of the canary's user requests are slower than ${num(latencyGate.bound! * target.spanmetrics.msPerUnit)}ms`
      + `${internal ? ' while its internal spans stay fast' : ''}`, Expectation.STOPPED, [P.FAILED], GateKind.LATENCY,
    { slow: consistentSlow([...healthy.slow, { bound: latencyGate.bound!, share: HALF }]) })] : []),
    scenario('no-spanmetrics', `the collector exports no spanmetrics: ${noSpanmetrics.why}`, Expectation.STOPPED, [noSpanmetrics.expected], noSpanmetrics.gate,
      {}, {}, Disruption.NO_SPANMETRICS),
    scenario('collector-restart', 'the collector the canary reports to restarts mid-analysis; its spanmetrics counters start again from zero',
      Expectation.NOT_ABORTED, [P.SUCCESSFUL], undefined, {}, {}, Disruption.COLLECTOR_RESTART),
  ];
}

/** Every built-in scenario of a target: the whole run's, then each share gate's operating characteristic. */
export function builtInScenarios(target: RehearsalTarget): Scenario[] {
  return [...wholeRunScenarios(target), ...ocScenarios(target)];
}

/** `fail 1% and are slower than 1000ms in 1%`: a profile in words. */
function describeProfile(target: RehearsalTarget, t: PodTraffic): string {
  const slow = t.slow.map((s) => `${pct(s.share)} slower than ${num(s.bound * target.spanmetrics.msPerUnit)}ms`);
  return `fail ${pct(t.errorRatio)} of their user requests${slow.length > 0 ? `, ${names(slow)}` : ''}`;
}

function num(n: number): string {
  return Number(n.toPrecision(4)).toString();
}

function pct(ratio: number): string {
  return `${num(ratio * 100)}%`;
}
