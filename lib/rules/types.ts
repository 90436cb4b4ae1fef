import { LoadedManifest } from '../manifests';

/** How bad a finding is: errors stop synth and fail `validate`; warnings are printed. */
export enum Severity {
  ERROR = 'error',
  WARNING = 'warning',
}

/** The object a finding is about. */
export interface ObjectRef {
  readonly kind: string;
  readonly namespace?: string;
  readonly name?: string;
  /** the file it was read from, when known */
  readonly file?: string;
  /** when the object writes no namespace: what gave it the one above */
  readonly namespaceFrom?: string;
}

/** One problem a rule found. */
export interface Finding {
  /** the rule's id, e.g. `collector/no-receivers` */
  readonly ruleId: string;
  readonly severity: Severity;
  readonly object: ObjectRef;
  /** what is wrong, naming the values involved */
  readonly message: string;
  /** how to fix it */
  readonly fix: string;
}

/** A check over a set of plain Kubernetes objects. */
export interface Rule {
  /** a stable id, `area/what` */
  readonly id: string;
  /** one line: what the rule makes sure of */
  readonly description: string;
  /** the findings for these manifests */
  check(manifests: readonly LoadedManifest[]): Finding[];
}

/** The reference of a loaded manifest, for a finding. */
export function refOf(m: LoadedManifest): ObjectRef {
  return { kind: m.object.kind, namespace: m.object.metadata?.namespace, name: m.object.metadata?.name, file: m.file };
}

/** One line: `kind/namespace/name: rule-id: message (fix: ...)`. */
export function formatFinding(f: Finding): string {
  const where = `${f.object.kind}/${f.object.namespace ?? ''}/${f.object.name ?? ''}`;
  const namespace = f.object.namespaceFrom ? ` [namespace ${f.object.namespace}: ${f.object.namespaceFrom}]` : '';
  return `${where}: ${f.ruleId}: ${f.message} (fix: ${f.fix})${namespace}`;
}
