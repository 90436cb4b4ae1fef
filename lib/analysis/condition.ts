/**
 * Argo Rollouts analysis conditions, read into expr's syntax tree so they can be both judged (is
 * it guarded? what does it compare?) and evaluated against a measurement the way Argo Rollouts
 * v1.8.3 evaluates them with expr v1.15.5 (./expr.ts models expr).
 */

import { ENV_FUNCTIONS, ExprError, ExprNode, ExprResult, ExprSyntaxError, ExprUnsupportedError, goTypeOf, parseExpr, runExpr } from './expr';

export type { BinaryOp } from './expr';

/** A node of a parsed condition: expr's syntax tree (see ./expr.ts). */
export type ConditionNode = ExprNode;

/** The functions Argo Rollouts puts in a condition's environment (utils/evaluate/evaluate.go EvalCondition @ v1.8.3). */
export const CONDITION_FUNCTIONS = Object.keys(ENV_FUNCTIONS);

/**
 * A condition the tools cannot read: `invalid`, expr v1.15.5 refuses it too (`exprMessage` is its
 * text, which Argo Rollouts records on every measurement, all of them Error); `unsupported`, valid
 * expr that this model does not evaluate (it says so rather than guess). `column` is 1-based, 0
 * when the problem only shows while evaluating.
 */
export class ConditionSyntaxError extends Error {
  constructor(
    public readonly condition: string,
    public readonly column: number,
    public readonly kind: 'invalid' | 'unsupported',
    public readonly exprMessage: string,
  ) {
    super(kind === 'invalid'
      ? `condition '${condition}' is not valid expr (v1.15.5, what Argo Rollouts v1.8.3 compiles it with): ${exprMessage} (column ${column})`
      : `cannot model condition '${condition}'${column > 0 ? ` at column ${column}` : ''}: ${exprMessage} is valid expr this model does not evaluate`);
    this.name = 'ConditionSyntaxError';
  }
}

/** An error expr reports while compiling or running a valid condition: Argo Rollouts records the measurement as Error with this text. */
export class ConditionEvaluationError extends Error {
  /** `compile`: expr refused the condition for this type of result (syntax or types); `run`: it failed while running; `result`: it gave no bool */
  constructor(message: string, public readonly stage: 'compile' | 'run' | 'result') {
    super(message);
    this.name = 'ConditionEvaluationError';
  }
}

const PARSED = new Map<string, ConditionNode | ConditionSyntaxError>();

/** Reads a condition as expr v1.15.5 parses it; throws {@link ConditionSyntaxError} when it cannot. */
export function parseCondition(src: string): ConditionNode {
  let parsed = PARSED.get(src);
  if (!parsed) {
    try {
      parsed = parseExpr(src);
    } catch (e) {
      if (e instanceof ExprSyntaxError) parsed = new ConditionSyntaxError(src, e.column, 'invalid', e.message);
      else if (e instanceof ExprUnsupportedError) parsed = new ConditionSyntaxError(src, e.column, 'unsupported', e.what);
      else throw e;
    }
    if (PARSED.size > 10_000) PARSED.clear();
    PARSED.set(src, parsed);
  }
  if (parsed instanceof ConditionSyntaxError) throw parsed;
  return parsed;
}

/** A measurement value as the prometheus provider hands it over: the vector's sample values, or a scalar. */
export type MeasurementResult = number[] | number;

/**
 * What a condition can be evaluated against: a Prometheus result, nil (`null`, which other
 * providers can give), or for tests a bool, a string or a Go int (`bigint`).
 */
export type ConditionResult = ExprResult;

/**
 * Evaluates a parsed condition against a result, as Argo Rollouts v1.8.3's EvalCondition does
 * with expr v1.15.5: a compile error (syntax, types) or a run-time error is a
 * {@link ConditionEvaluationError} with expr's text, as is a value that is not a bool
 * (`expected bool, but got float64`); what the model cannot evaluate is a {@link ConditionSyntaxError}.
 */
