/*
 * Kubernetes Pod Security Standards facts that the constructs and the rules share: the levels, the
 * namespace labels Pod Security Admission reads, and the security context that passes the
 * restricted level. Label names and levels: kubernetes/pod-security-admission api/constants.go
 * @ v0.33.0 (the published copy of Kubernetes v1.33's staging/src/k8s.io/pod-security-admission).
 */

/** A Pod Security Standards level, from most to least permissive. */
export enum PodSecurityLevel {
  /** no restriction at all */
  PRIVILEGED = 'privileged',
  /** forbids the known privilege escalations (host namespaces, privileged containers, hostPath, hostPort, ...) */
  BASELINE = 'baseline',
  /** baseline, and the hardening practices (non-root, no privilege escalation, seccomp, ALL capabilities dropped, ...) */
  RESTRICTED = 'restricted',
}

/** The levels from most to least permissive, for comparisons. */
const LEVEL_ORDER: readonly PodSecurityLevel[] = [PodSecurityLevel.PRIVILEGED, PodSecurityLevel.BASELINE, PodSecurityLevel.RESTRICTED];

/** Whether `level` forbids what `control` forbids (a restricted namespace enforces the baseline controls too). */
export function enforces(level: PodSecurityLevel, control: PodSecurityLevel.BASELINE | PodSecurityLevel.RESTRICTED): boolean {
  return LEVEL_ORDER.indexOf(level) >= LEVEL_ORDER.indexOf(control);
}

/** The namespace label that sets the level Pod Security Admission rejects pods above. */
export const POD_SECURITY_ENFORCE_LABEL = 'pod-security.kubernetes.io/enforce';

/**
 * The level a namespace's enforce label asks for. A value that is not a level is read as
 * `restricted`: admission fails closed on an unparseable enforce level (pod-security-admission
 * api/helpers.go @ v0.33.0).
 */
export function parseEnforceLevel(value: string): PodSecurityLevel {
  return (LEVEL_ORDER as readonly string[]).includes(value) ? value as PodSecurityLevel : PodSecurityLevel.RESTRICTED;
}

/**
 * The policy version the rules implement (every check of pod-security-admission v0.33.0) and the
 * generated namespaces pin for enforcement, so a cluster upgrade does not change what is rejected.
 */
export const POD_SECURITY_VERSION = 'v1.33';

/**
 * The labels that make a namespace enforce a level at {@link POD_SECURITY_VERSION}, and warn (at
 * `kubectl apply`) about the checks of the cluster's newest version, so a check added later shows
 * up as a warning before a namespace enforces it.
 */
export function podSecurityLabels(level: PodSecurityLevel): Record<string, string> {
  return {
    [POD_SECURITY_ENFORCE_LABEL]: level,
    [`${POD_SECURITY_ENFORCE_LABEL}-version`]: POD_SECURITY_VERSION,
    'pod-security.kubernetes.io/warn': level,
    'pod-security.kubernetes.io/warn-version': 'latest',
  };
}
