import { Duration } from 'cdk8s';
import { Construct } from 'constructs';
import { OperatingCharacteristicOptions } from '../analysis/sequential';
import { CanaryAnalysis, CanaryAnalysisOptions, GATE_DEFAULTS, GateSpec, GateTiming } from './canary-analysis';
import { IAnalysisTarget } from './interfaces';

/** What the three-gate preset is made with, besides its target (see `CanaryRollout.addThreeGateAnalysis`). */
export interface ThreeGateAnalysisOptions extends CanaryAnalysisOptions {
  /** the highest share of failed canary requests, in 0..1 @default 0.05 */
  readonly maxErrorRatio?: number;
  /** the highest p95 latency of the canary's user requests @default Duration.seconds(1) */
  readonly maxP95?: Duration;
  /** timings of the traffic gate @default - derived */
  readonly traffic?: GateTiming;
  /** timings of the error-rate gate @default - derived */
  readonly errorRate?: GateTiming;
  /** timings of the latency gate @default - derived */
  readonly latency?: GateTiming;
  /** the error-rate gate's operating characteristic (shares of failed requests) @default - good half of maxErrorRatio, bad twice it */
  readonly errorRateDesign?: OperatingCharacteristicOptions;
  /** the latency gate's operating characteristic (shares of requests slower than maxP95) @default - good 2.5 %, bad 10 % */
  readonly latencyDesign?: OperatingCharacteristicOptions;
}

/** Properties of a {@link ThreeGateAnalysis}. */
export interface ThreeGateAnalysisProps extends ThreeGateAnalysisOptions {
  /** what is judged (a CanaryRollout) */
  readonly target: IAnalysisTarget;
}

/** The quantile the preset's latency gate reads. */
const LATENCY_QUANTILE = 0.95;

/**
 * The three-gate preset of {@link CanaryAnalysis}: the canary must serve user requests, fail few
 * of them, and answer them fast enough at the 95th percentile; the last two are sequential tests
 * that decide as soon as the counts allow.
 * The three come first; `gates` and {@link addGate} add more.
 */
export class ThreeGateAnalysis extends CanaryAnalysis {
  /** the highest share of failed canary requests */
  public readonly maxErrorRatio: number;
  /** the highest p95 latency */
  public readonly maxP95: Duration;

  constructor(scope: Construct, id: string, props: ThreeGateAnalysisProps) {
    super(scope, id, { ...props, gates: [] });
    const C = this.constructName;
    this.maxErrorRatio = props.maxErrorRatio ?? GATE_DEFAULTS.maxErrorRatio;
    if (!Number.isFinite(this.maxErrorRatio) || this.maxErrorRatio <= 0 || this.maxErrorRatio >= 1) {
      const hint = this.maxErrorRatio >= 1 && this.maxErrorRatio <= 100 ? ` (for ${this.maxErrorRatio}% write ${this.maxErrorRatio / 100})` : '';
      throw new Error(`${C}: maxErrorRatio must be a ratio above 0 and below 1, got ${props.maxErrorRatio}${hint}`);
    }
    this.maxP95 = props.maxP95 ?? GATE_DEFAULTS.maxP95;
    const ms = this.maxP95.toMilliseconds({ integral: false });
    if (!Number.isFinite(ms) || ms <= 0) {
      throw new Error(`${C}: maxP95 must be a positive latency, got ${ms}ms`);
    }
    this.addGate(GateSpec.traffic({ timing: props.traffic }));
    this.addGate(GateSpec.errorRatio({ ...props.errorRateDesign, max: this.maxErrorRatio, timing: props.errorRate }));
    this.addGate(GateSpec.latency({ ...props.latencyDesign, quantile: LATENCY_QUANTILE, max: this.maxP95, timing: props.latency }));
    for (const gate of props.gates ?? []) this.addGate(gate);
  }
}