export function evaluateCondition(node: ConditionNode, result: ConditionResult, source = ''): boolean {
  let value;
  try {
    value = runExpr(node, result);
  } catch (e) {
    if (e instanceof ExprError) throw new ConditionEvaluationError(e.message, e.stage);
    if (e instanceof ExprUnsupportedError) throw new ConditionSyntaxError(source, 0, 'unsupported', e.what);
    throw e;
  }
  if (typeof value !== 'boolean') throw new ConditionEvaluationError(`expected bool, but got ${goTypeOf(value)}`, 'result');
  return value;
}

/** A comparison of `result[i]` with a number, as found in a condition. */
export interface ResultComparison {
  /** the index into result */
  readonly index: number;
  /** the operator, normalized so `result[i]` is on the left */
  readonly op: '<' | '<=' | '>' | '>=' | '==' | '!=';
  /** the number compared with */
  readonly value: number;
}

/** What a condition does with the result, as far as rules need to know. */
export interface ConditionShape {
  /** the comparisons of `result[i]` with a number */
  readonly comparisons: readonly ResultComparison[];
  /** whether every `result[i]` is reached only after `len(result) > i` (or an equivalent) was checked */
  readonly guarded: boolean;
  /** whether the condition indexes into result at all */
  readonly indexesResult: boolean;
}

const FLIP: Record<string, ResultComparison['op']> = { '<': '>', '<=': '>=', '>': '<', '>=': '<=', '==': '==', '!=': '!=' };
const NEGATE: Record<string, ResultComparison['op']> = { '<': '>=', '<=': '>', '>': '<=', '>=': '<', '==': '!=', '!=': '==' };

/** A number literal, negative ones (`-4.6`, a unary minus on a number) included. */
function literal(n: ConditionNode): number | undefined {
  if (n.type === 'number') return n.value;
  return n.type === 'unary' && n.op === '-' && n.operand.type === 'number' ? -n.operand.value : undefined;
}

/** Reads the shape of a parsed condition: its `result[i] OP n` comparisons and whether they are guarded against an empty result. */
export function conditionShape(node: ConditionNode): ConditionShape {
  const comparisons: ResultComparison[] = [];
  let guarded = true;
  let indexesResult = false;

  const resultIndex = (n: ConditionNode): number | undefined =>
    n.type === 'index' && n.target.type === 'ident' && n.target.name === 'result' && n.index.type === 'number' ? n.index.value : undefined;

  // The length a node proves when it evaluates to `outcome`: `len(result) > k` true proves
  // length > k, `len(result) == 0` false proves length >= 1 (the guard of `len(result) == 0 || ...`).
  const provenLength = (n: ConditionNode, outcome: boolean): number => {
    if (n.type === 'unary' && n.op === '!') return provenLength(n.operand, !outcome);
    if (n.type !== 'binary') return 0;
    if (n.op === '&&') return outcome ? Math.max(provenLength(n.left, true), provenLength(n.right, true)) : 0;
    if (n.op === '||') return outcome ? 0 : Math.max(provenLength(n.left, false), provenLength(n.right, false));
    const isLen = (x: ConditionNode) => x.type === 'call' && x.name === 'len' && x.args[0]?.type === 'ident' && (x.args[0] as { name: string }).name === 'result';
    const lit = (x: ConditionNode) => (x.type === 'number' ? x.value : undefined);
    let op: string;
    let k: number;
    if (isLen(n.left) && lit(n.right) !== undefined) [op, k] = [n.op, lit(n.right)!];
    else if (isLen(n.right) && lit(n.left) !== undefined) [op, k] = [FLIP[n.op] ?? n.op, lit(n.left)!];
    else return 0;
    if (!outcome) op = NEGATE[op] ?? '';
    if (op === '>') return k + 1;
    if (op === '>=' || op === '==') return k;
    if (op === '!=' && k === 0) return 1; // a length is never negative
    return 0;
  };

  const visit = (n: ConditionNode, known: number): void => {
    const idx = resultIndex(n);
    if (idx !== undefined) {
      indexesResult = true;
      if (idx >= known) guarded = false;
      return;
    }
    if (n.type === 'index') { indexesResult = true; guarded = false; visit(n.target, known); visit(n.index, known); return; }
    if (n.type === 'binary') {
      if (['<', '<=', '>', '>=', '==', '!='].includes(n.op)) {
        const li = resultIndex(n.left);
        const ri = resultIndex(n.right);
        const rv = literal(n.right);
        const lv = literal(n.left);
        if (li !== undefined && rv !== undefined) comparisons.push({ index: li, op: n.op as ResultComparison['op'], value: rv });
        if (ri !== undefined && lv !== undefined) comparisons.push({ index: ri, op: FLIP[n.op], value: lv });
      }
      if (n.op === '&&' || n.op === '||') {
        // expr-lang short-circuits: the right side runs only when the left is true (&&) or false (||).
        visit(n.left, known);
        visit(n.right, Math.max(known, provenLength(n.left, n.op === '&&')));
        return;
      }
      visit(n.left, known);
      visit(n.right, known);
      return;
    }
    if (n.type === 'unary') visit(n.operand, known);
    if (n.type === 'call') n.args.forEach((a) => visit(a, known));
    if (n.type === 'closure') visit(n.body, known);
    if (n.type === 'array') n.items.forEach((a) => visit(a, known));
    if (n.type === 'conditional') {
      visit(n.cond, known);
      visit(n.then, Math.max(known, provenLength(n.cond, true)));
      visit(n.else, Math.max(known, provenLength(n.cond, false)));
    }
  };
  visit(node, 0);
  return { comparisons, guarded: guarded || !indexesResult, indexesResult };
}

