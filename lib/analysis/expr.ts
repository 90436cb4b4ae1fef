/**
 * The part of expr-lang that Argo Rollouts' analysis conditions use, as expr v1.15.5 runs it
 * (Argo Rollouts v1.8.3 requires module github.com/antonmedv/expr v1.15.5: go.mod @ v1.8.3).
 * A condition goes through the same four steps as in expr (expr.go Compile and Run @ v1.15.5):
 *
 * 1. lex and parse (parser/lexer/state.go, parser/parser.go, parser/operator/operator.go);
 * 2. type-check every node against the Go types of the environment (checker/checker.go,
 *    checker/types.go): a type error anywhere fails the whole condition, even in a branch
 *    that `||` or `&&` would skip, and only the first one found is reported;
 * 3. fold constants (optimizer/fold.go): `x || true` becomes `true`, so `x` never runs;
 * 4. run (compiler/compiler.go, vm/vm.go, vm/runtime/runtime.go, vm/runtime/generated.go,
 *    builtin/builtin.go, builtin/func.go): a panic becomes the error, its text kept as it is.
 *
 * What this module does not model it says: {@link ExprUnsupportedError}, never a guessed result.
 * Not modelled: `let`, `??`, `|` pipes, ranges `..`, `matches`/`contains`/`startsWith`/`endsWith`,
 * map literals, slices `a[i:j]`, `?.`, calling a method (its type errors are found), `$env`, escape sequences in strings, and the
 * builtins outside `len abs max min sum mean median first last all any none one filter map count`.
 */

/** A node of a parsed expression (expr's ast nodes, as far as conditions use them). */
export type ExprNode =
  | { readonly type: 'number'; readonly value: number; readonly integer: boolean }
  | { readonly type: 'string'; readonly value: string }
  | { readonly type: 'bool'; readonly value: boolean }
  | { readonly type: 'nil' }
  | { readonly type: 'ident'; readonly name: string }
  /** `#` (name '') or `#index` inside a predicate's closure */
  | { readonly type: 'pointer'; readonly name: string }
  /** `a[i]`, or `a.name` (the index is then a string node) */
  | { readonly type: 'index'; readonly target: ExprNode; readonly index: ExprNode }
  /** `a.name(...)`: type-checked as far as its member, not run */
  | { readonly type: 'method'; readonly target: ExprNode; readonly name: string }
  /** a call of a builtin (`builtin`) or of a function of the environment */
  | { readonly type: 'call'; readonly name: string; readonly builtin: boolean; readonly args: readonly ExprNode[] }
  /** a predicate's second argument, `# > 1` or `{# > 1}` */
  | { readonly type: 'closure'; readonly body: ExprNode }
  /** `text` is the operator as written (`not` or `!`) */
  | { readonly type: 'unary'; readonly op: '!' | '-' | '+'; readonly text: string; readonly operand: ExprNode }
  /** `text` is the operator as written (`or`, `^`, ...); `op` its meaning */
  | { readonly type: 'binary'; readonly op: BinaryOp; readonly text: string; readonly left: ExprNode; readonly right: ExprNode }
  | { readonly type: 'conditional'; readonly cond: ExprNode; readonly then: ExprNode; readonly else: ExprNode }
  | { readonly type: 'array'; readonly items: readonly ExprNode[] };

/** The binary operators modelled. */
export type BinaryOp = '||' | '&&' | '==' | '!=' | '<' | '<=' | '>' | '>=' | '+' | '-' | '*' | '/' | '%' | '**' | 'in';

/** An expression expr v1.15.5 refuses to parse: `message` is expr's own text (what Argo records). */
export class ExprSyntaxError extends Error {
  constructor(public readonly column: number, message: string) {
    super(message);
    this.name = 'ExprSyntaxError';
  }
}

/** Valid expr, or a value, that this model does not evaluate: the tools say so instead of guessing. */
export class ExprUnsupportedError extends Error {
  constructor(public readonly column: number, public readonly what: string) {
    super(`cannot model ${what}`);
    this.name = 'ExprUnsupportedError';
  }
}

/** An error expr reports for a valid expression: a type error (compile) or a panic (run); the text is expr's. */
export class ExprError extends Error {
  constructor(public readonly stage: 'compile' | 'run', message: string) {
    super(message);
    this.name = 'ExprError';
  }
}

// ---------------------------------------------------------------------------------------------
// 1. Lexer (parser/lexer/state.go root, number, dot, identifier, not, pointer @ v1.15.5)

type TokenKind = 'Identifier' | 'Number' | 'String' | 'Operator' | 'Bracket' | 'EOF';
interface Token { readonly kind: TokenKind; readonly value: string; readonly pos: number }

/** A token as expr prints it in "unexpected token ..." (lexer/token.go String). */
function tokenText(t: Token): string {
  return t.value === '' ? t.kind : `${t.kind}(${goQuote(t.value)})`;
}

/** Go's %q of a plain string, for the messages that quote one. */
export function goQuote(s: string): string {
  return `"${s.replace(/[\\"]/g, (c) => `\\${c}`).replace(/\n/g, '\\n').replace(/\t/g, '\\t')}"`;
}

const isAlphaNumeric = (c: string) => /^[\p{L}\p{Nd}_$]$/u.test(c);
const KEYWORD_OPERATORS = ['in', 'or', 'and', 'matches', 'contains', 'startsWith', 'endsWith', 'let'];
const AFTER_NOT = ['in', 'matches', 'contains', 'startsWith', 'endsWith'];

