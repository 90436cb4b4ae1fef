/*
 * Argo Rollouts facts that the constructs, the rules and the rehearsal share (argoproj/argo-rollouts @ v1.8.3).
 */

/** The pod label Argo Rollouts puts on every pod of a ReplicaSet it manages (pkg/apis/rollouts/v1alpha1/types.go DefaultRolloutUniqueLabelKey @ v1.8.3). */
export const ROLLOUTS_POD_TEMPLATE_HASH_LABEL = 'rollouts-pod-template-hash';

/** The template argument that carries the canary's namespace. */
export const NAMESPACE_ARG = 'namespace';
/** The template argument that carries the canary's pod-template hash. */
export const CANARY_HASH_ARG = 'canary-hash';
/** The template argument that carries the stable pods' pod-template hash (for gates that compare the canary with them). */
export const STABLE_HASH_ARG = 'stable-hash';

/** An argument a step passes to an analysis, and where its value comes from. */
export interface AnalysisArgument {
  /** the argument name the template declares */
  readonly name: string;
  /** where Argo Rollouts takes the value from */
  readonly valueFrom: { readonly fieldRef?: { readonly fieldPath: string }; readonly podTemplateHashValue?: 'Stable' | 'Latest' };
}

/**
 * The canary and stable pod counts of a rollout with `replicas` pods at a weight, as Argo Rollouts
 * sets them without a traffic router: the closest whole number of canary pods, at least one
 * canary and one stable pod for weights 1-99.
 */
export function podsAtWeight(replicas: number, weight: number): { readonly canary: number; readonly stable: number } {
  if (weight <= 0) return { canary: 0, stable: replicas };
  if (weight >= 100) return { canary: replicas, stable: 0 };
  const canary = Math.max(1, Math.round((replicas * weight) / 100));
  const stable = Math.max(1, replicas - canary);
  return { canary, stable };
}

/** A `{{args.x}}` placeholder Argo Rollouts substitutes in an AnalysisTemplate. */
export function arg(name: string): string {
  return `{{args.${name}}}`;
}
