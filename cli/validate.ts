import { PROMETHEUS_PRESETS } from '../lib/platform/metrics-backend';
import { PRESET_IMAGES } from '../lib/presets/images';
import { kubectlKustomize, loadFolder, ManifestReadError } from '../lib/manifests';
import { errorsOf, foldConsequences, formatFindingLines, runRules } from '../lib/rules/engine';
import { FILE_KIND, Finding, Severity } from '../lib/rules/types';

/** Where `main` writes. */
export interface ValidateOutput {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

/** Exit codes of `validate`. */
export enum ValidateExit {
  /** no error (warnings and notes may have been printed) */
  OK = 0,
  /** at least one error: a rule's, or a file's that was read (not YAML, not UTF-8, binary, a document without kind, ...) */
  ERRORS = 1,
  /**
   * the input could not be read, or not all of it: no such folder, no object in it, bad arguments, a
   * file or folder that cannot be read or is over the size limits (the rest is still checked and
   * printed), or an internal error
   */
  UNREADABLE = 2,
}

const USAGE = `usage: npm run validate -- [--namespace NS] [--strict-metrics] [--no-kustomize] [--prometheus ${Object.keys(PROMETHEUS_PRESETS).join('|')}] DIR   (checks every *.yaml/*.yml under DIR)`;

/** How `main` finds kustomize; tests pass their own. */
export interface ValidateDeps {
  readonly kustomize?: () => ((dir: string) => string) | undefined;
}

/** The arguments, or a usage error. */
function parseArgs(argv: readonly string[]): { dir: string; namespace?: string; strictMetrics: boolean; kustomize: boolean; prometheus?: string } | undefined {
  let dir: string | undefined;
  let prometheus: string | undefined;
  let namespace: string | undefined;
  let strictMetrics = false;
  let kustomize = true;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--namespace' || a === '-n') {
      namespace = argv[++i];
      if (!namespace || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(namespace)) return undefined;
    } else if (a.startsWith('--namespace=')) {
      namespace = a.slice('--namespace='.length);
    } else if (a === '--strict-metrics') {
      strictMetrics = true;
    } else if (a === '--no-kustomize') {
      kustomize = false;
    } else if (a === '--prometheus' || a.startsWith('--prometheus=')) {
      prometheus = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      if (!prometheus || !PROMETHEUS_PRESETS[prometheus]) return undefined;
    } else if (a.startsWith('-') || dir !== undefined) {
      return undefined;
    } else {
      dir = a;
    }
  }
  return dir === undefined ? undefined : { dir, namespace, strictMetrics, kustomize, prometheus };
}

/**
 * `validate [flags] DIR`: loads every manifest under DIR, runs every rule, prints the findings;
 * returns the exit code. It never throws: an internal error is one line `validate: <message>` and
 * exit 2 (with its stack trace only when HOTROD_DEBUG=1).
 */
export function main(argv: readonly string[], output: ValidateOutput = { out: (l) => console.log(l), err: (l) => console.error(l) }, deps: ValidateDeps = {}): ValidateExit {
  try {
    return validate(argv, output, deps);
  } catch (e) {
    reportInternalError(e, output.err);
    return ValidateExit.UNREADABLE;
  }
}

/** One line for an error that is a bug of ours, not of the input: no stack trace unless HOTROD_DEBUG=1. */
function reportInternalError(e: unknown, err: (line: string) => void): void {
  const message = (e instanceof Error ? e.message : String(e)).split('\n')[0].slice(0, 300);
  err(`validate: internal error: ${message} (please report it; HOTROD_DEBUG=1 prints where it happened)`);
  if (process.env.HOTROD_DEBUG === '1' && e instanceof Error && e.stack) err(e.stack);
}

function validate(argv: readonly string[], output: ValidateOutput, deps: ValidateDeps): ValidateExit {
  const args = parseArgs(argv);
  if (!args) {
    output.err(USAGE);
    return ValidateExit.UNREADABLE;
  }
  const { dir } = args;
  let folder;
  try {
    folder = loadFolder(dir, { namespace: args.namespace, kustomize: args.kustomize ? (deps.kustomize ?? kubectlKustomize) : undefined });
  } catch (e) {
    if (!(e instanceof ManifestReadError)) throw e;
    output.err(`validate: ${e.message}`);
    return ValidateExit.UNREADABLE;
  }
  const { manifests, notes } = folder;
  if (manifests.length === 0 && !notes.some((n) => n.severity === 'error')) {
    output.err(`validate: ${dir} holds no Kubernetes object (no *.yaml/*.yml document with a kind)`);
    return ValidateExit.UNREADABLE;
  }
  const fileFindings: Finding[] = notes.map((n) => ({
    ruleId: n.id, severity: n.severity as Severity, object: { kind: FILE_KIND, name: n.file, file: n.file }, message: n.message, fix: n.fix,
  }));
  // File findings first: what could not be read explains findings about what is missing.
  const findings = [...fileFindings, ...runRules(manifests, undefined, { strictMetrics: args.strictMetrics, prometheus: args.prometheus ? PROMETHEUS_PRESETS[args.prometheus]() : undefined, images: PRESET_IMAGES })];
  // One finding per root cause: what follows from another finding is printed under it.
  const shown = foldConsequences(findings);
  const ordered = [Severity.ERROR, Severity.WARNING, Severity.INFO].flatMap((s) => shown.filter((f) => f.severity === s));
  for (const f of ordered) output.out(formatFindingLines(f).join('\n'));
  const errors = errorsOf(shown).length;
  const warnings = shown.filter((f) => f.severity === Severity.WARNING).length;
  const infos = shown.length - errors - warnings;
  const unread = notes.filter((n) => n.unreadable).length;
  output.out(`${dir}: ${manifests.length} objects, ${errors} error(s), ${warnings} warning(s)${infos > 0 ? `, ${infos} note(s)` : ''}${unread > 0 ? `, ${unread} file(s) or folder(s) not read` : ''}`);
  // What could not be read may hide errors: the check is incomplete, whatever it found.
  if (unread > 0) return ValidateExit.UNREADABLE;
  return errorsOf(findings).length > 0 ? ValidateExit.ERRORS : ValidateExit.OK;
}

if (require.main === module) {
  // `validate DIR | head` closes the pipe early: stop quietly rather than with an unhandled 'error' event.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => process.exit(e.code === 'EPIPE' ? (process.exitCode ?? 0) : ValidateExit.UNREADABLE));
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (e) {
    reportInternalError(e, (l) => console.error(l));
    process.exitCode = ValidateExit.UNREADABLE;
  }
}
