import type { parser as PromqlParser } from '@prometheus-io/lezer-promql';

type SyntaxNode = ReturnType<typeof PromqlParser.parse>['topNode'];

let promqlParser: typeof PromqlParser | undefined;

/** Prometheus's grammar, loaded on the first query read (commands that read none do not load it). */
function parser(): typeof PromqlParser {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  promqlParser ??= (require('@prometheus-io/lezer-promql') as { parser: typeof PromqlParser }).parser;
  return promqlParser;
}

/**
 * Gate queries read with Prometheus's own PromQL grammar (`@prometheus-io/lezer-promql`,
 * the parser of the Prometheus UI), after Argo Rollouts' `{{args.x}}` placeholders are
 * replaced by dummies of the same length, so every position still points into the query
 * as written.
 */

/** An Argo Rollouts placeholder in a query, e.g. `{{args.canary-hash}}` or `{{ args.namespace }}`. */
const ARG_PLACEHOLDER = /\{\{\s*args\.([a-zA-Z0-9_.-]+)\s*\}\}/;

/** The placeholder pattern's source, for patterns that embed it (one capture group: the argument name). */
export const ARG_PLACEHOLDER_SOURCE = ARG_PLACEHOLDER.source;

/** The argument names of the placeholders in a text, in order of appearance. */
export function placeholderArgs(text: string): string[] {
  return [...text.matchAll(new RegExp(ARG_PLACEHOLDER.source, 'g'))].map((m) => m[1]);
}

/** A syntax error: 1-based line and column in the query as written. */
export interface PromqlSyntaxError {
  readonly offset: number;
  readonly line: number;
  readonly column: number;
  /** the text at the error, or `end of query` */
  readonly near: string;
}

/** A label matcher of a selector: `label OP "value"`. */
export interface LabelMatcher {
  readonly label: string;
  readonly op: string;
  /** the value as written, placeholders included */
  readonly value: string;
}

/** A vector selector: `metric{matchers}`, with what surrounds it. */
export interface SelectorUse {
  /** the metric name (from the name or a `__name__=` matcher), if it has one */
  readonly metric?: string;
  readonly matchers: readonly LabelMatcher[];
  /** the names of the functions it sits inside, innermost first (`rate`, `sum`, ...) */
  readonly enclosing: readonly string[];
  readonly offset: number;
}

/** Labels a query names outside selectors: `by (...)`, `without (...)`, `on (...)`, `ignoring (...)`. */
export interface GroupingUse {
  readonly labels: readonly string[];
  /** the selectors of the expression the labels apply to */
  readonly selectors: readonly SelectorUse[];
}

/** What a query reads. */
export interface PromqlQuery {
  /** the first syntax error, if any */
  readonly error?: PromqlSyntaxError;
  readonly selectors: readonly SelectorUse[];
  readonly groupings: readonly GroupingUse[];
  /** the placeholder names used, in order of appearance */
  readonly args: readonly string[];
}

/** The query with each placeholder replaced by a same-length dummy: a string's letters inside quotes, a number elsewhere. */
export function substitutePlaceholders(query: string): string {
  const placeholder = new RegExp(ARG_PLACEHOLDER.source, 'y');
  let out = '';
  let quote: string | undefined;
  for (let i = 0; i < query.length;) {
    placeholder.lastIndex = i;
    const m = placeholder.exec(query);
    if (m) {
      out += quote ? 'x'.repeat(m[0].length) : '1'.padEnd(m[0].length, ' ');
      i += m[0].length;
      continue;
    }
    const c = query[i];
    if (quote && c === '\\') { out += query.slice(i, i + 2); i += 2; continue; }
    if (quote ? c === quote : c === '"' || c === "'" || c === '`') quote = quote ? undefined : c;
    out += c;
    i++;
  }
  return out;
}

/** The query with each `# comment` (to the end of its line, outside quotes) blanked out, so offsets still point into the query as written. */
export function withoutComments(query: string): string {
  let out = '';
  let quote: string | undefined;
  for (let i = 0; i < query.length; i++) {
    const c = query[i];
    if (quote) {
      out += c;
      if (c === '\\' && quote !== '`') out += query[++i] ?? '';
      else if (c === quote) quote = undefined;
    } else if (c === '#') {
      const end = query.indexOf('\n', i);
      const stop = end < 0 ? query.length : end;
      out += ' '.repeat(stop - i);
      i = stop - 1;
    } else {
      if (c === '"' || c === "'" || c === '`') quote = c;
      out += c;
    }
  }
  return out;
}

function lineColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset).split('\n');
  return { line: before.length, column: before[before.length - 1].length + 1 };
}

