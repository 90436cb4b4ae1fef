import { conditionShape, measurementPhase, MeasurementPhase, parseCondition } from '../analysis/condition';
import { effectiveCount, MetricRun, MetricSchedule, simulateMetric } from '../analysis/schedule';
import { DerivedTiming, SeriesPath } from '../analysis/evidence';
import { GateKind } from '../model/gates';
import { ExplainedGate, RolloutExplanation } from './sources';

/**
 * When a canary analysis decides, computed from the AnalysisTemplate's timings and limits with
 * the rules of Argo Rollouts v1.8.3:
 * - a metric measures first at `initialDelay`, then every `interval`, `count` times;
 * - it is decided as {@link MetricRun} decides it: Failed when its failures exceed `failureLimit`,
 *   Inconclusive when its inconclusive measurements exceed `inconclusiveLimit`, Error when its
 *   consecutive errors exceed `consecutiveErrorLimit` (an error is retried after
 *   {@link ARGO_ERROR_RETRY_SECONDS} and does not count towards `count`), Successful after
 *   `consecutiveSuccessLimit` successes in a row or once it completed `count` measurements;
 * - a metric with an interval and no count is not timed here (it runs until the run ends);
 * - the run stops at the first Failed, Error or Inconclusive metric (Failed and Error abort the
 *   rollout, Inconclusive pauses it) and succeeds when every metric is Successful.
 *
 * Times are seconds after the analysis step starts (the AnalysisRun is created when the
 * rollout reaches the step; pod start-up before that is not counted).
 */

/** A step of the canary strategy, with the pods it runs. */
export interface TimelineStep {
  /** 1-based position */
  readonly index: number;
  /** `setWeight 50` or `analysis hotrod-analysis` */
  readonly label: string;
  /** the weight in force during the step */
  readonly weight: number;
  /** canary pods at that weight */
  readonly canaryPods: number;
  /** stable pods at that weight */
  readonly stablePods: number;
  /** whether the step runs the analysis */
  readonly isAnalysis: boolean;
}

/** When one gate measures and when it can decide. */
export interface GateTimeline extends MetricSchedule {
  readonly name: string;
  /** the success condition, as in the template */
  readonly successCondition: string;
  /** the failure condition: a measurement that meets neither is Inconclusive */
  readonly failureCondition: string;
  /** the measurement times when every measurement succeeds */
  readonly measurementSeconds: readonly number[];
  /** when it can first pass: its last measurement, if all succeed */
  readonly firstPassSeconds: number;
  /** the earliest time it can fail: every measurement failing from the first */
  readonly earliestFailSeconds: number;
  /** the latest time it can fail: the last measurement, with just enough failures before it */
  readonly latestFailSeconds: number;
  /** when it stops with Error if every query errors from the first (retried every 10 s) */
  readonly allErrorsSeconds: number;
}

/** The kinds of bad canary the gates must stop. */
export enum BadCanary {
  /** serves no traffic (no series at all) */
  IDLE = 'idle',
  /** serves some requests, but fewer than the evidence the gates need */
  TRICKLE = 'trickle',
  /** fails too many requests */
  ERRORING = 'erroring',
  /** answers too slowly */
  SLOW = 'slow',
  /** its traces never become spanmetrics (collector pipeline broken) */
  NO_SPANMETRICS = 'no-spanmetrics',
  /** Prometheus unreachable or answering errors */
  PROMETHEUS_DOWN = 'prometheus-down',
}

/** What a gate measures for a kind of canary: a query result, or a provider error. */
export type GateResult = { readonly result: readonly number[] } | { readonly providerError: string };

/** What happens to one kind of bad canary. */
export interface BadCanaryVerdict {
  readonly kind: BadCanary;
  /** what this canary looks like */
  readonly description: string;
  /** the representative result each gate gets, by gate name */
  readonly results: Readonly<Record<string, GateResult>>;
  /** the phase of each gate's measurements, by gate name (from the template's own conditions) */
  readonly phases: Readonly<Record<string, MeasurementPhase>>;
  /** the gates that end the run, earliest first */
  readonly stoppedBy: readonly string[];
  /** the phase the run ends with */
  readonly runPhase: MeasurementPhase;
  /** what Argo Rollouts does then */
  readonly rollout: 'aborted' | 'paused' | 'promoted';
  /** when the run stops if the canary is bad from the start */
  readonly stopSeconds: number;
  /** the latest the run can stop if the canary turns bad at some point and stays bad */
  readonly worstCaseStopSeconds: number;
}

/** How the gates' first measurement follows from the telemetry pipeline, per series path. */
export interface TimingDerivation {
  /** the gates whose series take this path */
  readonly gates: readonly string[];
  /** when a canary's first request (without a design: its evidence) is in Prometheus, worst case */
  readonly derivation: DerivedTiming;
  /** when the requests of the design's horizon are, worst case */
  readonly horizon?: DerivedTiming;
}

