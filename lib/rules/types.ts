import { LoadedManifest } from '../manifests';
import { ModelOptions, ObjectRef, objectPath } from '../model/model';

export type { ObjectRef } from '../model/model';
export { refOf } from '../model/model';

/** How bad a finding is: errors stop synth and fail `validate`; warnings are printed. */
export enum Severity {
  ERROR = 'error',
  WARNING = 'warning',
  /** what was not checked, and why: printed once, never fails */
  INFO = 'info',
}

/** How a run of the rules is asked to judge: the model's options (the Prometheus setup, the image facts) and the rules' own. */
export interface RuleOptions extends ModelOptions {
  /** report a gate's metric that nothing in the manifests produces as an error, even when its producer is outside them */
  readonly strictMetrics?: boolean;
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
  /** the root causes this finding reports, as keys that findings they cause name in `causedBy` */
  readonly causes?: readonly string[];
  /** the root causes this finding may follow from: `validate` prints it under the first of them that is reported too */
  readonly causedBy?: readonly string[];
  /** the findings that follow from this one, folded into it (see foldConsequences) */
  readonly consequences?: readonly Finding[];
}

/** How a finding links to others: the root cause it reports, and the ones it may follow from. */
export interface FindingLinks {
  readonly causes?: readonly string[];
  readonly causedBy?: readonly string[];
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

/** The kind of a finding's object when the finding is about a file of the folder, not an object in it. */
export const FILE_KIND = 'File';

/** One line: `kind/namespace/name: rule-id: message (fix: ...)`. */
export function formatFinding(f: Finding): string {
  // A finding about a file (not YAML, a skipped template) names the file, which the origin prefix already shows.
  const where = f.object.kind === FILE_KIND ? '' : `${objectPath(f.object)}: `;
  const namespace = f.object.namespaceFrom ? ` [namespace ${f.object.namespace}: ${f.object.namespaceFrom}]` : '';
  return `${where}${f.ruleId}: ${f.message} (fix: ${f.fix})${namespace}`;
}
