import { ConditionEvaluationError, conditionShape, ConditionSyntaxError, evaluateCondition, parseCondition } from '../analysis/condition';
import { cannotBeEmpty } from '../analysis/promql';
import { prometheusMetrics, TEMPLATE_KINDS } from '../model/analyses';
import { defineRules } from './define';
import { passesEmpty, unguardedIndexCause } from './gates';
import { Severity } from './types';

/**
 * Gate conditions the rules (and reviewers) can read: `result[0] OP NUMBER`, optionally
 * guarded (`len(result) > 0 && ...`, `isNaN(...)`), and guarded against an empty result,
 * which makes a bare `result[0]` an Error measurement ('reflect: slice index out of range').
 * A condition expr v1.15.5 refuses, whatever the result (a syntax error, an unknown name, a
 * type error for a vector and for a scalar alike), makes every measurement an Error.
 */

/** expr's error when a condition compiles neither for a vector nor for a scalar result (the two a Prometheus query gives). */
function neverCompiles(node: ReturnType<typeof parseCondition>, condition: string): string | undefined {
  const errors = ([[1], 1] as const).map((result) => {
    try {
      evaluateCondition(node, result, condition);
      return undefined;
    } catch (e) {
      if (e instanceof ConditionEvaluationError && e.stage === 'compile') return e.message;
      if (e instanceof ConditionEvaluationError || e instanceof ConditionSyntaxError) return undefined;
      throw e;
    }
  });
  return errors.every((e) => e !== undefined) ? errors[0] : undefined;
}
export const CONDITION_RULES = defineRules({
  'conditions/unreadable': 'a gate condition is in the readable subset and compares result[i] with a number',
  'conditions/unguarded-index': 'a gate condition checks len(result) before it reads result[i], unless the query cannot be empty (`or vector(0)`, `vector()`, `scalar()`)',
  'conditions/passes-empty': 'a gate whose query can be empty does not pass an empty result (`len(result) == 0 || ...`): a canary that sends nothing would pass it (warning)',
}, (model, report) => {
  const W = Severity.WARNING;
  for (const template of model.ofKind(...TEMPLATE_KINDS)) {
    const ref = model.refOf(template);
    for (const metric of prometheusMetrics(template)) {
      if (metric.successCondition && passesEmpty(metric)) {
        report('conditions/passes-empty', W, ref,
          `gate '${metric.name}' successCondition '${metric.successCondition}' passes an empty result; a canary with no data (idle, or its series missing) passes the gate`,
          "fail or stop on no data: 'len(result) > 0 && ...', or make the query never empty where no data means zero (`or vector(0)`)",
          { causedBy: [`idle-canary:${ref.namespace}/${ref.name}`] });
      }
      for (const field of ['successCondition', 'failureCondition'] as const) {
        const condition = metric[field];
        if (condition === undefined) continue;
        const where = `gate '${metric.name}' ${field} '${condition}'`;
        let node;
        try {
          node = parseCondition(condition);
        } catch (e) {
          if (!(e instanceof ConditionSyntaxError)) throw e;
          report('conditions/unreadable', W, ref, e.kind === 'invalid'
            ? `${where}: ${e.message}; Argo Rollouts records every measurement as Error ('${e.exprMessage}'), so errors past consecutiveErrorLimit abort the rollout`
            : `${where}: ${e.message}; the rules cannot tell what it accepts`,
          "write it as 'len(result) > 0 && result[0] OP NUMBER' (OP one of < <= > >= == !=)");
          continue;
        }
        const refused = neverCompiles(node, condition);
        if (refused) {
          report('conditions/unreadable', W, ref, `${where} does not compile in expr v1.15.5 (what Argo Rollouts v1.8.3 evaluates it with) for a vector result nor for a scalar one: `
            + `'${refused}'; every measurement is an Error, so errors past consecutiveErrorLimit abort the rollout`,
          "write it as 'len(result) > 0 && result[0] OP NUMBER' (OP one of < <= > >= == !=)");
          continue;
        }
        const shape = conditionShape(node);
        if (shape.comparisons.length === 0) {
          report('conditions/unreadable', W, ref, `${where} compares no result[i] with a number; the rules cannot tell what it accepts`,
            "write it as 'len(result) > 0 && result[0] OP NUMBER'");
        }
        if (!shape.guarded && !cannotBeEmpty(metric.query)) {
          report('conditions/unguarded-index', W, ref,
            `${where} reads result[i] without checking len(result) first; while the query returns no sample (no data yet) the measurement is an Error ('slice index out of range'), and errors past consecutiveErrorLimit abort the rollout`,
            `guard it: 'len(result) > 0 && ${/\|\||\bor\b/.test(condition) ? `(${condition})` : condition}'`,
            { causes: [unguardedIndexCause(ref, metric.name)] });
        }
      }
    }
  }
});