/** The rollout timeline, as data. */
export interface RolloutTimeline {
  /** the Prometheus setup the times are derived for */
  readonly prometheus: string;
  /** the user requests each gate needs before it judges (the traffic gate's threshold), when a gate says */
  readonly evidenceRequests?: number;
  /** the derivation of the first measurement, per series path */
  readonly derivations: readonly TimingDerivation[];
  /** the AnalysisTemplate */
  readonly templateName: string;
  readonly steps: readonly TimelineStep[];
  /** the weight while the analysis runs */
  readonly analysisWeight: number;
  readonly gates: readonly GateTimeline[];
  /** the earliest time a healthy canary passes every gate and the next step starts */
  readonly earliestPromotionSeconds: number;
  /** the gate that passes last */
  readonly promotionDecidedBy: string;
  readonly badCanaries: readonly BadCanaryVerdict[];
}

/** How one metric ends when its measurements turn to `bad` from time `badFrom` on. */
export function simulateGate(gate: MetricSchedule, bad: MeasurementPhase, badFrom = 0): { phase: MeasurementPhase; atSeconds: number } {
  const end = simulateMetric(gate, (at) => (at >= badFrom ? bad : MeasurementPhase.SUCCESSFUL))!;
  return { phase: end.phase, atSeconds: end.atSeconds };
}

/** When a gate measures while every measurement succeeds. */
function healthyMeasurements(gate: MetricSchedule): number[] {
  const run = new MetricRun(gate);
  const times: number[] = [];
  if (effectiveCount(gate) === undefined) throw new Error('the timeline times only metrics with a count');
  while (run.phase === undefined) {
    times.push(run.nextAt);
    run.record(MeasurementPhase.SUCCESSFUL, run.nextAt);
  }
  return times;
}

/** How the whole run ends when each gate's measurements turn to its phase from `badFrom` on. */
function simulateRun(gates: readonly ExplainedGate[], phases: Readonly<Record<string, MeasurementPhase>>, badFrom: number) {
  const ends = gates.map((g) => ({ gate: g.name, ...simulateGate(g, phases[g.name], badFrom) }));
  const bad = ends.filter((e) => e.phase !== MeasurementPhase.SUCCESSFUL);
  if (bad.length === 0) return { phase: MeasurementPhase.SUCCESSFUL, atSeconds: Math.max(...ends.map((e) => e.atSeconds)), by: [] as string[] };
  const at = Math.min(...bad.map((e) => e.atSeconds));
  const first = bad.filter((e) => e.atSeconds === at);
  return { phase: first[0].phase, atSeconds: at, by: bad.sort((a, b) => a.atSeconds - b.atSeconds).map((e) => e.gate) };
}

/** A number that meets `op value`: twice as far from zero on the side it asks for, or half as far. */
function meeting(op: string, value: number): number {
  const high = op === '>' || op === '>=';
  if (op === '==') return value;
  if (value === 0) return high ? 1 : -1;
  return high === value > 0 ? value * 2 : value / 2;
}

/**
 * A result that passes the gate, or fails it: the side its success condition's comparison asks
 * for, or the one its failure condition's asks for (a sequential gate has a band between them
 * that decides nothing yet); without a failure comparison, the other side of the success one.
 */
function resultBeside(gate: ExplainedGate, passing: boolean): number[] {
  const [cmp] = conditionShape(parseCondition(gate.successCondition)).comparisons;
  if (!cmp) throw new Error(`gate '${gate.name}': its condition '${gate.successCondition}' compares no result[i] with a number`);
  if (passing) return [meeting(cmp.op, cmp.value)];
  const [fail] = gate.failureCondition ? conditionShape(parseCondition(gate.failureCondition)).comparisons : [];
  if (fail) return [meeting(fail.op, fail.value)];
  const opposite: Record<string, string> = { '<': '>=', '<=': '>', '>': '<=', '>=': '<', '==': '!=' };
  return [meeting(opposite[cmp.op] ?? '>', cmp.value)];
}

const DESCRIPTIONS: Record<BadCanary, string> = {
  [BadCanary.IDLE]: 'serves no user requests, so none of its user series exist',
  [BadCanary.TRICKLE]: 'serves some user requests, but fewer than the evidence',
  [BadCanary.ERRORING]: 'fails more requests than the error-rate gate allows',
  [BadCanary.SLOW]: 'answers slower than the latency gate allows',
  [BadCanary.NO_SPANMETRICS]: 'serves traffic, but no spanmetrics series arrive for it',
  [BadCanary.PROMETHEUS_DOWN]: 'cannot be judged: every query fails',
};

/** The gate a kind of bad canary is about, when it is about one kind of gate. */
const DECIDING_KIND: Partial<Record<BadCanary, GateKind>> = { [BadCanary.ERRORING]: GateKind.ERROR_RATE, [BadCanary.SLOW]: GateKind.LATENCY };

