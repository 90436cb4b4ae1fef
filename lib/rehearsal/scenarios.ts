import { Duration } from 'cdk8s';
import { MeasurementPhase } from '../analysis/condition';
import { durationInUnit } from '../collector-config';
import { GATE_DEFAULTS, GateKind } from '../three-gate-analysis';
import { RehearsalTarget } from './target';

/** What the pods of one side (stable or canary) serve, each. */
export interface PodTraffic {
  /** requests per second each pod serves (HotROD counts one per server span; spanmetrics sees the same spans) */
  readonly requestsPerSecond: number;
  /** the share of them that fail, 0..1 */
  readonly errorRatio: number;
  /** the 95th percentile of their span durations, in the histogram unit */
  readonly p95: number;
}

/** A situation the gates must judge, with the verdict they should reach. */
export interface Scenario {
  readonly name: string;
  /** one line: what is going on */
  readonly description: string;
  readonly expected: MeasurementPhase;
  /** the kind of gate that should decide, when the verdict is not Successful */
  readonly expectedGate?: GateKind;
  readonly stable: PodTraffic;
  readonly canary: PodTraffic;
  /** whether the collector exports spanmetrics at all */
  readonly spanmetrics: boolean;
}

/** How far inside and outside its threshold each gate's "just inside/outside" pair sits, as a share of the threshold. */
export const THRESHOLD_MARGINS: Record<GateKind, { readonly inside: number; readonly outside: number }> = {
  // A canary this close to the minimum serves one request every ~15 s: a 2m rate() holds a handful
  // of increments, loses the one that created the series, and the first measurements' windows
  // reach back before the canary existed. Measured: 1.25x the minimum still fails; 1.5x passes.
  [GateKind.TRAFFIC]: { inside: 0.5, outside: 0.25 },
  [GateKind.ERROR_RATE]: { inside: 0.1, outside: 0.1 },
  [GateKind.LATENCY]: { inside: 0.1, outside: 0.1 },
};

/**
 * Requests (server spans) per second each pod serves under the traffic generator's load: about
 * 2 `/dispatch` calls per second spread over the pods, each fanning out into server spans of
 * frontend, customer, driver and route, all counted by `hotrod_requests_total`.
 */
export const HEALTHY_REQUESTS_PER_POD = 10;

/** The thresholds of the gates, read from their conditions; a kind without a gate has none. */
export function gateThresholds(target: RehearsalTarget): Partial<Record<GateKind, { value: number; above: boolean }>> {
  const out: Partial<Record<GateKind, { value: number; above: boolean }>> = {};
  for (const g of target.gates) {
    if (g.kind && g.threshold && out[g.kind] === undefined) {
      out[g.kind] = { value: g.threshold.value, above: g.threshold.op === '>' || g.threshold.op === '>=' };
    }
  }
  return out;
}

/**
 * The built-in scenarios. Healthy values sit well inside the thresholds, bad ones well outside,
 * and each gate gets a pair just inside / just outside its own threshold.
 */
export function builtInScenarios(target: RehearsalTarget): Scenario[] {
  const t = gateThresholds(target);
  const inUnit = (ms: number) => durationInUnit(Duration.millis(ms), target.spanmetrics.series.histogramUnit);
  const unit = target.spanmetrics.series.histogramUnit;
  const maxError = t[GateKind.ERROR_RATE]?.value ?? GATE_DEFAULTS.maxErrorRatio;
  const maxP95 = t[GateKind.LATENCY]?.value ?? inUnit(GATE_DEFAULTS.maxP95.toMilliseconds());
  const healthy: PodTraffic = { requestsPerSecond: HEALTHY_REQUESTS_PER_POD, errorRatio: maxError / 5, p95: maxP95 * 0.3 };
  const idle: PodTraffic = { ...healthy, requestsPerSecond: 0 };
  const scenario = (name: string, description: string, expected: MeasurementPhase, expectedGate: GateKind | undefined,
    canary: Partial<PodTraffic>, stable: Partial<PodTraffic> = {}, spanmetrics = true): Scenario =>
    ({ name, description, expected, expectedGate, canary: { ...healthy, ...canary }, stable: { ...healthy, ...stable }, spanmetrics });

  const scenarios: Scenario[] = [
    scenario('healthy', 'canary and stable serve fast, with few errors', MeasurementPhase.SUCCESSFUL, undefined, {}),
    // The guarded error-rate gate reads "no canary requests" as a failure and starts first.
    scenario('idle-canary', 'all traffic goes to the stable pods; the canary serves nothing', MeasurementPhase.FAILED, GateKind.ERROR_RATE,
      idle, { requestsPerSecond: 2 * HEALTHY_REQUESTS_PER_POD }),
    scenario('erroring-canary', `the canary fails ${pct(Math.min(1, 4 * maxError))} of its requests`, MeasurementPhase.FAILED, GateKind.ERROR_RATE,
      { errorRatio: Math.min(1, 4 * maxError) }),
    scenario('slow-canary', `the canary's p95 is ${num(1.5 * maxP95)}${unit} (1.5 x the threshold)`, MeasurementPhase.FAILED, GateKind.LATENCY,
      { p95: 1.5 * maxP95 }),
    scenario('no-spanmetrics', 'the collector exports nothing: the latency series do not exist', MeasurementPhase.FAILED, GateKind.LATENCY,
      {}, {}, false),
    scenario('bad-stable-good-canary', `stable pods fail ${pct(Math.min(1, 6 * maxError))} with a p95 of ${num(3 * maxP95)}${unit}; the canary is fine`,
      MeasurementPhase.SUCCESSFUL, undefined, {}, { errorRatio: Math.min(1, 6 * maxError), p95: 3 * maxP95 }),
  ];

  const units: Record<keyof PodTraffic, string> = { requestsPerSecond: ' req/s', errorRatio: '', p95: unit };
  const pair = (kind: GateKind, label: string, field: keyof PodTraffic) => {
    const threshold = t[kind];
    if (!threshold) return;
    for (const inside of [true, false]) {
      const margin = inside ? THRESHOLD_MARGINS[kind].inside : THRESHOLD_MARGINS[kind].outside;
      const factor = 1 + (threshold.above === inside ? margin : -margin);
      const value = threshold.value * factor;
      scenarios.push(scenario(`${label}-just-${inside ? 'inside' : 'outside'}`,
        `canary ${field} ${num(value)}${units[field]}, ${inside ? 'inside' : 'outside'} the threshold ${num(threshold.value)}${units[field]}`,
        inside ? MeasurementPhase.SUCCESSFUL : MeasurementPhase.FAILED, inside ? undefined : kind, { [field]: value }));
    }
  };
  pair(GateKind.TRAFFIC, 'traffic', 'requestsPerSecond');
  pair(GateKind.ERROR_RATE, 'error-rate', 'errorRatio');
  pair(GateKind.LATENCY, 'latency', 'p95');
  return scenarios;
}

function num(n: number): string {
  return Number(n.toPrecision(4)).toString();
}

function pct(ratio: number): string {
  return `${num(ratio * 100)}%`;
}
