import { LoadedManifest } from '../manifests';
import { objectPath } from '../model/model';
import { ALL_RULES } from './all-rules';
import { FILE_KIND, Finding, formatFinding, Rule, RuleOptions, Severity } from './types';

const RANK: Record<Severity, number> = { [Severity.ERROR]: 0, [Severity.WARNING]: 1, [Severity.INFO]: 2 };

/** Runs rules (every rule unless told) over plain manifests: errors first, then warnings, each in rule order. */
export function runRules(manifests: readonly LoadedManifest[], rules: readonly Rule[] = ALL_RULES, options: RuleOptions = {}): Finding[] {
  const ids = new Set<string>();
  for (const rule of rules) {
    if (ids.has(rule.id)) throw new Error(`two rules share the id '${rule.id}'; give each rule its own id`);
    ids.add(rule.id);
  }
  const all = rules.flatMap((rule) => rule.check(manifests, options));
  return [Severity.ERROR, Severity.WARNING, Severity.INFO].flatMap((s) => all.filter((f) => f.severity === s));
}

/** The findings that are errors. */
export function errorsOf(findings: readonly Finding[]): Finding[] {
  return findings.filter((f) => f.severity === Severity.ERROR);
}

/** One line per finding, prefixed with its severity and, when known, its file: `otel/config.yaml: error: ConfigMap/otel/x: rule: ...`. */
export function formatFindingWithOrigin(f: Finding): string {
  return `${f.object.file ? `${f.object.file}: ` : ''}${f.severity}: ${formatFinding(f)}`;
}

/**
 * One finding per root cause: a finding that names, in `causedBy`, the cause of another finding
 * reported in the same run (and at least as severe) is folded into that one's `consequences`,
 * transitively. The order of the rest is kept. Synth and the rules' API see every finding; this
 * is how `validate` prints them.
 */
export function foldConsequences(findings: readonly Finding[]): Finding[] {
  // a key's root: the first finding that reports it without following from it, else the first that reports it
  const roots = new Map<string, Finding>();
  for (const f of findings) for (const k of f.causes ?? []) if (!roots.has(k) && !f.causedBy?.includes(k)) roots.set(k, f);
  for (const f of findings) for (const k of f.causes ?? []) if (!roots.has(k)) roots.set(k, f);
  const parent = new Map<Finding, Finding>();
  const top = (f: Finding): Finding => {
    for (let p = parent.get(f); p; p = parent.get(p)) f = p;
    return f;
  };
  for (const f of findings) {
    const root = (f.causedBy ?? []).map((k) => roots.get(k)).find((r): r is Finding => !!r && r !== f && RANK[r.severity] <= RANK[f.severity] && top(r) !== f);
    if (root) parent.set(f, root);
  }
  const folded = new Map<Finding, Finding[]>();
  for (const f of findings) {
    const t = top(f);
    if (t !== f) folded.set(t, [...(folded.get(t) ?? []), f]);
  }
  return findings.filter((f) => !parent.has(f)).map((f) => (folded.has(f) ? { ...f, consequences: folded.get(f) } : f));
}

/** A text split at each top-level `; ` (outside quoted words, parentheses, brackets and braces). */
function topLevelParts(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quote: string | undefined;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === quote) quote = undefined;
    } else if (c === "'" && (i === 0 || /[\s(=:,[{]/.test(text[i - 1]))) {
      quote = c;
    } else if ('([{'.includes(c)) {
      depth++;
    } else if (')]}'.includes(c)) {
      depth = Math.max(0, depth - 1);
    } else if (c === ';' && text[i + 1] === ' ' && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 2;
    }
  }
  parts.push(text.slice(start));
  return parts.filter((p) => p.trim() !== '');
}

/** A clause without its parenthesized asides (lists of what there is, positions): a consequence's one line. */
function brief(text: string): string {
  let out = '';
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '(' && depth === 0 && text[i - 1] === ' ') {
      depth = 1;
      out = out.replace(/ $/, '');
    } else if (depth > 0) {
      if (c === '(') depth++;
      else if (c === ')') depth--;
    } else {
      out += c;
    }
  }
  return out;
}

/** A long clause's trailing parenthesized list (`(listening: ...)`) apart from it, for a line of its own. */
function splitAside(text: string): [string, string?] {
  if (text.length <= 140 || !text.endsWith(')')) return [text];
  let depth = 0;
  for (let i = text.length - 1; i >= 0; i--) {
    if (text[i] === ')') depth++;
    else if (text[i] === '(' && --depth === 0) {
      const aside = text.slice(i + 1, -1);
      return aside.length >= 40 && text[i - 1] === ' ' ? [text.slice(0, i - 1), aside] : [text];
    }
  }
  return [text];
}

/** The indentation of the lines under a finding's first. */
const INDENT = '    ';

/**
 * A finding as `validate` prints it: one short line (`file: severity: Kind/ns/name: rule: what`),
 * then indented lines: the rest of the message clause by clause, the fix, where the namespace
 * came from, and the findings folded into it, one line each.
 */
export function formatFindingLines(f: Finding): string[] {
  const where = f.object.kind === FILE_KIND ? '' : `${objectPath(f.object)}: `;
  const [first, ...others] = topLevelParts(f.message);
  const [head, aside] = splitAside(first);
  const lines = [`${f.object.file ? `${f.object.file}: ` : ''}${f.severity}: ${where}${f.ruleId}: ${head}`];
  for (const r of [...(aside ? [aside] : []), ...others]) lines.push(`${INDENT}${r}`);
  lines.push(`${INDENT}fix: ${f.fix}`);
  if (f.object.namespaceFrom) lines.push(`${INDENT}namespace ${f.object.namespace}: ${f.object.namespaceFrom}`);
  if (f.consequences?.length) {
    lines.push(`${INDENT}from the same cause:`);
    for (const c of f.consequences) {
      const at = c.object.kind === FILE_KIND ? '' : `${objectPath(c.object)}: `;
      lines.push(`${INDENT}- ${c.object.file && c.object.file !== f.object.file ? `${c.object.file}: ` : ''}${at}${c.ruleId}: ${brief(topLevelParts(c.message)[0])}`);
    }
  }
  return lines;
}
