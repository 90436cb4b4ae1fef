import { MeasurementPhase } from '../analysis/condition';
import { GateKind } from '../model/gates';
import { RehearsalTarget, workEndpoints } from './target';

/** What the pods of one side (stable or canary) serve, each. */
export interface PodTraffic {
  /** user requests per second each pod serves (the traffic generator's, split over the pods) */
  readonly userRequestsPerSecond: number;
  /** the share of user requests that fail, 0..1 (failures fall on the work endpoints, e.g. HotROD's `/dispatch`; fast ones such as its `/` never fail) */
  readonly errorRatio: number;
  /** the 95th percentile of the user requests' durations, in ms (what the latency gate reads) */
  readonly p95Ms: number;
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
  /** a bad canary: stopped with the expected phase and gate */
  STOPPED = 'stopped',
  /** a good canary whose evidence was disturbed: never aborted; promoted, or paused for a person */
  NOT_ABORTED = 'not-aborted',
}

/** A situation the gates must judge, with the verdict they should reach. */
export interface Scenario {
  readonly name: string;
  /** one line: what is going on */
  readonly description: string;
  readonly expectation: Expectation;
  /** the phase a stopped run must end with */
  readonly expected: MeasurementPhase;
  /** the kind of gate that should decide, when the canary must be stopped */
  readonly expectedGate?: GateKind;
  readonly stable: PodTraffic;
  readonly canary: PodTraffic;
  readonly disruption?: Disruption;
}

/**
 * How far inside and outside its threshold each gate's "just inside/outside" pair sits, as a share
 * of the threshold. The latency gate interpolates within a bucket, so 10 % is resolved. The error
 * gate counts whole failures: over its evidence of n requests it cannot tell ratios closer than
 * one failure apart, 1 / (n x maxErrorRatio) of the threshold (a third at 60 requests and 5 %).
 */
export function thresholdMargin(kind: GateKind.ERROR_RATE | GateKind.LATENCY, evidenceRequests: number, maxErrorRatio: number): number {
  return kind === GateKind.LATENCY ? 0.1 : Math.min(0.5, Math.max(0.1, 1 / (evidenceRequests * maxErrorRatio)));
}

/**
 * The p95 of a healthy canary's user requests, for any service: HotROD's, whose `/dispatch`
 * answers in about 0.7 s (see HOTROD_ENDPOINTS), sits near 0.8 s with its fast `/` requests.
 * Capped at 80 % of a tighter latency threshold.
 */
export const HEALTHY_P95_MS = 800;

/** The share of a trickle's requests against the evidence: a canary that serves some, but about a third of what the gates need. */
const TRICKLE_SHARE = 1 / 3;

/** The quantile the scenarios' latency knob sets. */
const MODELLED_QUANTILE = 0.95;

/**
 * The thresholds of the gates, read from their conditions: the first gate of each kind, for latency
 * the first p95 gate (the quantile the scenarios set) if there is one. A kind without a gate, and
 * gates whose kind is custom or unknown, give none.
 */
export function gateThresholds(target: RehearsalTarget): Partial<Record<GateKind, number>> {
  const out: Partial<Record<GateKind, number>> = {};
  const p95 = target.gates.find((g) => g.kind === GateKind.LATENCY && g.quantile === MODELLED_QUANTILE && g.threshold);
  if (p95) out[GateKind.LATENCY] = p95.threshold!.value;
  for (const g of target.gates) {
    if (g.kind && g.kind !== GateKind.CUSTOM && g.threshold && out[g.kind] === undefined) out[g.kind] = g.threshold.value;
  }
  return out;
}

