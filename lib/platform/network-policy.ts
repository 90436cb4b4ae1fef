/*
 * NetworkPolicy facts the constructs, the rules and `explain` share (kubernetes/api networking/v1
 * types.go and core/v1 well_known_labels.go @ v0.33.0, Kubernetes v1.33).
 */

/**
 * The label the control plane sets on every namespace to its name (LabelMetadataName, GA and
 * unconditional since v1.22): a NetworkPolicy selects namespaces by name through it.
 */
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

/** The protocol of a NetworkPolicy port that names none. */
export const DEFAULT_POLICY_PROTOCOL = 'TCP';
