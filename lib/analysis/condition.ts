/**
 * Argo Rollouts analysis conditions: the subset of expr-lang that success and failure
 * conditions use, read into a tree so it can be both judged (is it guarded? what does it
 * compare?) and evaluated against a measurement, with Argo Rollouts v1.8.3's rules.
 */

/** A node of a parsed condition. */
export type ConditionNode =
  | { readonly type: 'number'; readonly value: number }
  | { readonly type: 'bool'; readonly value: boolean }
  | { readonly type: 'nil' }
  | { readonly type: 'ident'; readonly name: string }
  | { readonly type: 'index'; readonly target: ConditionNode; readonly index: ConditionNode }
  | { readonly type: 'call'; readonly name: string; readonly args: readonly ConditionNode[] }
  | { readonly type: 'unary'; readonly op: '!' | '-'; readonly operand: ConditionNode }
  | { readonly type: 'binary'; readonly op: BinaryOp; readonly left: ConditionNode; readonly right: ConditionNode };

/** The binary operators of the subset. */
export type BinaryOp = '||' | '&&' | '==' | '!=' | '<' | '<=' | '>' | '>=' | '+' | '-' | '*' | '/' | '%';

/** The functions Argo Rollouts puts in a condition's environment. */
export const CONDITION_FUNCTIONS = ['len', 'isNaN', 'isInf', 'isNil', 'asInt', 'asFloat', 'default'] as const;

/** A condition that is not in the subset this module reads; `column` is 1-based. */
export class ConditionSyntaxError extends Error {
  constructor(public readonly condition: string, public readonly column: number, detail: string) {
    super(`cannot read condition '${condition}' at column ${column}: ${detail}`);
    this.name = 'ConditionSyntaxError';
  }
}

/** An error while evaluating a condition: Argo Rollouts records the measurement as Error. */
export class ConditionEvaluationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConditionEvaluationError';
  }
}

type Token = { kind: 'num' | 'id' | 'op' | 'eof'; text: string; pos: number };

const OPERATORS = ['||', '&&', '==', '!=', '<=', '>=', '<', '>', '+', '-', '*', '/', '%', '!', '(', ')', '[', ']', ','];

function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    if (/\s/.test(c)) { i++; continue; }
    const num = /^(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?)/.exec(src.slice(i));
    if (num) { tokens.push({ kind: 'num', text: num[0], pos: i }); i += num[0].length; continue; }
    const id = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i));
    if (id) { tokens.push({ kind: 'id', text: id[0], pos: i }); i += id[0].length; continue; }
    const op = OPERATORS.find((o) => src.startsWith(o, i));
    if (op) { tokens.push({ kind: 'op', text: op, pos: i }); i += op.length; continue; }
    throw new ConditionSyntaxError(src, i + 1, `unexpected character '${c}'`);
  }
  tokens.push({ kind: 'eof', text: '', pos: src.length });
  return tokens;
}

/** Reads a condition; throws {@link ConditionSyntaxError} for anything outside the subset. */
export function parseCondition(src: string): ConditionNode {
  const tokens = tokenize(src);
  let p = 0;
  const peek = () => tokens[p];
  const fail = (detail: string): never => { throw new ConditionSyntaxError(src, peek().pos + 1, detail); };
  const isWord = (w: string) => peek().kind === 'id' && peek().text === w;
  const take = (text: string) => {
    if (peek().text !== text) fail(`expected '${text}', found '${peek().text || 'end of input'}'`);
    p++;
  };

  const binaryLevel = (ops: string[], words: Record<string, BinaryOp>, next: () => ConditionNode) => (): ConditionNode => {
    let left = next();
    for (;;) {
      const t = peek();
      const op = t.kind === 'op' && ops.includes(t.text) ? (t.text as BinaryOp) : t.kind === 'id' ? words[t.text] : undefined;
      if (!op) return left;
      p++;
      left = { type: 'binary', op, left, right: next() };
    }
  };

  const primary = (): ConditionNode => {
    const t = peek();
    let node: ConditionNode;
    if (t.kind === 'num') { p++; node = { type: 'number', value: Number(t.text) }; }
    else if (t.kind === 'op' && t.text === '(') { p++; node = expr(); take(')'); }
    else if (t.kind === 'id') {
      p++;
      if (t.text === 'true' || t.text === 'false') node = { type: 'bool', value: t.text === 'true' };
      else if (t.text === 'nil') node = { type: 'nil' };
      else if (peek().text === '(') {
        if (!(CONDITION_FUNCTIONS as readonly string[]).includes(t.text)) {
          throw new ConditionSyntaxError(src, t.pos + 1, `unknown function '${t.text}'; Argo Rollouts provides ${CONDITION_FUNCTIONS.join(', ')}`);
        }
        p++;
        const args: ConditionNode[] = [];
        if (peek().text !== ')') {
          args.push(expr());
          while (peek().text === ',') { p++; args.push(expr()); }
        }
        take(')');
        node = { type: 'call', name: t.text, args };
      } else node = { type: 'ident', name: t.text };
    } else return fail(`expected a value, found '${t.text || 'end of input'}'`);
    while (peek().text === '[') {
      p++;
      const index = expr();
      take(']');
      node = { type: 'index', target: node, index };
    }
    return node;
  };
  const unary = (): ConditionNode => {
    const t = peek();
    if ((t.kind === 'op' && (t.text === '!' || t.text === '-')) || isWord('not')) {
      p++;
      return { type: 'unary', op: t.text === '-' ? '-' : '!', operand: unary() };
    }
    return primary();
  };
  const mul = binaryLevel(['*', '/', '%'], {}, unary);
  const add = binaryLevel(['+', '-'], {}, mul);
  const cmp = binaryLevel(['==', '!=', '<', '<=', '>', '>='], {}, add);
  const and = binaryLevel(['&&'], { and: '&&' }, cmp);
  const expr = binaryLevel(['||'], { or: '||' }, and);

  const tree = expr();
  if (peek().kind !== 'eof') fail(`unexpected '${peek().text}'`);
  return tree;
}

