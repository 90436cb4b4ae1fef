import { PrometheusBackend } from '../platform/metrics-backend';
import { LoadedManifest } from '../manifests';

/** How bad a finding is: errors stop synth and fail `validate`; warnings are printed. */
export enum Severity {
  ERROR = 'error',
  WARNING = 'warning',
  /** what was not checked, and why: printed once, never fails */
  INFO = 'info',
}

/** How a run of the rules is asked to judge. */
export interface RuleOptions {
  /** report a gate's metric that nothing in the manifests produces as an error, even when its producer is outside them */
  readonly strictMetrics?: boolean;
  /** the Prometheus that scrapes the pods and answers the gates @default PrometheusBackend.communityChart() */
  readonly prometheus?: PrometheusBackend;
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
  check(manifests: readonly LoadedManifest[], options?: RuleOptions): Finding[];
}

/** The reference of a loaded manifest, for a finding. */
export function refOf(m: LoadedManifest): ObjectRef {
  return { kind: m.object.kind, namespace: m.object.metadata?.namespace, name: m.object.metadata?.name, file: m.file };
}

/** The kind of a finding's object when the finding is about a file of the folder, not an object in it. */
export const FILE_KIND = 'File';

/** One line: `kind/namespace/name: rule-id: message (fix: ...)`. */
export function formatFinding(f: Finding): string {
  // A finding about a file (not YAML, a skipped template) names the file, which the origin prefix already shows.
  const where = f.object.kind === FILE_KIND ? '' : `${f.object.kind}/${f.object.namespace ?? ''}/${f.object.name ?? ''}: `;
  const namespace = f.object.namespaceFrom ? ` [namespace ${f.object.namespace}: ${f.object.namespaceFrom}]` : '';
  return `${where}${f.ruleId}: ${f.message} (fix: ${f.fix})${namespace}`;
}
