import * as kplus from 'cdk8s-plus-28';

/**
 * A container security context that passes every restricted Pod Security control (see
 * lib/rules/pod-security.ts): non-root, no privilege escalation, ALL capabilities dropped, the
 * runtime's default seccomp profile; and a read-only root filesystem. cdk8s-plus sets the first
 * two by default, not the capabilities or the seccomp profile.
 */
export const RESTRICTED_CONTAINER: kplus.ContainerSecurityContextProps = {
  ensureNonRoot: true,
  privileged: false,
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: [kplus.Capability.ALL] },
  seccompProfile: { type: kplus.SeccompProfileType.RUNTIME_DEFAULT },
};

/** {@link RESTRICTED_CONTAINER} as a numeric user and group, which the kubelet can check before it starts the container. */
export function restrictedContainerSecurity(user: number, group: number): kplus.ContainerSecurityContextProps {
  return { ...RESTRICTED_CONTAINER, user, group };
}
