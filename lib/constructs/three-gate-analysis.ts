import { Duration } from 'cdk8s';
import { Construct } from 'constructs';
import { CanaryAnalysis, CanaryAnalysisProps, GATE_DEFAULTS, GateSpec, GateTiming } from './canary-analysis';


/** Properties of a {@link ThreeGateAnalysis}. */
export interface ThreeGateAnalysisProps extends CanaryAnalysisProps {
  /** the highest share of failed canary requests, in 0..1 @default 0.05 */
  readonly maxErrorRatio?: number;
  /** the highest p95 latency of the canary's user requests @default Duration.seconds(1) */
  readonly maxP95?: Duration;
  /** the same as maxP95, in milliseconds; give one or the other @default - maxP95 */
  readonly maxP95Ms?: number;
  /** timings of the traffic gate @default - derived */
  readonly traffic?: GateTiming;
  /** timings of the error-rate gate @default - derived */
  readonly errorRate?: GateTiming;
  /** timings of the latency gate @default - derived */
  readonly latency?: GateTiming;
}

/** The quantile the preset's latency gate reads. */
const LATENCY_QUANTILE = 0.95;

/**
 * The three-gate preset of {@link CanaryAnalysis}: the canary must have served enough user
 * requests to be judged, fail few of them, and answer them fast enough at the 95th percentile.
 * More gates can be added with {@link addGate}.
 */
export class ThreeGateAnalysis extends CanaryAnalysis {
  /** the highest share of failed canary requests */
  public readonly maxErrorRatio: number;
  /** the highest p95 latency in milliseconds */
  public readonly maxP95Ms: number;

  constructor(scope: Construct, id: string, props: ThreeGateAnalysisProps) {
    super(scope, id, props);
    const C = this.constructName;
    this.maxErrorRatio = props.maxErrorRatio ?? GATE_DEFAULTS.maxErrorRatio;
    if (!Number.isFinite(this.maxErrorRatio) || this.maxErrorRatio <= 0 || this.maxErrorRatio > 1) {
      const hint = this.maxErrorRatio > 1 && this.maxErrorRatio <= 100 ? ` (for ${this.maxErrorRatio}% write ${this.maxErrorRatio / 100})` : '';
      throw new Error(`${C}: maxErrorRatio must be a ratio above 0 and at most 1, got ${props.maxErrorRatio}${hint}`);
    }
    if (props.maxP95 !== undefined && props.maxP95Ms !== undefined) {
      throw new Error(`${C}: give maxP95 or maxP95Ms, not both (got ${props.maxP95.toMilliseconds({ integral: false })}ms and ${props.maxP95Ms}ms)`);
    }
    this.maxP95Ms = props.maxP95Ms ?? (props.maxP95 ?? GATE_DEFAULTS.maxP95).toMilliseconds({ integral: false });
    if (!Number.isFinite(this.maxP95Ms) || this.maxP95Ms <= 0) {
      throw new Error(`${C}: maxP95 must be a positive latency, got ${this.maxP95Ms}ms`);
    }
    this.addGate(GateSpec.traffic({ timing: props.traffic }));
    this.addGate(GateSpec.errorRatio({ max: this.maxErrorRatio, timing: props.errorRate }));
    this.addGate(GateSpec.latency({ quantile: LATENCY_QUANTILE, max: Duration.millis(this.maxP95Ms), timing: props.latency }));
  }
}