/** A list of names for a description: `a`, `a and b`, `a, b and c`. */
function names(items: readonly string[]): string {
  return items.length <= 1 ? items.join('') : `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

/**
 * When the collector exports no spanmetrics, the gates that read them never get their evidence.
 * A service that counts its requests itself still passes the traffic gate, and the latency gate
 * is Inconclusive (the run pauses); a spanmetrics-only service shows no request at all, so its
 * traffic gate fails the canary as if it were idle.
 */
function noSpanmetricsExpectation(target: RehearsalTarget): { expected: MeasurementPhase; gate: GateKind; why: string } {
  return target.requests.kind === 'counter'
    ? { expected: MeasurementPhase.INCONCLUSIVE, gate: GateKind.LATENCY, why: 'the latency gate never gets its evidence' }
    : { expected: MeasurementPhase.FAILED, gate: GateKind.TRAFFIC, why: 'the traffic gate, counting spanmetrics, sees no request' };
}

/**
 * The built-in scenarios: good canaries that must be promoted, bad ones that must be stopped by
 * the right gate, and a collector restart that must never abort a good canary. Each canary serves
 * the traffic generator's share of user requests unless the scenario says otherwise; failures
 * and slowness fall on its work endpoints (see `workEndpoints`).
 */
export function builtInScenarios(target: RehearsalTarget): Scenario[] {
  const t = gateThresholds(target);
  const maxError = t[GateKind.ERROR_RATE] ?? 0.05;
  const maxP95 = latencyThresholdMs(target, t[GateKind.LATENCY]) ?? 1000;
  const evidence = t[GateKind.TRAFFIC] ?? 60;
  const rate = target.canaryUserRequestsPerSecond;
  const healthy: PodTraffic = { userRequestsPerSecond: rate, errorRatio: maxError / 5, p95Ms: Math.min(HEALTHY_P95_MS, maxP95 * 0.8) };
  const P = MeasurementPhase;
  const scenario = (name: string, description: string, expectation: Expectation, expected: MeasurementPhase, expectedGate: GateKind | undefined,
    canary: Partial<PodTraffic>, stable: Partial<PodTraffic> = {}, disruption?: Disruption): Scenario =>
    ({ name, description, expectation, expected, expectedGate, canary: { ...healthy, ...canary }, stable: { ...healthy, ...stable }, disruption });
  const horizon = Math.max(...target.gates.map((g) => g.initialDelaySeconds));
  const work = names(workEndpoints(target).map((m) => m.endpoint.spanName));
  const internal = target.userMix.some((m) => m.calls.length > 0);
  const scrapes = target.workload.metricsPort ? `; Prometheus still scrapes its ${target.scrapeSpan?.spanName ?? 'metrics'}` : '';
  const noSpanmetrics = noSpanmetricsExpectation(target);
  const errorMargin = thresholdMargin(GateKind.ERROR_RATE, evidence, maxError);
  const latencyMargin = thresholdMargin(GateKind.LATENCY, evidence, maxError);

  return [
    scenario('healthy', `canary and stable answer in ${num(healthy.p95Ms)}ms (p95) and fail ${pct(healthy.errorRatio)}`, Expectation.PROMOTED, P.SUCCESSFUL, undefined, {}),
    scenario('bad-stable-good-canary', `stable pods fail ${pct(Math.min(1, 6 * maxError))} with a p95 of ${num(2 * maxP95)}ms; the canary is fine`,
      Expectation.PROMOTED, P.SUCCESSFUL, undefined, {}, { errorRatio: Math.min(1, 6 * maxError), p95Ms: 2 * maxP95 }),
    scenario('error-rate-just-inside', `the canary fails ${pct(maxError * (1 - errorMargin))} of its user requests`,
      Expectation.PROMOTED, P.SUCCESSFUL, undefined, { errorRatio: maxError * (1 - errorMargin) }),
    scenario('latency-just-inside', `the canary's p95 is ${num(maxP95 * (1 - latencyMargin))}ms`,
      Expectation.PROMOTED, P.SUCCESSFUL, undefined, { p95Ms: maxP95 * (1 - latencyMargin) }),
    scenario('idle-canary', `the canary serves no user request${scrapes}`, Expectation.STOPPED, P.FAILED, GateKind.TRAFFIC,
      { userRequestsPerSecond: 0 }, { userRequestsPerSecond: 2 * rate }),
    scenario('trickle', `the canary serves ${num(evidence * TRICKLE_SHARE)} user requests before the gates measure, a third of the evidence`,
      Expectation.STOPPED, P.INCONCLUSIVE, GateKind.TRAFFIC, { userRequestsPerSecond: (evidence * TRICKLE_SHARE) / horizon }),
    scenario('erroring-canary', `the canary fails ${pct(Math.min(1, 4 * maxError))} of its user requests (its ${work} fail${internal ? ', internal calls succeed' : ''})`,
      Expectation.STOPPED, P.FAILED, GateKind.ERROR_RATE, { errorRatio: Math.min(1, 4 * maxError) }),
    scenario('error-rate-just-outside', `the canary fails ${pct(maxError * (1 + errorMargin))} of its user requests`,
      Expectation.STOPPED, P.FAILED, GateKind.ERROR_RATE, { errorRatio: maxError * (1 + errorMargin) }),
    scenario('slow-canary', `the canary's ${work} p95 is ${num(1.6 * maxP95)}ms${internal ? ' while its internal spans stay fast' : ''}`, Expectation.STOPPED, P.FAILED, GateKind.LATENCY,
      { p95Ms: 1.6 * maxP95 }),
    scenario('latency-just-outside', `the canary's p95 is ${num(maxP95 * (1 + latencyMargin))}ms`,
      Expectation.STOPPED, P.FAILED, GateKind.LATENCY, { p95Ms: maxP95 * (1 + latencyMargin) }),
    scenario('no-spanmetrics', `the collector exports no spanmetrics: ${noSpanmetrics.why}`, Expectation.STOPPED, noSpanmetrics.expected, noSpanmetrics.gate,
      {}, {}, Disruption.NO_SPANMETRICS),
    scenario('collector-restart', 'the collector the canary reports to restarts mid-analysis; its spanmetrics counters start again from zero',
      Expectation.NOT_ABORTED, P.SUCCESSFUL, undefined, {}, {}, Disruption.COLLECTOR_RESTART),
  ];
}

/** The latency gate's threshold in ms (its histogram may be in seconds). */
function latencyThresholdMs(target: RehearsalTarget, threshold: number | undefined): number | undefined {
  return threshold === undefined ? undefined : threshold * target.spanmetrics.msPerUnit;
}

function num(n: number): string {
  return Number(n.toPrecision(4)).toString();
}

function pct(ratio: number): string {
  return `${num(ratio * 100)}%`;
}
