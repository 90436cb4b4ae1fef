import { LoadedManifest } from '../manifests';
import { ALL_RULES } from './all-rules';
import { Finding, formatFinding, Rule, RuleOptions, Severity } from './types';

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
