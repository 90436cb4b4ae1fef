import { Manifest } from '../manifests';

/*
 * The vocabulary of gates that the constructs write and every tool reads: what a gate checks
 * (its kind), which side of its threshold passes, and the design the AnalysisTemplate carries in
 * its annotations, so the tools read gates as data instead of guessing them from queries.
 */

/** The kind of question a gate answers. */
export enum GateKind {
  /** has the canary served enough requests to be judged (none at all: idle) */
  TRAFFIC = 'traffic',
  /** does the canary fail too many requests */
  ERROR_RATE = 'error-rate',
  /** is the canary too slow (a quantile of its user request latency) */
  LATENCY = 'latency',
  /** does the canary fail too many requests compared with the stable pods (a factor of their error ratio) */
  ERROR_RATE_VS_STABLE = 'error-rate-vs-stable',
  /** a query of the user's, with a threshold and a direction */
  CUSTOM = 'custom',
}

/** Which side of the threshold passes. */
export enum Direction {
  /** the result must stay below the threshold */
  BELOW = 'below',
  /** the result must reach at least the threshold */
  AT_LEAST = 'at-least',
}

/**
 * The annotation of an AnalysisTemplate that says what each gate checks
 * (`{"<metric name>": "traffic" | "error-rate" | "latency" | "custom"}`). Hand-written templates
 * may carry it too; without it a gate's kind is unknown.
 */
export const GATE_KINDS_ANNOTATION = 'hotrod-progressive-delivery/gate-kinds';

/**
 * The annotation of an AnalysisTemplate that carries what its queries cannot show: how long the
 * canary may take to serve the evidence, the canary request rate the design expects, and each
 * sequential gate's design (`{"evidenceSeconds": 60, "canaryRequestsPerSecond": 1.76,
 * "gates": {"error-rate-lt-5-percent": {"threshold": 0.05, "good": 0.025, ...}}}`).
 */
export const GATE_DESIGN_ANNOTATION = 'hotrod-progressive-delivery/gate-design';

/** A sequential gate's design: the share of bad requests its threshold states and its operating characteristic. */
export interface GateDesign {
  /** the share of bad requests the threshold states: the highest error ratio, or 1 - quantile of requests slower than the latency bound */
  readonly threshold: number;
  /** the share that must pass */
  readonly good: number;
  /** the share that must stop */
  readonly bad: number;
  /** the chance a canary at `good` is stopped */
  readonly falseStop: number;
  /** the chance a canary at `bad` is promoted */
  readonly falsePromote: number;
  /** for a latency gate: the latency that splits slow requests from fast ones, in the histogram's unit */
  readonly latencyBound?: number;
  /**
   * for a gate that compares the canary with the stable pods: the factors of the stable pods' error
   * ratio (the shares above are then the chances that a failure is the canary's), the stable
   * error ratio the design expects, and the canary's share of the requests
   */
  readonly vsStable?: VsStableDesign;
}

/** The design of a gate that compares the canary's error ratio with the stable pods'. */
export interface VsStableDesign {
  /** the highest factor of the stable pods' error ratio that passes */
  readonly maxFactor: number;
  /** the factor that must pass */
  readonly goodFactor: number;
  /** the factor that must stop */
  readonly badFactor: number;
  /** the error ratio the stable pods are expected to have (it sizes the traffic and the horizon; the test reads their counts) */
  readonly stableErrorRatio: number;
  /** the canary's share of the Service's requests while the analysis runs */
  readonly canaryShare: number;
}

/** The chance that a failure is the canary's, when the canary fails `factor` times as often as the stable pods and serves `canaryShare` of the requests. */
export function canaryShareOfFailures(factor: number, canaryShare: number): number {
  return (canaryShare * factor) / (canaryShare * factor + 1 - canaryShare);
}

/** What the design annotation holds. */
export interface AnalysisDesign {
  /** how long a canary at `good` may take, on average, to serve what the gates need, in seconds: the traffic generator is sized from it */
  readonly evidenceSeconds: number;
  /** the canary user request rate the design expects (requests per second) */
  readonly canaryRequestsPerSecond?: number;
  /** whether that rate is the service's stated real traffic (else it is what the design asks for, which a traffic generator must give) */
  readonly rateStated?: boolean;
  /** the sequential gates' designs, by metric name */
  readonly gates?: Readonly<Record<string, GateDesign>>;
}

