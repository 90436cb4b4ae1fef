import { analysisUses, declaredArgs, findTemplate } from '../model/analyses';
import { defineRules, list } from './define';
import { Severity } from './types';

/**
 * A Rollout's analyses can start: every template they name exists (an AnalysisTemplate in
 * the Rollout's namespace, or a ClusterAnalysisTemplate with clusterScope), and every
 * argument a template declares without a value is passed.
 */
export const ROLLOUT_RULES = defineRules({
  'rollout/unknown-template': "a Rollout's analysis names an existing template in its namespace",
  'rollout/missing-arg': "a Rollout's analysis passes every argument its templates declare without a value",
}, (model, report) => {
  const E = Severity.ERROR;
  for (const use of analysisUses(model)) {
    for (const t of use.templates) {
      const template = findTemplate(model, use, t);
      const kind = t.clusterScope ? 'ClusterAnalysisTemplate' : 'AnalysisTemplate';
      if (!template) {
        const available = model.ofKind(kind).filter((m) => t.clusterScope || model.namespaceOf(m) === use.namespace).map((m) => m.object.metadata?.name ?? '');
        report('rollout/unknown-template', E, use.ref,
          `${use.field} names ${kind} '${t.name}', which ${t.clusterScope ? 'the manifests do not define' : `namespace ${use.namespace} does not have`} (available: ${list(available)}); the analysis cannot start and the rollout stalls`,
          `fix the templateName or define the ${kind}${t.clusterScope ? '' : ` in namespace ${use.namespace}`}`);
        continue;
      }
      const passed = use.args.map((a) => a.name);
      for (const arg of declaredArgs(template).filter((a) => !a.hasDefault && !passed.includes(a.name))) {
        report('rollout/missing-arg', E, use.ref,
          `${use.field} runs template '${t.name}' without argument '${arg.name}', which it declares without a value (passed: ${list(passed)}); the AnalysisRun fails with 'args.${arg.name} was not resolved'`,
          `add {name: ${arg.name}, value: ... or valueFrom: ...} to ${use.field}.args`,
          // a renamed argument: the template's gate names the new name, the Rollout passes the old one
          { causes: [`rollout-args:${use.namespace}/${use.ref.name ?? ''}`], causedBy: [`template-args:${model.namespaceOf(template)}/${t.name}`] });
      }
    }
  }
});
