import { conditionShape, ConditionSyntaxError, parseCondition } from '../analysis/condition';
import { cannotBeEmpty } from '../analysis/promql';
import { prometheusMetrics, TEMPLATE_KINDS } from '../model/analyses';
import { defineRules } from './define';
import { Severity } from './types';

/**
 * Gate conditions the rules (and reviewers) can read: `result[0] OP NUMBER`, optionally
 * guarded (`len(result) > 0 && ...`, `isNaN(...)`), and guarded against an empty result,
 * which makes a bare `result[0]` an Error measurement ('slice index out of range').
 */
export const CONDITION_RULES = defineRules({
  'conditions/unreadable': 'a gate condition is in the readable subset and compares result[i] with a number',
  'conditions/unguarded-index': 'a gate condition checks len(result) before it reads result[i], unless the query cannot be empty (`or vector(0)`, `vector()`, `scalar()`)',
}, (model, report) => {
  const W = Severity.WARNING;
  for (const template of model.ofKind(...TEMPLATE_KINDS)) {
    const ref = model.refOf(template);
    for (const metric of prometheusMetrics(template)) {
      for (const field of ['successCondition', 'failureCondition'] as const) {
        const condition = metric[field];
        if (condition === undefined) continue;
        const where = `gate '${metric.name}' ${field} '${condition}'`;
        let shape;
        try {
          shape = conditionShape(parseCondition(condition));
        } catch (e) {
          if (!(e instanceof ConditionSyntaxError)) throw e;
          report('conditions/unreadable', W, ref, `${where}: ${e.message}; the rules cannot tell what it accepts`,
            "write it as 'len(result) > 0 && result[0] OP NUMBER' (OP one of < <= > >= == !=)");
          continue;
        }
        if (shape.comparisons.length === 0) {
          report('conditions/unreadable', W, ref, `${where} compares no result[i] with a number; the rules cannot tell what it accepts`,
            "write it as 'len(result) > 0 && result[0] OP NUMBER'");
        }
        if (!shape.guarded && !cannotBeEmpty(metric.query)) {
          report('conditions/unguarded-index', W, ref,
            `${where} reads result[i] without checking len(result) first; while the query returns no sample (no data yet) the measurement is an Error ('slice index out of range'), and errors past consecutiveErrorLimit abort the rollout`,
            `guard it: 'len(result) > 0 && ${/\|\||\bor\b/.test(condition) ? `(${condition})` : condition}'`);
        }
      }
    }
  }
});