function unquote(literal: string): string {
  if (literal.length >= 2 && /^["'`]/.test(literal)) {
    const body = literal.slice(1, -1);
    return literal[0] === '`' ? body : body.replace(/\\(.)/g, '$1');
  }
  return literal;
}

/** Reads a gate query; `error` is set when it does not parse. */
export function readPromql(query: string): PromqlQuery {
  const text = substitutePlaceholders(query);
  const tree = parser().parse(text);
  const args = placeholderArgs(query);
  let error: PromqlSyntaxError | undefined;
  const selectorNodes: SyntaxNode[] = [];
  const groupingNodes: SyntaxNode[] = [];
  tree.iterate({
    enter(ref) {
      if (ref.type.isError && !error) {
        const near = query.slice(ref.from, Math.max(ref.to, ref.from + 1)).trim();
        error = { offset: ref.from, ...lineColumn(query, ref.from), near: near ? near.split('\n')[0] : 'end of query' };
      }
      if (ref.name === 'VectorSelector') selectorNodes.push(ref.node);
      if (ref.name === 'GroupingLabels') groupingNodes.push(ref.node);
    },
  });
  if (error) return { error, selectors: [], groupings: [], args };

  const at = (n: SyntaxNode) => query.slice(n.from, n.to);
  const selectors = selectorNodes.map((node): SelectorUse => {
    const matchers: LabelMatcher[] = [];
    for (const m of node.getChildren('LabelMatchers').flatMap((ms) => [...ms.getChildren('UnquotedLabelMatcher'), ...ms.getChildren('QuotedLabelMatcher')])) {
      const name = m.getChild('LabelName') ?? m.getChild('QuotedLabelName');
      const op = m.getChild('MatchOp');
      const value = m.lastChild?.name === 'StringLiteral' && m.lastChild !== name ? m.lastChild : null;
      if (name && op && value) matchers.push({ label: unquote(at(name)), op: at(op), value: unquote(at(value)) });
      else if (name && !op) matchers.push({ label: '__name__', op: '=', value: unquote(at(name)) });
    }
    const identifier = node.getChild('Identifier');
    const enclosing: string[] = [];
    for (let p = node.parent; p; p = p.parent) {
      if (p.name === 'FunctionCall') enclosing.push(at(p.getChild('FunctionIdentifier')!));
      if (p.name === 'AggregateExpr') enclosing.push(at(p.getChild('AggregateOp')!));
    }
    const metric = identifier ? at(identifier) : matchers.find((m) => m.label === '__name__' && m.op === '=')?.value;
    return { metric, matchers: matchers.filter((m) => m.label !== '__name__'), enclosing, offset: node.from };
  });
  const groupings = groupingNodes.map((node): GroupingUse => {
    // by/without apply to the aggregated expression; on/ignoring to both sides of the binary operation.
    const scope = node.parent?.name === 'AggregateModifier' ? node.parent.parent : node.parent?.parent;
    const inScope = scope ? selectors.filter((s) => s.offset >= scope.from && s.offset < scope.to) : selectors;
    return { labels: node.getChildren('LabelName').map(at), selectors: inScope };
  });
  return { selectors, groupings, args };
}

/** Functions whose result always has a sample: `vector(s)` one series, `scalar(v)` a number (NaN when v is not one series), `time()`. */
const NEVER_EMPTY_FUNCTIONS = ['vector', 'scalar', 'time'];

/** Functions whose result is a scalar, not a vector. */
const SCALAR_FUNCTIONS = ['scalar', 'time', 'pi'];

/** Functions that map each sample of their vector argument to one sample: empty exactly when it is. */
const ELEMENTWISE_FUNCTIONS = ['abs', 'ceil', 'floor', 'round', 'sqrt', 'exp', 'ln', 'log2', 'log10', 'sgn', 'clamp', 'clamp_min', 'clamp_max', 'timestamp', 'label_replace', 'label_join'];

/** Binary operators that match series one to one (arithmetic, and comparisons with `bool`); `and`, `unless` and filtering comparisons can drop every sample. */
const ARITHMETIC = ['Add', 'Sub', 'Mul', 'Div', 'Mod', 'Pow', 'Atan2'];
const COMPARISONS = ['Eql', 'Neq', 'Lss', 'Lte', 'Gtr', 'Gte', 'EqlSingle', 'EqlRegex', 'NeqRegex'];

/** A node's children that are expressions, comments left out (a `# comment` line is a LineComment node anywhere). */
function exprChildren(node: SyntaxNode): SyntaxNode[] {
  const out: SyntaxNode[] = [];
  for (let c = node.firstChild; c; c = c.nextSibling) if (c.name !== 'LineComment') out.push(c);
  return out;
}

/**
 * Whether a query always returns a sample, so `result[0]` never fails on an empty result:
 * a number, `vector(...)`, `scalar(...)`, `... or X` where either side cannot be empty, an
 * aggregation or element-wise function of such an expression, and arithmetic between such
 * expressions whose series match one to one: a scalar and a vector, or two label-free vectors
 * (`(sum(rate(a[5m])) or vector(0)) / (sum(rate(b[5m])) or vector(1))`). Comments are ignored.
 */
export function cannotBeEmpty(query: string): boolean {
  let known = NEVER_EMPTY.get(query);
  if (known === undefined) {
    if (NEVER_EMPTY.size >= 10_000) NEVER_EMPTY.clear();
    NEVER_EMPTY.set(query, known = neverEmpty(query));
  }
  return known;
}

/** cannotBeEmpty's answers by query: the rules ask it of each gate several times. */
const NEVER_EMPTY = new Map<string, boolean>();

function neverEmpty(query: string): boolean {
  const text = substitutePlaceholders(query);
  const nameOf = (node: SyntaxNode) => text.slice(node.from, node.to);
  const fnName = (node: SyntaxNode) => { const id = node.getChild('FunctionIdentifier'); return id ? nameOf(id) : ''; };
  const fnArgs = (node: SyntaxNode) => { const body = node.getChild('FunctionCallBody'); return body ? exprChildren(body) : []; };
  /** a binary expression's operands and operator (modifiers such as `bool` or `on()` sit between them) */
  const binary = (node: SyntaxNode) => { const c = exprChildren(node); return { left: c[0], op: c[1]?.name ?? '', right: c.length > 2 ? c[c.length - 1] : undefined }; };
  const isScalar = (node: SyntaxNode | undefined): boolean => {
    if (!node) return false;
    switch (node.name) {
      case 'ParenExpr': return isScalar(exprChildren(node)[0]);
      case 'NumberDurationLiteral': case 'NumberLiteral': return true;
      case 'FunctionCall': return SCALAR_FUNCTIONS.includes(fnName(node));
      case 'UnaryExpr': return isScalar(exprChildren(node).at(-1));
      case 'BinaryExpr': { const { left, right } = binary(node); return isScalar(left) && isScalar(right); }
      default: return false;
    }
  };
  /** a vector whose every sample has no label (so two of them match one to one) */
  const labelFree = (node: SyntaxNode | undefined): boolean => {
    if (!node) return false;
    if (isScalar(node)) return true;
    switch (node.name) {
      case 'ParenExpr': return labelFree(exprChildren(node)[0]);
      case 'FunctionCall': return fnName(node) === 'vector' || (ELEMENTWISE_FUNCTIONS.includes(fnName(node)) && !fnName(node).startsWith('label_') && labelFree(fnArgs(node)[0]));
      case 'AggregateExpr': {
        const modifier = node.getChild('AggregateModifier');
        return !modifier || (modifier.getChild('By') !== null && (modifier.getChild('GroupingLabels')?.getChildren('LabelName').length ?? 0) === 0);
      }
      case 'BinaryExpr': { const { left, right } = binary(node); return labelFree(left) && labelFree(right); }
      default: return false;
    }
  };
  const never = (node: SyntaxNode | undefined): boolean => {
    if (!node) return false;
    switch (node.name) {
      case 'ParenExpr': return never(exprChildren(node)[0]);
      case 'NumberDurationLiteral': case 'NumberLiteral': return true;
      case 'UnaryExpr': return never(exprChildren(node).at(-1));
      case 'FunctionCall': {
        const name = fnName(node);
        if (NEVER_EMPTY_FUNCTIONS.includes(name) || SCALAR_FUNCTIONS.includes(name)) return true;
        return ELEMENTWISE_FUNCTIONS.includes(name) && never(fnArgs(node).find((a) => !isScalar(a) && a.name !== 'StringLiteral'));
      }
      // sum(x), max(x), ... of a vector that has a sample have one (a group each)
      case 'AggregateExpr': {
        const body = node.getChild('FunctionCallBody');
        return never((body ? exprChildren(body) : []).find((a) => !isScalar(a) && a.name !== 'StringLiteral'));
      }
      case 'BinaryExpr': {
        const { left, op, right } = binary(node);
        if (op === 'Or') return never(left) || never(right);
        const arithmetic = ARITHMETIC.includes(op) || (COMPARISONS.includes(op) && node.getChild('BoolModifier') !== null);
        if (!arithmetic || !never(left) || !never(right)) return false;
        if (isScalar(left) || isScalar(right)) return true;
        return labelFree(left) && labelFree(right);
      }
      default: return false;
    }
  };
  const tree = parser().parse(text);
  let broken = false;
  tree.iterate({ enter(ref: { type: { isError: boolean } }) { if (ref.type.isError) broken = true; } });
  const top = exprChildren(tree.topNode);
  return !broken && top.length === 1 && never(top[0]);
}