/** The annotation value of a design. */
export function designAnnotation(design: AnalysisDesign): string {
  return JSON.stringify(design);
}

/** A template annotation the tools cannot read, and how to fix it. */
export interface AnnotationProblem {
  readonly annotation: string;
  readonly message: string;
}

/** The gate kinds a template's annotation states (none without it), or what is wrong with it. */
export function gateKindsOf(template: Manifest): { readonly kinds: Readonly<Record<string, GateKind>>; readonly problem?: AnnotationProblem } {
  const text = template.metadata.annotations?.[GATE_KINDS_ANNOTATION];
  if (text === undefined) return { kinds: {} };
  const problem = (message: string) => ({ kinds: {}, problem: { annotation: GATE_KINDS_ANNOTATION, message } });
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    return problem(`annotation ${GATE_KINDS_ANNOTATION} is not JSON (${(e as Error).message}); write a map of metric name to kind, e.g. {"traffic-gate": "traffic"}, or remove it`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return problem(`annotation ${GATE_KINDS_ANNOTATION} must be a map of metric name to kind, got ${text}`);
  }
  const known = Object.values(GateKind) as string[];
  for (const [metric, kind] of Object.entries(parsed)) {
    if (!known.includes(kind as string)) {
      return problem(`annotation ${GATE_KINDS_ANNOTATION} gives metric '${metric}' the kind ${JSON.stringify(kind)}, which is none of ${known.join(', ')}; `
        + 'fix it, or remove the entry to leave the kind unknown');
    }
  }
  return { kinds: parsed as Record<string, GateKind> };
}

/** A readable vs-stable design, or undefined. */
function vsStableOf(v: unknown): VsStableDesign | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const d = v as Record<string, unknown>;
  const positive = (x: unknown): x is number => typeof x === 'number' && x > 0;
  if (![d.maxFactor, d.goodFactor, d.badFactor].every(positive) || !positive(d.stableErrorRatio) || !positive(d.canaryShare)) return undefined;
  if (!((d.goodFactor as number) < (d.maxFactor as number) && (d.maxFactor as number) < (d.badFactor as number)) || (d.canaryShare as number) >= 1 || (d.stableErrorRatio as number) >= 1) return undefined;
  return { maxFactor: d.maxFactor as number, goodFactor: d.goodFactor as number, badFactor: d.badFactor as number, stableErrorRatio: d.stableErrorRatio as number, canaryShare: d.canaryShare as number };
}

/** The design a template's annotation states, if it states a readable one (gate designs that are not readable are left out). */
export function analysisDesignOf(template: Manifest): AnalysisDesign | undefined {
  const text = template.metadata.annotations?.[GATE_DESIGN_ANNOTATION];
  if (text === undefined) return undefined;
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || typeof parsed.evidenceSeconds !== 'number' || !(parsed.evidenceSeconds > 0)) return undefined;
  const share = (v: unknown) => typeof v === 'number' && v > 0 && v < 1;
  const gates = Object.entries(typeof parsed.gates === 'object' && parsed.gates !== null ? parsed.gates as Record<string, Record<string, unknown>> : {})
    .filter(([, g]) => typeof g === 'object' && g !== null && ['threshold', 'good', 'bad', 'falseStop', 'falsePromote'].every((k) => share(g[k])) && (g.good as number) < (g.threshold as number) && (g.threshold as number) < (g.bad as number))
    .map(([name, g]): [string, GateDesign] => [name, {
      threshold: g.threshold as number, good: g.good as number, bad: g.bad as number, falseStop: g.falseStop as number, falsePromote: g.falsePromote as number,
      ...(typeof g.latencyBound === 'number' && g.latencyBound > 0 ? { latencyBound: g.latencyBound } : {}),
      ...(vsStableOf(g.vsStable) ? { vsStable: vsStableOf(g.vsStable) } : {}),
    }]);
  const rate = parsed.canaryRequestsPerSecond;
  return {
    evidenceSeconds: parsed.evidenceSeconds,
    ...(typeof rate === 'number' && rate > 0 ? { canaryRequestsPerSecond: rate } : {}),
    ...(parsed.rateStated === true ? { rateStated: true } : {}),
    ...(gates.length > 0 ? { gates: Object.fromEntries(gates) } : {}),
  };
}