/** The phase of one measurement, named as Argo Rollouts names it. */
export enum MeasurementPhase {
  SUCCESSFUL = 'Successful',
  FAILED = 'Failed',
  INCONCLUSIVE = 'Inconclusive',
  ERROR = 'Error',
}

/** A metric's conditions. */
export interface MetricConditions {
  readonly successCondition?: string;
  readonly failureCondition?: string;
}

/**
 * The phase of one measurement, as Argo Rollouts v1.8.3 decides it (utils/evaluate/evaluate.go
 * EvaluateResult): the success condition first, then the failure condition, an error in either
 * (expr's text, see {@link evaluateCondition}) making it Error; with only a success condition,
 * false is Failed; with only a failure condition, true is Failed; with both, a true failure
 * condition is Failed and both false is Inconclusive; with neither, Successful. An empty condition
 * is no condition. Throws {@link ConditionSyntaxError} (kind `unsupported`) when the model cannot
 * evaluate a condition: the caller must say so, not record a phase.
 */
export function measurementPhase(metric: MetricConditions, result: ConditionResult): { phase: MeasurementPhase; error?: string } {
  let success = false;
  let failure = false;
  const evaluate = (condition: string) => {
    try {
      return evaluateCondition(parseCondition(condition), result, condition);
    } catch (e) {
      if (e instanceof ConditionSyntaxError && e.kind === 'invalid') throw new ConditionEvaluationError(e.exprMessage, 'compile');
      throw e;
    }
  };
  try {
    if (metric.successCondition) success = evaluate(metric.successCondition);
    if (metric.failureCondition) failure = evaluate(metric.failureCondition);
  } catch (e) {
    if (e instanceof ConditionEvaluationError) return { phase: MeasurementPhase.ERROR, error: e.message };
    throw e;
  }
  if (!metric.successCondition && !metric.failureCondition) return { phase: MeasurementPhase.SUCCESSFUL };
  if (metric.successCondition && !metric.failureCondition) failure = !success;
  if (!metric.successCondition && metric.failureCondition) success = !failure;
  if (failure) return { phase: MeasurementPhase.FAILED };
  if (!success) return { phase: MeasurementPhase.INCONCLUSIVE };
  return { phase: MeasurementPhase.SUCCESSFUL };
}
