import { LoadedManifest } from '../manifests';
import { DeliveryModel, modelOf } from '../model/model';
import { Finding, FindingLinks, ObjectRef, Rule, RuleOptions, Severity } from './types';

/** Records one finding of a rule of the family being run. */
export type Report<Id extends string> = (ruleId: Id, severity: Severity, object: ObjectRef, message: string, fix: string, links?: FindingLinks) => void;

/**
 * Rules that share one pass over the manifests (they resolve the same wiring): the pass
 * runs once per set of manifests, and each rule returns the findings filed under its id.
 */
export function defineRules<Id extends string>(
  descriptions: Readonly<Record<Id, string>>,
  check: (model: DeliveryModel, report: Report<Id>, options: RuleOptions) => void,
): Rule[] {
  const cache = new WeakMap<DeliveryModel, Map<boolean, Finding[]>>();
  const run = (manifests: readonly LoadedManifest[], options: RuleOptions = {}): Finding[] => {
    const model = modelOf(manifests, options);
    let byStrictness = cache.get(model);
    if (!byStrictness) cache.set(model, byStrictness = new Map());
    const strict = options.strictMetrics === true;
    let findings = byStrictness.get(strict);
    if (!findings) {
      const out: Finding[] = [];
      check(model, (ruleId, severity, object, message, fix, links) => out.push({ ruleId, severity, object, message, fix, ...(links?.causes?.length ? { causes: links.causes } : {}), ...(links?.causedBy?.length ? { causedBy: links.causedBy } : {}) }), options);
      findings = out;
      byStrictness.set(strict, findings);
    }
    return findings;
  };
  return (Object.keys(descriptions) as Id[]).map((id) => ({
    id,
    description: descriptions[id],
    check: (manifests: readonly LoadedManifest[], options?: RuleOptions) => run(manifests, options).filter((f) => f.ruleId === id),
  }));
}

export { list } from '../model/model';