function lex(src: string): Token[] {
  const tokens: Token[] = [];
  const chars = [...src];
  // positions in code points, as columns are counted
  let i = 0;
  const peek = (k = 0) => chars[i + k] ?? '';
  const emit = (kind: TokenKind, start: number) => tokens.push({ kind, value: chars.slice(start, i).join(''), pos: start });
  const fail = (at: number, message: string): never => { throw new ExprSyntaxError(at + 1, message); };
  const run = (set: string) => { while (peek() !== '' && set.includes(peek())) i++; };

  while (i < chars.length) {
    const start = i;
    const c = chars[i++];
    if (/\s/.test(c)) continue;
    if (c === '\'' || c === '"') {
      for (;;) {
        const d = chars[i++];
        if (d === undefined || d === '\n') fail(i - 1, 'literal not terminated');
        if (d === c) break;
        if (d === '\\') throw new ExprUnsupportedError(start + 1, 'escape sequences in strings');
      }
      tokens.push({ kind: 'String', value: chars.slice(start + 1, i - 1).join(''), pos: start });
    } else if (c >= '0' && c <= '9') {
      i = start;
      scanNumber();
      emit('Number', start);
    } else if (c === '?') {
      if (peek() === '.' || peek() === '?') i++;
      emit('Operator', start);
    } else if (c === '/') {
      if (peek() === '/') {
        while (i < chars.length && chars[i] !== '\n') i++;
      } else if (peek() === '*') {
        i++;
        for (;;) {
          if (i >= chars.length) fail(i, 'unclosed comment');
          if (chars[i++] === '*' && peek() === '/') { i++; break; }
        }
      } else emit('Operator', start);
    } else if (c === '#') {
      emit('Operator', start);
      const word = i;
      while (isAlphaNumeric(peek())) i++;
      if (i > word) emit('Identifier', word);
    } else if (c === '|') {
      if (peek() === '|') i++;
      emit('Operator', start);
    } else if ('([{)]}'.includes(c)) {
      emit('Bracket', start);
    } else if (',:;%+-^'.includes(c)) {
      emit('Operator', start);
    } else if ('&!=*<>'.includes(c)) {
      if ('&=*'.includes(peek())) i++;
      emit('Operator', start);
    } else if (c === '.') {
      if (peek() >= '0' && peek() <= '9') {
        i = start;
        scanNumber();
        emit('Number', start);
      } else {
        if (peek() === '.') i++;
        emit('Operator', start);
      }
    } else if (isAlphaNumeric(c)) {
      while (isAlphaNumeric(peek())) i++;
      const word = chars.slice(start, i).join('');
      if (word === 'not') {
        emit('Operator', start);
        // `not in` and friends are one operator
        let j = i;
        while (/\s/.test(chars[j] ?? '')) j++;
        let k = j;
        while (isAlphaNumeric(chars[k] ?? '')) k++;
        if (AFTER_NOT.includes(chars.slice(j, k).join(''))) {
          i = k;
          tokens.push({ kind: 'Operator', value: chars.slice(j, k).join(''), pos: j });
        }
      } else emit(KEYWORD_OPERATORS.includes(word) ? 'Operator' : 'Identifier', start);
    } else {
      const code = c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
      fail(start, `unrecognized character: U+${code} '${c}'`);
    }
  }
  tokens.push({ kind: 'EOF', value: '', pos: chars.length });
  return tokens;

  function scanNumber(): void {
    const start = i;
    let digits = '0123456789_';
    if (peek() === '0') {
      i++;
      if ('xX'.includes(peek())) { i++; digits = '0123456789abcdefABCDEF_'; }
      else if ('oO'.includes(peek())) { i++; digits = '01234567_'; }
      else if ('bB'.includes(peek())) { i++; digits = '01_'; }
    }
    run(digits);
    if (peek() === '.' && chars[i + 1] !== '.') {
      i++;
      run(digits);
    }
    if ('eE'.includes(peek()) && peek() !== '') {
      i++;
      if ('+-'.includes(peek()) && peek() !== '') i++;
      run(digits);
    }
    if (isAlphaNumeric(peek())) {
      i++;
      fail(i, `bad number syntax: ${goQuote(chars.slice(start, i).join(''))}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// 2. Parser (parser/parser.go, parser/operator/operator.go @ v1.15.5)

const BINARY: Record<string, { prec: number; right?: boolean; op?: BinaryOp }> = {
  '|': { prec: 0 }, or: { prec: 10, op: '||' }, '||': { prec: 10, op: '||' }, and: { prec: 15, op: '&&' }, '&&': { prec: 15, op: '&&' },
  '==': { prec: 20, op: '==' }, '!=': { prec: 20, op: '!=' }, '<': { prec: 20, op: '<' }, '>': { prec: 20, op: '>' }, '>=': { prec: 20, op: '>=' },
  '<=': { prec: 20, op: '<=' }, in: { prec: 20, op: 'in' }, matches: { prec: 20 }, contains: { prec: 20 }, startsWith: { prec: 20 }, endsWith: { prec: 20 },
  '..': { prec: 25 }, '+': { prec: 30, op: '+' }, '-': { prec: 30, op: '-' }, '*': { prec: 60, op: '*' }, '/': { prec: 60, op: '/' }, '%': { prec: 60, op: '%' },
  '**': { prec: 100, right: true, op: '**' }, '^': { prec: 100, right: true, op: '**' }, '??': { prec: 500 },
};
const UNARY: Record<string, number> = { not: 50, '!': 50, '-': 90, '+': 90 };

/** The predicates expr parses with a closure as second argument (parser.go predicates), and those modelled. */
const PREDICATES = ['all', 'none', 'any', 'one', 'filter', 'map', 'count', 'find', 'findIndex', 'findLast', 'findLastIndex', 'groupBy', 'reduce'];
const MODELLED_PREDICATES = ['all', 'none', 'any', 'one', 'filter', 'map', 'count'];
/** expr's other builtins (builtin/builtin.go Builtins @ v1.15.5), and those modelled. */
const BUILTINS = ['len', 'type', 'abs', 'ceil', 'floor', 'round', 'int', 'float', 'string', 'trim', 'trimPrefix', 'trimSuffix', 'upper', 'lower',
  'split', 'splitAfter', 'replace', 'repeat', 'join', 'indexOf', 'lastIndexOf', 'hasPrefix', 'hasSuffix', 'max', 'min', 'sum', 'mean', 'median',
  'toJSON', 'fromJSON', 'toBase64', 'fromBase64', 'now', 'duration', 'date', 'first', 'last', 'get', 'take', 'keys', 'values', 'toPairs', 'fromPairs',
  'sort', 'sortBy'];
const MODELLED_BUILTINS = ['len', 'abs', 'max', 'min', 'sum', 'mean', 'median', 'first', 'last'];

/** Parses an expression as expr v1.15.5 does; throws {@link ExprSyntaxError} or {@link ExprUnsupportedError}. */
export function parseExpr(src: string): ExprNode {
  const tokens = lex(src);
  let p = 0;
  let depth = 0;
  const cur = () => tokens[p];
  const is = (kind: TokenKind, ...values: string[]) => cur().kind === kind && (values.length === 0 || values.includes(cur().value));
  const fail = (message: string, at = cur()): never => { throw new ExprSyntaxError(at.pos + 1, message); };
  const unsupported = (what: string, at = cur()): never => { throw new ExprUnsupportedError(at.pos + 1, what); };
  const next = () => {
    if (p + 1 >= tokens.length) fail('unexpected end of expression');
    p++;
  };
  const expect = (kind: TokenKind, value: string) => {
    if (!is(kind, value)) fail(`unexpected token ${tokenText(cur())}`);
    next();
  };

  const expression = (precedence: number): ExprNode => {
    if (precedence === 0 && is('Operator', 'let')) unsupported("'let'");
    let left = primary();
    for (let opToken = cur(); opToken.kind === 'Operator';) {
      let negate = false;
      if (opToken.value === 'not') {
        next();
        negate = true;
        opToken = cur();
      }
      const info = opToken.kind === 'Operator' ? BINARY[opToken.value] : undefined;
      if (!info || info.prec < precedence) break;
      next();
      if (!info.op) unsupported(`the operator '${opToken.value}'`, opToken);
      const right = expression(info.right ? info.prec : info.prec + 1);
      left = { type: 'binary', op: info.op!, text: opToken.value, left, right };
      if (negate) left = { type: 'unary', op: '!', text: 'not', operand: left };
      opToken = cur();
    }
    if (precedence === 0) {
      while (is('Operator', '?')) {
        next();
        let then: ExprNode;
        if (!is('Operator', ':')) {
          then = expression(0);
          expect('Operator', ':');
        } else {
          next();
          then = left;
        }
        left = { type: 'conditional', cond: left, then, else: expression(0) };
      }
    }
    return left;
  };

  const primary = (): ExprNode => {
    const t = cur();
    if (t.kind === 'Operator' && UNARY[t.value] !== undefined) {
      next();
      const operand = expression(UNARY[t.value]);
      return postfix({ type: 'unary', op: t.value === 'not' ? '!' : (t.value as '!' | '-' | '+'), text: t.value, operand });
    }
    if (is('Bracket', '(')) {
      next();
      const e = expression(0);
      expect('Bracket', ')');
      return postfix(e);
    }
    if (is('Operator', '#') || is('Operator', '.')) {
      if (depth === 0) fail('cannot use pointer accessor outside closure');
      let name = '';
      if (is('Operator', '#')) {
        next();
        if (is('Identifier')) {
          name = cur().value;
          next();
        }
      }
      return postfix({ type: 'pointer', name });
    }
    return secondary();
  };

  const secondary = (): ExprNode => {
    const t = cur();
    let node: ExprNode;
    if (t.kind === 'Identifier') {
      next();
      if (t.value === 'true' || t.value === 'false') return { type: 'bool', value: t.value === 'true' };
      if (t.value === 'nil') return { type: 'nil' };
      node = call(t);
    } else if (t.kind === 'Number') {
      next();
      return numberLiteral(t);
    } else if (t.kind === 'String') {
      next();
      return { type: 'string', value: t.value };
    } else if (is('Bracket', '[')) {
      node = array();
    } else if (is('Bracket', '{')) {
      return unsupported('map literals');
    } else {
      return fail(`unexpected token ${tokenText(t)}`);
    }
    return postfix(node);
  };

  const numberLiteral = (t: Token): ExprNode => {
    const text = t.value.replace(/_/g, '');
    if (text.includes('x') || text.includes('X')) {
      const v = Number.parseInt(text.slice(2), 16);
      if (!/^0[xX][0-9a-fA-F]+$/.test(text) || !Number.isSafeInteger(v)) unsupported(`the number literal '${t.value}'`, t);
      return { type: 'number', value: v, integer: true };
    }
    if (/[.eE]/.test(text)) {
      const v = Number(text);
      if (!/^(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) fail(`invalid float literal: strconv.ParseFloat: parsing ${goQuote(text)}: invalid syntax`, t);
      if (!Number.isFinite(v)) fail(`invalid float literal: strconv.ParseFloat: parsing ${goQuote(text)}: value out of range`, t);
      return { type: 'number', value: v, integer: false };
    }
    if (!/^\d+$/.test(text)) fail(`invalid integer literal: strconv.ParseInt: parsing ${goQuote(text)}: invalid syntax`, t);
    if (BigInt(text) > MAX_INT64) fail(`invalid integer literal: strconv.ParseInt: parsing ${goQuote(text)}: value out of range`, t);
    const v = Number(text);
    if (!Number.isSafeInteger(v)) unsupported(`the integer literal ${text}, beyond 2^53`, t);
    return { type: 'number', value: v, integer: true };
  };

  const call = (t: Token): ExprNode => {
    if (!is('Bracket', '(')) return { type: 'ident', name: t.value };
    if (PREDICATES.includes(t.value)) {
      if (!MODELLED_PREDICATES.includes(t.value)) unsupported(`the builtin '${t.value}'`, t);
      expect('Bracket', '(');
      const collection = expression(0);
      expect('Operator', ',');
      const closure = closureArg();
      expect('Bracket', ')');
      return { type: 'call', name: t.value, builtin: true, args: [collection, closure] };
    }
    const builtin = BUILTINS.includes(t.value);
    if (builtin && !MODELLED_BUILTINS.includes(t.value)) unsupported(`the builtin '${t.value}'`, t);
    return { type: 'call', name: t.value, builtin, args: argumentList() };
  };

  const closureArg = (): ExprNode => {
    const braces = is('Bracket', '{');
    if (braces) next();
    depth++;
    const body = expression(0);
    depth--;
    if (braces) expect('Bracket', '}');
    return { type: 'closure', body };
  };

  const array = (): ExprNode => {
    const items: ExprNode[] = [];
    expect('Bracket', '[');
    while (!is('Bracket', ']')) {
      if (items.length > 0) {
        expect('Operator', ',');
        if (is('Bracket', ']')) break;
      }
      items.push(expression(0));
    }
    expect('Bracket', ']');
    return { type: 'array', items };
  };

  const argumentList = (): ExprNode[] => {
    expect('Bracket', '(');
    const args: ExprNode[] = [];
    while (!is('Bracket', ')')) {
      if (args.length > 0) expect('Operator', ',');
      args.push(expression(0));
    }
    expect('Bracket', ')');
    return args;
  };

  const postfix = (start: ExprNode): ExprNode => {
    let node = start;
    while (is('Operator') || is('Bracket')) {
      const t = cur();
      if (t.value === '?.') unsupported("optional chaining '?.'", t);
      if (t.value === '.') {
        next();
        const property = cur();
        next();
        if (property.kind !== 'Identifier' && !(property.kind === 'Operator' && /^[\p{L}_$][\p{L}\p{Nd}_$]*$/u.test(property.value))) fail('expected name');
        if (node.type === 'ident' && node.name === '$env') unsupported("'$env'", property);
        if (is('Bracket', '(')) {
          argumentList();
          node = { type: 'method', target: node, name: property.value };
        } else node = { type: 'index', target: node, index: { type: 'string', value: property.value } };
      } else if (t.value === '[') {
        next();
        if (is('Operator', ':')) unsupported('slices a[i:j]');
        const index = expression(0);
        if (is('Operator', ':')) unsupported('slices a[i:j]');
        expect('Bracket', ']');
        node = { type: 'index', target: node, index };
      } else break;
    }
    return node;
  };

  const tree = expression(0);
  if (!is('EOF')) fail(`unexpected token ${tokenText(cur())}`);
  return tree;
}

// ---------------------------------------------------------------------------------------------
// Go types and values

const MAX_INT64 = 2n ** 63n - 1n;

/** A Go type, as expr's checker sees it (reflect.Type); 'nil' is the type of an untyped nil. */
export type GoType =
  | { readonly k: 'int' | 'int64' | 'float64' | 'bool' | 'string' | 'nil' | 'any' }
  | { readonly k: 'slice'; readonly elem: GoType }
  | { readonly k: 'func'; readonly ins: readonly GoType[]; readonly out: GoType };

const T = {
  int: { k: 'int' } as GoType,
  int64: { k: 'int64' } as GoType,
  float: { k: 'float64' } as GoType,
  bool: { k: 'bool' } as GoType,
  string: { k: 'string' } as GoType,
  nil: { k: 'nil' } as GoType,
  any: { k: 'any' } as GoType,
};
const sliceOf = (elem: GoType): GoType => ({ k: 'slice', elem });
const FLOAT_SLICE = sliceOf(T.float);
const ANY_SLICE = sliceOf(T.any);

/** A type as Go prints it with %v (`verb` 's': with %s, where a nil type prints `%!s(<nil>)`). */
function typeName(t: GoType, verb: 'v' | 's' = 'v'): string {
  switch (t.k) {
    case 'nil': return verb === 'v' ? '<nil>' : '%!s(<nil>)';
    case 'any': return 'interface {}';
    case 'slice': return `[]${typeName(t.elem)}`;
    case 'func': return `func(${t.ins.map((x) => typeName(x)).join(', ')}) ${typeName(t.out)}`;
    default: return t.k;
  }
}

const isInteger = (t: GoType) => t.k === 'int' || t.k === 'int64';
const isFloat = (t: GoType) => t.k === 'float64';
const isNumber = (t: GoType) => isInteger(t) || isFloat(t);
const isAny = (t: GoType) => t.k === 'any';
const isBool = (t: GoType) => t.k === 'bool';
const isString = (t: GoType) => t.k === 'string';
const isArray = (t: GoType) => t.k === 'slice';
/** reflect.Kind equality (a nil type has no kind). */
const sameKind = (a: GoType, b: GoType) => a.k !== 'nil' && b.k !== 'nil' && a.k === b.k;
/** checker/types.go isComparable */
const comparable = (l: GoType, r: GoType) => l.k === 'nil' || r.k === 'nil' || sameKind(l, r) || (isNumber(l) && isNumber(r)) || isAny(l) || isAny(r);
/** checker/types.go or(): one side is interface{} and the other passes one of the tests */
const either = (l: GoType, r: GoType, ...tests: ((t: GoType) => boolean)[]) =>
  (isAny(l) && isAny(r)) || (isAny(l) && tests.some((f) => f(r))) || (isAny(r) && tests.some((f) => f(l)));
/** checker/types.go combined() */
const combined = (a: GoType, b: GoType): GoType => (sameKind(a, b) ? a : isFloat(a) || isFloat(b) ? T.float : T.int);

/** A Go int64 at run time (what Argo's asInt returns); a plain bigint is a Go int. */
export class GoInt64 {
  constructor(public readonly v: bigint) {}
}

/** A Go slice at run time, with its Go type (`[]float64` for a vector, `[]interface {}` for what expr builds). */
export class GoSlice {
  constructor(public readonly goType: string, public readonly items: readonly Value[]) {}
}

/** A value at run time: float64 (number), int (bigint), int64, bool, string, nil (null), a slice. */
export type Value = number | bigint | GoInt64 | boolean | string | null | GoSlice;

/** %T of a value (nil is `<nil>`). */
function typeOf(v: Value): string {
  if (v === null) return '<nil>';
  if (typeof v === 'number') return 'float64';
  if (typeof v === 'bigint') return 'int';
  if (v instanceof GoInt64) return 'int64';
  if (v instanceof GoSlice) return v.goType;
  return typeof v === 'boolean' ? 'bool' : 'string';
}

/** A float64 as Go prints it with %v (strconv 'g', shortest). */
export function goFloat(f: number): string {
  if (Number.isNaN(f)) return 'NaN';
  if (!Number.isFinite(f)) return f > 0 ? '+Inf' : '-Inf';
  if (f === 0) return Object.is(f, -0) ? '-0' : '0';
  const [mantissa, exponent] = f.toExponential().split('e');
  const exp = Number(exponent);
  // 'g' with the shortest digits uses an exponent below 1e-4 and from 1e6 on
  if (exp < -4 || exp >= 6) return `${mantissa}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  return String(f);
}

/** %v of a value. */
function valueText(v: Value): string {
  if (v === null) return '<nil>';
  if (typeof v === 'number') return goFloat(v);
  if (v instanceof GoInt64) return String(v.v);
  if (v instanceof GoSlice) return `[${v.items.map(valueText).join(' ')}]`;
  return String(v);
}

const isInt = (v: Value): v is bigint | GoInt64 => typeof v === 'bigint' || v instanceof GoInt64;
const intOf = (v: bigint | GoInt64) => (typeof v === 'bigint' ? v : v.v);
const isNumeric = (v: Value): v is number | bigint | GoInt64 => typeof v === 'number' || isInt(v);
const floatOf = (v: number | bigint | GoInt64) => (typeof v === 'number' ? v : Number(intOf(v)));
const wrap = (n: bigint) => BigInt.asIntN(64, n);

// ---------------------------------------------------------------------------------------------
// The environment Argo Rollouts builds (utils/evaluate/evaluate.go EvalCondition @ v1.8.3)

/** The functions Argo Rollouts v1.8.3 puts into a condition's environment, with their Go types. */
export const ENV_FUNCTIONS: Readonly<Record<string, GoType & { k: 'func' }>> = {
  asInt: { k: 'func', ins: [T.any], out: T.int64 },
  asFloat: { k: 'func', ins: [T.any], out: T.float },
  isNaN: { k: 'func', ins: [T.float], out: T.bool },
  isInf: { k: 'func', ins: [T.float], out: T.bool },
  isNil: { k: 'func', ins: [T.any], out: T.bool },
  default: { k: 'func', ins: [T.any, T.any], out: T.any },
};

/** The measurement a condition reads as `result`: a vector's sample values, a scalar, nil, or (for tests) a bool, a string or an int. */
export type ExprResult = readonly number[] | number | null | boolean | string | bigint;

function resultValue(r: ExprResult): Value {
  return Array.isArray(r) ? new GoSlice('[]float64', [...r]) : (r as Value);
}

function resultType(r: ExprResult): GoType {
  if (r === null) return T.nil;
  if (Array.isArray(r)) return FLOAT_SLICE;
  return typeof r === 'number' ? T.float : typeof r === 'bigint' ? T.int : typeof r === 'boolean' ? T.bool : T.string;
}

// ---------------------------------------------------------------------------------------------
// 3. Type check (checker/checker.go @ v1.15.5), building a typed copy of the tree

/** a typed node, with the element type expr keeps for array literals (checker info.elem) */
interface Visit { readonly node: TNode; readonly t: GoType; readonly elem?: GoType }
/** A typed node: the tree the checker leaves for the optimizer and the VM. */
type TNode = ExprNode & {
  /** the type the checker gave the node */
  readonly t: GoType;
  /** an `in` over a literal list expr turns into a map lookup (optimizer/in_array.go), with keys of this type */
  readonly keyedBy?: 'int' | 'string';
};

class Checker {
  error?: string;
  private readonly scopes: GoType[][] = [];

  constructor(private readonly result: GoType) {}

  private fail(message: string): GoType {
    if (this.error === undefined) this.error = message;
    return T.any;
  }

  private typed(n: ExprNode, t: GoType, elem?: GoType): Visit {
    return { node: { ...n, t } as TNode, t, elem };
  }

  /** checker.visit: the node's type, and the typed copy of the node */
  visit(n: ExprNode): Visit {
    switch (n.type) {
      case 'nil': return this.typed(n, T.nil);
      case 'number': return this.typed(n, n.integer ? T.int : T.float);
      case 'bool': return this.typed(n, T.bool);
      case 'string': return this.typed(n, T.string);
      case 'ident':
        if (n.name === 'result') return this.typed(n, this.result);
        if (ENV_FUNCTIONS[n.name] || BUILTINS.includes(n.name) || PREDICATES.includes(n.name) || n.name === '$env') {
          throw new ExprUnsupportedError(0, `'${n.name}' used as a value`);
        }
        return this.typed(n, this.fail(`unknown name ${n.name}`));
      case 'pointer': {
        const scope = this.scopes[this.scopes.length - 1];
        if (n.name === '') return this.typed(n, scope[0].k === 'slice' ? scope[0].elem : T.any);
        if (n.name === 'index' && scope[1]) return this.typed(n, scope[1]);
        return this.typed(n, this.fail(`unknown pointer #${n.name}`));
      }
      case 'unary': {
        const operand = this.visit(n.operand);
        const t = operand.t;
        let out: GoType;
        if (n.op === '!') out = isBool(t) || isAny(t) ? T.bool : this.fail(`invalid operation: ${n.text} (mismatched type ${typeName(t)})`);
        else out = isNumber(t) ? t : isAny(t) ? T.any : this.fail(`invalid operation: ${n.text} (mismatched type ${typeName(t)})`);
        return this.typed({ ...n, operand: operand.node }, out);
      }
      case 'binary': return this.binary(n);
      case 'index': return this.member(n);
      case 'method': {
        // the callee is checked first (checker functionReturnType): a type error in it is the error
        const member = this.member({ type: 'index', target: n.target, index: { type: 'string', value: n.name } });
        if (this.error === undefined) throw new ExprUnsupportedError(0, `calling the method '${n.name}'`);
        return member;
      }
      case 'call': return n.builtin ? this.builtin(n) : this.envCall(n);
      case 'closure': {
        const body = this.visit(n.body);
        if (body.t.k === 'nil') return this.typed({ ...n, body: body.node }, this.fail('closure cannot be nil'));
        return this.typed({ ...n, body: body.node }, { k: 'func', ins: [T.any], out: body.t });
      }
      case 'conditional': {
        const cond = this.visit(n.cond);
        if (!isBool(cond.t) && !isAny(cond.t)) this.fail(`non-bool expression (type ${typeName(cond.t)}) used as condition`);
        const a = this.visit(n.then);
        const b = this.visit(n.else);
        const node = { ...n, cond: cond.node, then: a.node, else: b.node };
        if (a.t.k === 'nil') return this.typed(node, b.t);
        if (b.t.k === 'nil') return this.typed(node, a.t);
        return this.typed(node, assignable(a.t, b.t) ? a.t : T.any);
      }
      case 'array': {
        const items = n.items.map((x) => this.visit(x));
        const same = items.every((x, i) => i === 0 || sameKind(x.t, items[i - 1].t));
        const last = items[items.length - 1]?.t;
        return this.typed({ ...n, items: items.map((x) => x.node) }, ANY_SLICE, same && last && last.k !== 'nil' ? last : undefined);
      }
    }
  }

  private binary(n: ExprNode & { type: 'binary' }): Visit {
    const left = this.visit(n.left);
    const right = this.visit(n.right);
    const [l, r] = [left.t, right.t];
    const node = { ...n, left: left.node, right: right.node };
    const ok = (t: GoType) => this.typed(node, t);
    switch (n.op) {
      case '==': case '!=':
        if (comparable(l, r)) return ok(T.bool);
        break;
      case '||': case '&&':
        if ((isBool(l) && isBool(r)) || either(l, r, isBool)) return ok(T.bool);
        break;
      case '<': case '>': case '<=': case '>=':
        if ((isNumber(l) && isNumber(r)) || (isString(l) && isString(r)) || either(l, r, isNumber, isString)) return ok(T.bool);
        break;
      case '-': case '*':
        if (isNumber(l) && isNumber(r)) return ok(combined(l, r));
        if (either(l, r, isNumber)) return ok(T.any);
        break;
      case '/': case '**':
        if ((isNumber(l) && isNumber(r)) || either(l, r, isNumber)) return ok(T.float);
        break;
      case '%':
        if (isInteger(l) && isInteger(r)) return ok(combined(l, r));
        if (either(l, r, isInteger)) return ok(T.any);
        break;
      case '+':
        if (isNumber(l) && isNumber(r)) return ok(combined(l, r));
        if (isString(l) && isString(r)) return ok(T.string);
        if (either(l, r, isNumber, isString)) return ok(T.any);
        break;
      case 'in':
        if (isArray(r)) {
          if (l.k === 'nil') return ok(T.bool);
          if (r.k === 'slice' && !comparable(l, r.elem)) return ok(this.fail(`cannot use ${typeName(l)} as type ${typeName(r.elem)} in array`));
          if (right.elem && !comparable(l, right.elem)) return ok(this.fail(`cannot use ${typeName(l)} as type ${typeName(right.elem)} in array`));
          return ok(T.bool);
        }
        if ((isAny(l) && (isString(r) || isArray(r))) || isAny(r)) return ok(T.bool);
        break;
    }
    return ok(this.fail(`invalid operation: ${n.text} (mismatched types ${typeName(l)} and ${typeName(r)})`));
  }

  private member(n: ExprNode & { type: 'index' }): Visit {
    const base = this.visit(n.target);
    const prop = this.visit(n.index);
    const node = { ...n, target: base.node, index: prop.node };
    if (n.index.type === 'string' && base.t.k === 'nil') return this.typed(node, this.fail(`type <nil> has no field ${n.index.value}`));
    if (isAny(base.t)) return this.typed(node, T.any);
    if (base.t.k === 'slice') {
      if (!isInteger(prop.t) && !isAny(prop.t)) return this.typed(node, this.fail(`array elements can only be selected using an integer (got ${typeName(prop.t)})`));
      return this.typed(node, base.t.elem);
    }
    return this.typed(node, this.fail(`type ${typeName(base.t)}[${typeName(prop.t)}] is undefined`));
  }

  /** A call of a function of the environment (checker functionReturnType, checkArguments). */
  private envCall(n: ExprNode & { type: 'call' }): Visit {
    const fn = ENV_FUNCTIONS[n.name];
    // the callee is looked up first; an unknown one is the error, its arguments are not checked
    if (!fn) return this.typed(n, this.fail(`unknown name ${n.name}`));
    if (n.args.length > fn.ins.length) return this.typed(n, this.fail(`too many arguments to call ${n.name}`));
    if (n.args.length < fn.ins.length) return this.typed(n, this.fail(`not enough arguments to call ${n.name}`));
    const args: TNode[] = [];
    let failed = false;
    n.args.forEach((a, i) => {
      if (failed) return;
      const arg = this.visit(a);
      const param = fn.ins[i];
      if (isFloat(param) && isInteger(arg.t)) {
        args.push(integersToFloats(arg.node));
        return;
      }
      args.push(arg.node);
      if (arg.t.k === 'nil') return;
      if (!assignable(arg.t, param) && !isAny(arg.t)) {
        failed = true;
        this.fail(`cannot use ${typeName(arg.t)} as argument (type ${typeName(param)}) to call ${n.name} `);
      }
    });
    if (failed) return this.typed(n, T.any);
    return this.typed({ ...n, args }, fn.out);
  }

  /** A builtin (checker BuiltinNode; builtin.go Validate functions). */
  private builtin(n: ExprNode & { type: 'call' }): Visit {
    if (MODELLED_PREDICATES.includes(n.name)) {
      const collection = this.visit(n.args[0]);
      const ct = collection.t;
      if (!isArray(ct) && !isAny(ct)) {
        return this.typed({ ...n, args: [collection.node, n.args[1]] }, this.fail(`builtin ${n.name} takes only array (got ${typeName(ct)})`));
      }
      this.scopes.push(n.name === 'map' ? [ct, T.int] : [ct]);
      const closure = this.visit(n.args[1]);
      this.scopes.pop();
      const node = { ...n, args: [collection.node, closure.node] };
      const c = closure.t;
      if (c.k !== 'func') return this.typed(node, this.fail('predicate should has one input and one output param'));
      if (n.name === 'map') return this.typed(node, sliceOf(c.out));
      if (!isBool(c.out) && !isAny(c.out)) return this.typed(node, this.fail(`predicate should return boolean (got ${typeName(c.out)})`));
      if (n.name === 'filter') return this.typed(node, isAny(ct) ? ANY_SLICE : ct);
      return this.typed(node, n.name === 'count' ? T.int : T.bool);
    }
    const args = n.args.map((a) => this.visit(a));
    const node = { ...n, args: args.map((a) => a.node) };
    const ts = args.map((a) => a.t);
    const one = (check: () => GoType): Visit => this.typed(node, ts.length !== 1 ? this.fail(`invalid number of arguments (expected 1, got ${ts.length})`) : check());
    const a0 = ts[0];
    switch (n.name) {
      case 'len':
        return one(() => (isArray(a0) || isString(a0) || isAny(a0) ? T.int : this.fail(`invalid argument for len (type ${typeName(a0, 's')})`)));
      case 'abs':
        return one(() => (isNumber(a0) || isAny(a0) ? a0 : this.fail(`invalid argument for abs (type ${typeName(a0, 's')})`)));
      case 'max': case 'min': {
        if (ts.length === 0) return this.typed(node, this.fail(`not enough arguments to call ${n.name}`));
        for (const t of ts) {
          if (isAny(t)) return this.typed(node, T.any);
          if (!isNumber(t)) return this.typed(node, this.fail(`invalid argument for ${n.name} (type ${typeName(t, 's')})`));
        }
        return this.typed(node, a0);
      }
      case 'sum':
        return one(() => (isArray(a0) || isAny(a0) ? T.any : this.fail(`cannot sum ${typeName(a0, 's')}`)));
      case 'mean':
        return one(() => (isArray(a0) || isAny(a0) ? T.float : this.fail(`cannot avg ${typeName(a0, 's')}`)));
      case 'median':
        return one(() => (isArray(a0) || isAny(a0) ? T.float : this.fail(`cannot median ${typeName(a0, 's')}`)));
      default: // first, last
        return one(() => (isAny(a0) ? T.any : a0.k === 'slice' ? a0.elem : this.fail(`cannot get ${n.name} element from ${typeName(a0, 's')}`)));
    }
  }
}

/** reflect's AssignableTo for these types: the same type, or any type to interface{}. */
function assignable(from: GoType, to: GoType): boolean {
  return isAny(to) || typeName(from) === typeName(to);
}

/** checker.traverseAndReplaceIntegerNodesWithFloatNodes: integer literals passed to a float parameter become floats. */
function integersToFloats(n: TNode): TNode {
  if (n.type === 'number' && n.integer) return { ...n, integer: false, t: T.float };
  if (n.type === 'unary') return { ...n, operand: integersToFloats(n.operand as TNode) };
  if (n.type === 'binary' && (n.op === '+' || n.op === '-' || n.op === '*')) {
    return { ...n, left: integersToFloats(n.left as TNode), right: integersToFloats(n.right as TNode) };
  }
  return n;
}

// ---------------------------------------------------------------------------------------------
// 4. Optimizer: `in` a literal list (optimizer/in_array.go), then constant folding (optimizer/fold.go)

/** Marks `x in [1, 2]` (x typed int, int literals) and `x in ['a', 'b']` (string literals), which expr looks up in a Go map. */
function keyedIn(n: TNode): TNode {
  const sub = (x: ExprNode) => keyedIn(x as TNode);
  switch (n.type) {
    case 'unary': return { ...n, operand: sub(n.operand) };
    case 'index': return { ...n, target: sub(n.target), index: sub(n.index) };
    case 'call': return { ...n, args: n.args.map(sub) };
    case 'closure': return { ...n, body: sub(n.body) };
    case 'conditional': return { ...n, cond: sub(n.cond), then: sub(n.then), else: sub(n.else) };
    case 'array': return { ...n, items: n.items.map(sub) };
    case 'binary': {
      const node = { ...n, left: sub(n.left), right: sub(n.right) };
      const list = n.right;
      if (n.op !== 'in' || list.type !== 'array' || list.items.length === 0) return node;
      if ((n.left as TNode).t.k === 'int' && list.items.every((x) => x.type === 'number' && x.integer)) return { ...node, keyedBy: 'int' };
      if (list.items.every((x) => x.type === 'string')) return { ...node, keyedBy: 'string' };
      return node;
    }
    default: return n;
  }
}

/** runtime.In over such a map: a nil needle looks up the zero key; another type than the keys' panics */
function inKeys(needle: Value, list: GoSlice, keys: 'int' | 'string'): boolean {
  if (needle === null) return list.items.some((x) => (keys === 'int' ? x === 0n : x === ''));
  if (typeOf(needle) !== keys) return panic(`reflect.Value.MapIndex: value of type ${typeOf(needle)} is not assignable to type ${keys}`);
  return list.items.some((x) => x === needle);
}

// constant folding (optimizer/fold.go @ v1.15.5): post-order, repeated until nothing changes

function fold(node: TNode): TNode {
  for (let limit = 1000; limit >= 0; limit--) {
    const changed = { applied: false };
    node = foldOnce(node, changed);
    if (!changed.applied) break;
  }
  return node;
}

function foldOnce(n: TNode, changed: { applied: boolean }): TNode {
  const sub = (x: ExprNode) => foldOnce(x as TNode, changed);
  let node: TNode;
  switch (n.type) {
    case 'unary': node = { ...n, operand: sub(n.operand) }; break;
    case 'binary': node = { ...n, left: sub(n.left), right: sub(n.right) }; break;
    case 'index': node = { ...n, target: sub(n.target), index: sub(n.index) }; break;
    case 'call': node = { ...n, args: n.args.map(sub) }; break;
    case 'closure': node = { ...n, body: sub(n.body) }; break;
    case 'conditional': node = { ...n, cond: sub(n.cond), then: sub(n.then), else: sub(n.else) }; break;
    case 'array': node = { ...n, items: n.items.map(sub) }; break;
    default: return n;
  }
  const folded = foldNode(node);
  if (folded !== node) changed.applied = true;
  return folded;
}

function foldNode(n: TNode): TNode {
  const lit = (x: ExprNode) => (x.type === 'number' ? x : undefined);
  const int = (value: number): TNode => ({ type: 'number', value, integer: true, t: T.int });
  const float = (value: number): TNode => ({ type: 'number', value, integer: false, t: T.float });
  const bool = (value: boolean): TNode => ({ type: 'bool', value, t: T.bool });
  const boolOf = (x: ExprNode) => (x.type === 'bool' ? x.value : undefined);
  if (n.type === 'unary') {
    const a = lit(n.operand);
    if (a && n.op === '-') return a.integer ? int(-a.value) : float(-a.value);
    if (a && n.op === '+') return a.integer ? int(a.value) : float(a.value);
    const b = boolOf(n.operand);
    if (b !== undefined && n.op === '!') return bool(!b);
    return n;
  }
  if (n.type !== 'binary') return n;
  const a = lit(n.left);
  const b = lit(n.right);
  const [x, y] = [boolOf(n.left), boolOf(n.right)];
  switch (n.op) {
    case '+': case '-': case '*': {
      if (!a || !b) break;
      if (a.integer && b.integer) {
        const w = arithmetic(n.op, BigInt(a.value), BigInt(b.value)) as bigint;
        if (!Number.isSafeInteger(Number(w))) throw new ExprUnsupportedError(0, 'integer arithmetic beyond 2^53');
        return int(Number(w));
      }
      return float(arithmetic(n.op, a.value, b.value) as number);
    }
    case '/': if (a && b) return float(a.value / b.value); break;
    case '%':
      if (a && b && a.integer && b.integer) {
        if (b.value === 0) throw new ExprError('compile', 'integer divide by zero');
        return int(Number(BigInt(a.value) % BigInt(b.value)));
      }
      break;
    case '**': if (a && b) return float(goPow(a.value, b.value)); break;
    case '&&':
      if (x === true) return n.right as TNode;
      if (y === true) return n.left as TNode;
      if (x === false || y === false) return bool(false);
      break;
    case '||':
      if (x === false) return n.right as TNode;
      if (y === false) return n.left as TNode;
      if (x === true || y === true) return bool(true);
      break;
    case '==':
      if (a && b && a.integer && b.integer) return bool(a.value === b.value);
      if (n.left.type === 'string' && n.right.type === 'string') return bool(n.left.value === n.right.value);
      if (x !== undefined && y !== undefined) return bool(x === y);
      break;
  }
  return n;
}

// ---------------------------------------------------------------------------------------------
// 5. Run (compiler.go, vm.go, vm/runtime, builtin/func.go @ v1.15.5): a Go panic is an ExprError

const panic = (message: string): never => { throw new ExprError('run', message); };
/** what a failed type assertion of an interface{} says */
const conversion = (v: Value, want: string): never => panic(`interface conversion: interface {} is ${v === null ? 'nil' : typeOf(v)}, not ${want}`);

/** runtime.Equal */
function equal(a: Value, b: Value): boolean {
  if (isNumeric(a) && isNumeric(b)) return isInt(a) && isInt(b) ? intOf(a) === intOf(b) : floatOf(a) === floatOf(b);
  if (typeof a === 'string' && typeof b === 'string') return a === b;
  if (a === null && b === null) return true;
  return deepEqual(a, b);
}

/** reflect.DeepEqual: the same Go type and equal contents (NaN is not equal to itself). */
function deepEqual(a: Value, b: Value): boolean {
  if (typeOf(a) !== typeOf(b)) return false;
  if (a instanceof GoSlice && b instanceof GoSlice) return a.items.length === b.items.length && a.items.every((x, i) => deepEqual(x, b.items[i]));
  if (isInt(a) && isInt(b)) return intOf(a) === intOf(b);
  return a === b;
}

/** runtime.Less / More / LessOrEqual / MoreOrEqual */
function compare(op: '<' | '>' | '<=' | '>=', a: Value, b: Value): boolean {
  let x: number | bigint | string;
  let y: number | bigint | string;
  if (isNumeric(a) && isNumeric(b)) [x, y] = isInt(a) && isInt(b) ? [intOf(a), intOf(b)] : [floatOf(a), floatOf(b)];
  else if (typeof a === 'string' && typeof b === 'string') [x, y] = [a, b];
  else return panic(`invalid operation: ${typeOf(a)} ${op} ${typeOf(b)}`);
  switch (op) {
    case '<': return x < y;
    case '>': return x > y;
    case '<=': return x <= y;
    default: return x >= y;
  }
}

/** runtime.Add / Subtract / Multiply / Divide / Modulo / Exponent */
function arithmetic(op: '+' | '-' | '*' | '/' | '%' | '**', a: Value, b: Value): Value {
  if (op === '**') {
    if (!isNumeric(a)) return panic(`invalid operation: float(${typeOf(a)})`);
    if (!isNumeric(b)) return panic(`invalid operation: float(${typeOf(b)})`);
    return goPow(floatOf(a), floatOf(b));
  }
  if (op === '+' && typeof a === 'string' && typeof b === 'string') return a + b;
  if (!isNumeric(a) || !isNumeric(b) || (op === '%' && !(isInt(a) && isInt(b)))) return panic(`invalid operation: ${typeOf(a)} ${op} ${typeOf(b)}`);
  if (op === '/') return floatOf(a) / floatOf(b);
  if (isInt(a) && isInt(b)) {
    const [x, y] = [intOf(a), intOf(b)];
    if (op === '%') return y === 0n ? panic('runtime error: integer divide by zero') : x % y;
    return wrap(op === '+' ? x + y : op === '-' ? x - y : x * y);
  }
  const [x, y] = [floatOf(a), floatOf(b)];
  return op === '+' ? x + y : op === '-' ? x - y : x * y;
}

/** Go's math.Pow, whose special cases differ from JavaScript's for a base of 1 or -1 */
function goPow(x: number, y: number): number {
  if (y === 0 || x === 1) return 1;
  if (x === -1 && (y === Infinity || y === -Infinity)) return 1;
  return x ** y;
}

/** runtime.ToInt, for an index */
function toInt(v: Value): number {
  if (isInt(v)) return Number(intOf(v));
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new ExprUnsupportedError(0, `an index of ${goFloat(v)} (Go's conversion depends on the CPU)`);
    return Math.trunc(v);
  }
  return panic(`invalid operation: int(${typeOf(v)})`);
}

/** runtime.Fetch of an index or a field */
function fetch(from: Value, i: Value): Value {
  if (from instanceof GoSlice) {
    let index = toInt(i);
    if (index < 0) index += from.items.length;
    if (index < 0 || index >= from.items.length) return panic('reflect: slice index out of range');
    return from.items[index];
  }
  if (typeof from === 'string') throw new ExprUnsupportedError(0, 'indexing a string');
  return panic(`cannot fetch ${valueText(i)} from ${typeOf(from)}`);
}

/** the slice a predicate iterates (OpBegin) */
function iterated(v: Value): GoSlice {
  if (v instanceof GoSlice) return v;
  if (typeof v === 'string') throw new ExprUnsupportedError(0, 'a predicate over a string');
  return panic(`reflect: call of reflect.Value.Len on ${v === null ? 'zero' : typeOf(v)} Value`);
}

const asBool = (v: Value): boolean => (typeof v === 'boolean' ? v : conversion(v, 'bool'));

/** reflect.Value.Kind of a value, as `cannot sum` prints it */
const kindOf = (v: Value) => (v === null ? 'invalid' : v instanceof GoSlice ? 'slice' : typeOf(v));

interface Frame { readonly item: Value; readonly index: number }

class Machine {
  private readonly frames: Frame[] = [];

  constructor(private readonly measurement: ExprResult) {}

  run(n: TNode): Value {
    switch (n.type) {
      case 'number': return n.integer ? BigInt(n.value) : n.value;
      case 'string': return n.value;
      case 'bool': return n.value;
      case 'nil': return null;
      case 'ident': return resultValue(this.measurement);
      case 'pointer': {
        const frame = this.frames[this.frames.length - 1];
        return n.name === '' ? frame.item : BigInt(frame.index);
      }
      case 'index': return fetch(this.run(n.target as TNode), this.run(n.index as TNode));
      case 'unary': {
        const v = this.run(n.operand as TNode);
        if (n.op === '!') return !asBool(v);
        if (n.op === '+') return v;
        if (typeof v === 'number') return -v;
        if (typeof v === 'bigint') return wrap(-v);
        if (v instanceof GoInt64) return new GoInt64(wrap(-v.v));
        return panic(`invalid operation: - ${typeOf(v)}`);
      }
      case 'binary': return this.binary(n as TNode & { type: 'binary' });
      case 'conditional':
        return asBool(this.run(n.cond as TNode)) ? this.run(n.then as TNode) : this.run(n.else as TNode);
      case 'array': return new GoSlice('[]interface {}', n.items.map((x) => this.run(x as TNode)));
      case 'call': return n.builtin ? this.builtin(n as TNode & { type: 'call' }) : this.envCall(n as TNode & { type: 'call' });
      case 'closure': return this.run(n.body as TNode);
      case 'method': throw new ExprUnsupportedError(0, `calling the method '${n.name}'`);
    }
  }

  private binary(n: TNode & { type: 'binary' }): Value {
    const left = this.run(n.left as TNode);
    if (n.op === '||' || n.op === '&&') {
      // OpJumpIfTrue / OpJumpIfFalse assert the left side; the right side is left as it is
      if (asBool(left) === (n.op === '||')) return left;
      return this.run(n.right as TNode);
    }
    const right = this.run(n.right as TNode);
    switch (n.op) {
      case '==':
        // both sides typed int: OpEqualInt asserts both values are Go ints (compiler.go BinaryNode)
        if ((n.left as TNode).t.k === 'int' && (n.right as TNode).t.k === 'int') {
          if (typeof left !== 'bigint') return conversion(left, 'int');
          if (typeof right !== 'bigint') return conversion(right, 'int');
        }
        return equal(left, right);
      case '!=': return !equal(left, right);
      case '<': case '>': case '<=': case '>=': return compare(n.op, left, right);
      case 'in':
        if (n.keyedBy) return inKeys(left, right as GoSlice, n.keyedBy);
        if (right === null) return false;
        if (right instanceof GoSlice) return right.items.some((x) => equal(x, left));
        return panic(`operator "in" not defined on ${typeOf(right)}`);
      default: return arithmetic(n.op, left, right);
    }
  }

  /** Argo Rollouts' functions (utils/evaluate/evaluate.go @ v1.8.3), called with the arguments evaluated first */
  private envCall(n: TNode & { type: 'call' }): Value {
    const args = n.args.map((a) => this.run(a as TNode));
    const v = args[0];
    switch (n.name) {
      case 'isNaN': case 'isInf': {
        if (typeof v !== 'number') return conversion(v, 'float64');
        return n.name === 'isNaN' ? Number.isNaN(v) : v === Infinity || v === -Infinity;
      }
      // both ignore their first argument: they look at the measurement itself
      case 'isNil': return this.measurement === null;
      case 'default': return this.measurement === null ? args[1] : resultValue(this.measurement);
      case 'asInt': return asInt(v);
      default: return asFloat(v);
    }
  }

  private builtin(n: TNode & { type: 'call' }): Value {
    if (MODELLED_PREDICATES.includes(n.name)) return this.predicate(n);
    const args = n.args.map((a) => this.run(a as TNode));
    const v = args[0];
    switch (n.name) {
      case 'len':
        if (v instanceof GoSlice) return BigInt(v.items.length);
        if (typeof v === 'string') return BigInt(Buffer.byteLength(v));
        return panic(`invalid argument for len (type ${typeOf(v)})`);
      case 'abs':
        if (typeof v === 'number') return Math.abs(v);
        if (typeof v === 'bigint') return v < 0n ? wrap(-v) : v;
        if (v instanceof GoInt64) return v.v < 0n ? new GoInt64(wrap(-v.v)) : v;
        return panic(`invalid argument for abs (type ${typeOf(v)})`);
      case 'max': case 'min': {
        let best: Value = null;
        for (const a of args) if (best === null || compare(n.name === 'max' ? '<' : '>', best, a)) best = a;
        return best;
      }
      case 'sum': case 'mean': case 'median': return aggregate(n.name, v);
      default: { // first, last: a failed fetch gives nil
        if (typeof v === 'string') throw new ExprUnsupportedError(0, `${n.name}() of a string`);
        if (!(v instanceof GoSlice) || v.items.length === 0) return null;
        return n.name === 'first' ? v.items[0] : v.items[v.items.length - 1];
      }
    }
  }

  private predicate(n: TNode & { type: 'call' }): Value {
    const collection = iterated(this.run(n.args[0] as TNode));
    const closure = n.args[1] as TNode;
    const each = (item: Value, index: number): Value => {
      this.frames.push({ item, index });
      try {
        return this.run(closure);
      } finally {
        this.frames.pop();
      }
    };
    const items = collection.items;
    switch (n.name) {
      case 'all': return items.every((x, i) => asBool(each(x, i)));
      case 'any': return items.some((x, i) => asBool(each(x, i)));
      case 'none': return items.every((x, i) => !asBool(each(x, i)));
      case 'one': return items.filter((x, i) => asBool(each(x, i))).length === 1;
      case 'count': return BigInt(items.filter((x, i) => asBool(each(x, i))).length);
      case 'filter': return new GoSlice('[]interface {}', items.filter((x, i) => asBool(each(x, i))));
      default: return new GoSlice('[]interface {}', items.map((x, i) => each(x, i)));
    }
  }
}

/** builtin sum, mean, median (builtin/builtin.go @ v1.15.5) */
function aggregate(name: 'sum' | 'mean' | 'median', v: Value): Value {
  const verb = name;
  if (!(v instanceof GoSlice)) return panic(`cannot ${verb} ${kindOf(v)}`);
  for (const x of v.items) if (!isNumeric(x)) return panic(`cannot ${verb} ${kindOf(x)}`);
  const xs = v.items as (number | bigint | GoInt64)[];
  if (name === 'sum') {
    if (xs.every(isInt)) return wrap(xs.reduce((s: bigint, x) => s + intOf(x as bigint | GoInt64), 0n));
    return xs.reduce((s: number, x) => s + floatOf(x), 0);
  }
  if (xs.length === 0) return 0;
  if (name === 'mean') return xs.reduce((s: number, x) => s + floatOf(x), 0) / xs.length;
  const sorted = xs.map(floatOf).sort((p, q) => p - q);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 0 ? (sorted[mid - 1] + sorted[mid]) / 2 : sorted[mid];
}

/** reflect.TypeOf(x) and %v of x, as Argo's asInt and asFloat print what they cannot convert */
const notSupported = (fn: string, v: Value): never => panic(`${fn}() not supported on ${typeOf(v)} ${valueText(v)}`);

/** Argo's asInt (evaluate.go @ v1.8.3): truncates floats, parses base-10 strings, panics on the rest */
function asInt(v: Value): Value {
  if (typeof v === 'number') {
    if (!Number.isFinite(v) || Math.abs(v) >= 2 ** 63) throw new ExprUnsupportedError(0, `asInt(${goFloat(v)}): Go's conversion of it depends on the CPU`);
    return new GoInt64(BigInt(Math.trunc(v)));
  }
  if (isInt(v)) return new GoInt64(intOf(v));
  if (typeof v === 'string') {
    if (!/^[+-]?\d+$/.test(v)) return panic(`strconv.ParseInt: parsing ${goQuote(v)}: invalid syntax`);
    const n = BigInt(v);
    if (n > MAX_INT64 || n < -MAX_INT64 - 1n) return panic(`strconv.ParseInt: parsing ${goQuote(v)}: value out of range`);
    return new GoInt64(n);
  }
  return notSupported('asInt', v);
}

/** Argo's asFloat (evaluate.go @ v1.8.3): numbers as they are, decimal strings parsed, panics on the rest */
function asFloat(v: Value): Value {
  if (isNumeric(v)) return floatOf(v);
  if (typeof v === 'string') {
    if (/^[+-]?(inf|infinity|nan)$/i.test(v) || /^[+-]?0[xX]/.test(v) || v.includes('_')) throw new ExprUnsupportedError(0, `asFloat(${goQuote(v)})`);
    if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(v)) return panic(`strconv.ParseFloat: parsing ${goQuote(v)}: invalid syntax`);
    const f = Number(v);
    if (!Number.isFinite(f)) return panic(`strconv.ParseFloat: parsing ${goQuote(v)}: value out of range`);
    return f;
  }
  return notSupported('asFloat', v);
}

// ---------------------------------------------------------------------------------------------
// Compile and run

/**
 * Compiles and runs a parsed condition against a measurement, as Argo Rollouts' EvalCondition
 * does (utils/evaluate/evaluate.go @ v1.8.3): the environment is typed by the measurement, so the
 * same condition may compile for a vector and not for a scalar. Returns the value; throws
 * {@link ExprError} (Argo records an Error measurement with its message) or
 * {@link ExprUnsupportedError}.
 */
export function runExpr(tree: ExprNode, result: ExprResult): Value {
  const checker = new Checker(resultType(result));
  const typed = checker.visit(tree).node;
  if (checker.error !== undefined) throw new ExprError('compile', checker.error);
  const program = fold(keyedIn(typed));
  return new Machine(result).run(program);
}

/** The Go type name of a condition's value, as `expected bool, but got %T` prints it. */
export function goTypeOf(v: Value): string {
  return typeOf(v);
}
