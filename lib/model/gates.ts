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
 * canary may take to serve the evidence the gates wait for (`{"evidenceSeconds": 60}`).
 */
export const GATE_DESIGN_ANNOTATION = 'hotrod-progressive-delivery/gate-design';

/** What the design annotation holds. */
export interface AnalysisDesign {
  /** how long the canary may take to serve the evidence, in seconds: the traffic generator is sized from it */
  readonly evidenceSeconds: number;
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

/** The design a template's annotation states, if it states a readable one. */
export function analysisDesignOf(template: Manifest): AnalysisDesign | undefined {
  const text = template.metadata.annotations?.[GATE_DESIGN_ANNOTATION];
  if (text === undefined) return undefined;
  try {
    const parsed = JSON.parse(text) as Partial<AnalysisDesign>;
    return typeof parsed.evidenceSeconds === 'number' && parsed.evidenceSeconds > 0 ? { evidenceSeconds: parsed.evidenceSeconds } : undefined;
  } catch {
    return undefined;
  }
}