/** A measurement value as the prometheus provider hands it over: the vector's sample values, or a scalar. */
export type MeasurementResult = number[] | number;

type Value = number | boolean | null | number[];

/** Evaluates a parsed condition against a result, as expr-lang would inside Argo Rollouts. */
export function evaluateCondition(node: ConditionNode, result: MeasurementResult): boolean {
  const value = evaluate(node, result);
  if (typeof value !== 'boolean') {
    throw new ConditionEvaluationError(`expected bool, but got ${Array.isArray(value) ? '[]float64' : value === null ? 'nil' : typeof value}`);
  }
  return value;
}

function evaluate(node: ConditionNode, result: MeasurementResult): Value {
  const num = (v: Value, what: string): number => {
    if (typeof v !== 'number') throw new ConditionEvaluationError(`invalid operation: ${what} on ${Array.isArray(v) ? '[]float64' : String(v)}`);
    return v;
  };
  switch (node.type) {
    case 'number': return node.value;
    case 'bool': return node.value;
    case 'nil': return null;
    case 'ident':
      if (node.name === 'result') return Array.isArray(result) ? [...result] : result;
      throw new ConditionEvaluationError(`unknown name ${node.name}`);
    case 'index': {
      const target = evaluate(node.target, result);
      const index = num(evaluate(node.index, result), 'index');
      if (!Array.isArray(target)) throw new ConditionEvaluationError(`cannot fetch ${index} from ${typeof target}`);
      const i = index < 0 ? target.length + index : index;
      if (!Number.isInteger(i) || i < 0 || i >= target.length) {
        throw new ConditionEvaluationError(`runtime error: index out of range [${index}] with length ${target.length}`);
      }
      return target[i];
    }
    case 'call': {
      const args = node.args.map((a) => evaluate(a, result));
      switch (node.name) {
        case 'len':
          if (!Array.isArray(args[0])) throw new ConditionEvaluationError(`invalid argument for len (type ${typeof args[0]})`);
          return args[0].length;
        case 'isNaN': return Number.isNaN(num(args[0], 'isNaN'));
        case 'isInf': return !Number.isFinite(num(args[0], 'isInf')) && !Number.isNaN(args[0]);
        case 'isNil': return args.length === 0 ? result === null : args[0] === null;
        case 'asInt': return Math.trunc(num(args[0], 'asInt'));
        case 'asFloat': return num(args[0], 'asFloat');
        case 'default': return args[0] === null || args[0] === undefined ? args[1] : args[0];
        default: throw new ConditionEvaluationError(`unknown function ${node.name}`);
      }
    }
    case 'unary': {
      const v = evaluate(node.operand, result);
      if (node.op === '!') {
        if (typeof v !== 'boolean') throw new ConditionEvaluationError(`invalid operation: ! on ${typeof v}`);
        return !v;
      }
      return -num(v, 'unary -');
    }
    case 'binary': {
      if (node.op === '&&' || node.op === '||') {
        const l = evaluate(node.left, result);
        if (typeof l !== 'boolean') throw new ConditionEvaluationError(`invalid operation: ${node.op} on ${typeof l}`);
        if (node.op === '&&' && !l) return false;
        if (node.op === '||' && l) return true;
        const r = evaluate(node.right, result);
        if (typeof r !== 'boolean') throw new ConditionEvaluationError(`invalid operation: ${node.op} on ${typeof r}`);
        return r;
      }
      const l = evaluate(node.left, result);
      const r = evaluate(node.right, result);
      if (node.op === '==') return l === r;
      if (node.op === '!=') return l !== r;
      const a = num(l, node.op);
      const b = num(r, node.op);
      switch (node.op) {
        // Comparisons with NaN are false, as in Go.
        case '<': return a < b;
        case '<=': return a <= b;
        case '>': return a > b;
        case '>=': return a >= b;
        case '+': return a + b;
        case '-': return a - b;
        case '*': return a * b;
        case '/': return a / b;
        case '%': return a % b;
      }
    }
  }
  throw new ConditionEvaluationError('unsupported expression');
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
 * The phase of one measurement, as Argo Rollouts v1.8.3 decides it (`EvaluateResult`):
 * an evaluation error is Error; with only a success condition, false is Failed; with only a
 * failure condition, true is Failed; with both, a true failure condition is Failed and both
 * false is Inconclusive; with neither, Successful.
 */
export function measurementPhase(metric: MetricConditions, result: MeasurementResult): { phase: MeasurementPhase; error?: string } {
  let success = false;
  let failure = false;
  try {
    if (metric.successCondition) success = evaluateCondition(parseCondition(metric.successCondition), result);
    if (metric.failureCondition) failure = evaluateCondition(parseCondition(metric.failureCondition), result);
  } catch (e) {
    return { phase: MeasurementPhase.ERROR, error: e instanceof Error ? e.message : String(e) };
  }
  if (!metric.successCondition && !metric.failureCondition) return { phase: MeasurementPhase.SUCCESSFUL };
  if (metric.successCondition && !metric.failureCondition) failure = !success;
  if (!metric.successCondition && metric.failureCondition) success = !failure;
  if (failure) return { phase: MeasurementPhase.FAILED };
  if (!success) return { phase: MeasurementPhase.INCONCLUSIVE };
  return { phase: MeasurementPhase.SUCCESSFUL };
}