/** The representative result each gate gets for a kind of canary. */
function representativeResults(kind: BadCanary, x: RolloutExplanation): Record<string, GateResult> {
  const about = DECIDING_KIND[kind] && x.gates.find((g) => g.kind === DECIDING_KIND[kind]);
  const pick = (g: ExplainedGate): GateResult => {
    switch (kind) {
      case BadCanary.IDLE: return { result: [] };
      // the traffic gate counts a third of the evidence; the others return nothing without it
      case BadCanary.TRICKLE: return { result: g.kind === GateKind.TRAFFIC ? [Math.max(1, Math.floor((x.evidenceRequests ?? 3) / 3))] : [] };
      case BadCanary.PROMETHEUS_DOWN: return { providerError: `${x.prometheus.address} unreachable` };
      case BadCanary.NO_SPANMETRICS: return { result: g.path === SeriesPath.SPANMETRICS ? [] : resultBeside(g, true) };
      case BadCanary.ERRORING:
      case BadCanary.SLOW: return { result: resultBeside(g, g !== about) };
    }
  };
  return Object.fromEntries(x.gates.map((g) => [g.name, pick(g)]));
}

/** The phase a gate's measurement has for a result: the template's own condition decides. */
function phaseOf(gate: ExplainedGate, r: GateResult): MeasurementPhase {
  return 'providerError' in r ? MeasurementPhase.ERROR : measurementPhase(gate, [...r.result]).phase;
}

/**
 * The rollout timeline of a rollout and its gates. The bad canaries that need a gate of a kind (an
 * erroring canary, an error-rate gate; a slow one, a latency gate) are left out when the template
 * states no gate of that kind.
 */
export function rolloutTimeline(x: RolloutExplanation): RolloutTimeline {
  const steps = x.steps.map((s, i): TimelineStep => ({ index: i + 1, ...s }));
  const gateTimelines = x.gates.map((g): GateTimeline => {
    const measurementSeconds = healthyMeasurements(g);
    const last = measurementSeconds[measurementSeconds.length - 1];
    return {
      name: g.name,
      successCondition: g.successCondition,
      failureCondition: g.failureCondition,
      initialDelaySeconds: g.initialDelaySeconds,
      intervalSeconds: g.intervalSeconds,
      specCount: g.specCount,
      failureLimit: g.failureLimit,
      inconclusiveLimit: g.inconclusiveLimit,
      consecutiveErrorLimit: g.consecutiveErrorLimit,
      consecutiveSuccessLimit: g.consecutiveSuccessLimit,
      measurementSeconds,
      firstPassSeconds: simulateGate(g, MeasurementPhase.SUCCESSFUL).atSeconds,
      earliestFailSeconds: simulateGate(g, MeasurementPhase.FAILED).atSeconds,
      latestFailSeconds: latestStop(last, (from) => simulateGate(g, MeasurementPhase.FAILED, from)),
      allErrorsSeconds: simulateGate(g, MeasurementPhase.ERROR).atSeconds,
    };
  });

  const healthy = simulateRun(x.gates, Object.fromEntries(x.gates.map((g) => [g.name, MeasurementPhase.SUCCESSFUL])), 0);
  const horizon = Math.max(...gateTimelines.map((g) => g.firstPassSeconds));
  const promotionDecidedBy = gateTimelines.find((g) => g.firstPassSeconds === healthy.atSeconds)!.name;

  const badCanaries = Object.values(BadCanary).filter((kind) => !DECIDING_KIND[kind] || x.gates.some((g) => g.kind === DECIDING_KIND[kind])).map((kind): BadCanaryVerdict => {
    const results = representativeResults(kind, x);
    const phases = Object.fromEntries(x.gates.map((g) => [g.name, phaseOf(g, results[g.name])]));
    const run = simulateRun(x.gates, phases, 0);
    return {
      kind,
      description: DESCRIPTIONS[kind],
      results,
      phases,
      stoppedBy: run.by,
      runPhase: run.phase,
      rollout: run.phase === MeasurementPhase.SUCCESSFUL ? 'promoted' : run.phase === MeasurementPhase.INCONCLUSIVE ? 'paused' : 'aborted',
      stopSeconds: run.atSeconds,
      worstCaseStopSeconds: latestStop(horizon, (from) => simulateRun(x.gates, phases, from)),
    };
  });

  return {
    prometheus: x.prometheus.name,
    evidenceRequests: x.evidenceRequests,
    derivations: x.derivations,
    templateName: x.templateName,
    steps,
    analysisWeight: x.analysisWeight,
    gates: gateTimelines,
    earliestPromotionSeconds: healthy.atSeconds,
    promotionDecidedBy,
    badCanaries,
  };
}

/**
 * The latest time an outcome that turns bad at `from` (0..horizon, whole seconds) still ends
 * in a bad phase; the run can only be stopped while some measurement is still to come.
 */
function latestStop(horizon: number, outcome: (from: number) => { phase: MeasurementPhase; atSeconds: number }): number {
  let latest = -1;
  for (let from = 0; from <= horizon; from++) {
    const o = outcome(from);
    if (o.phase !== MeasurementPhase.SUCCESSFUL) latest = Math.max(latest, o.atSeconds);
  }
  return latest;
}
