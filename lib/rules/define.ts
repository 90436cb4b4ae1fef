import { LoadedManifest } from '../manifests';
import { ManifestModel, modelOf } from './model';
import { Finding, ObjectRef, Rule, RuleOptions, Severity } from './types';

/** Records one finding of a rule of the family being run. */
export type Report<Id extends string> = (ruleId: Id, severity: Severity, object: ObjectRef, message: string, fix: string) => void;

/**
 * Rules that share one pass over the manifests (they resolve the same wiring): the pass
 * runs once per set of manifests, and each rule returns the findings filed under its id.
 */
export function defineRules<Id extends string>(
  descriptions: Readonly<Record<Id, string>>,
  check: (model: ManifestModel, report: Report<Id>) => void,
): Rule[] {
  const cache = new WeakMap<ManifestModel, Finding[]>();
  const run = (manifests: readonly LoadedManifest[], options: RuleOptions = {}): Finding[] => {
    const model = modelOf(manifests, options);
    let findings = cache.get(model);
    if (!findings) {
      const out: Finding[] = [];
      check(model, (ruleId, severity, object, message, fix) => out.push({ ruleId, severity, object, message, fix }));
      findings = out;
      cache.set(model, findings);
    }
    return findings;
  };
  return (Object.keys(descriptions) as Id[]).map((id) => ({
    id,
    description: descriptions[id],
    check: (manifests: readonly LoadedManifest[], options?: RuleOptions) => run(manifests, options).filter((f) => f.ruleId === id),
  }));
}

/** `a, b, c` or `(none)`, for messages. */
export function list(items: Iterable<string | number>): string {
  const all = [...items];
  return all.length > 0 ? all.join(', ') : '(none)';
}
