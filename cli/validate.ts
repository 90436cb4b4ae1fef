import { existsSync } from 'fs';
import { join, resolve } from 'path';
import { PROMETHEUS_PRESETS } from '../lib/platform/metrics-backend';
import { PRESET_IMAGES } from '../lib/presets/images';
import { kubectlKustomize, LoadedManifest, loadFolder, ManifestReadError } from '../lib/manifests';
import { ModelOptions } from '../lib/model/model';
import { setupOf } from '../lib/rehearsal/from-model';
import { errorsOf, foldConsequences, formatFindingLines, runRules } from '../lib/rules/engine';
import { FILE_KIND, Finding, Severity } from '../lib/rules/types';
import type { DeliveryApp } from '../lib/app/delivery-app';
import { AppLoadError, DEFAULT_APP_FILE, loadApp } from './app-loader';

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

const USAGE = `usage: npm run validate -- [--namespace NS] [--strict-metrics] [--no-kustomize] [--prometheus ${Object.keys(PROMETHEUS_PRESETS).join('|')}] DIR|FILE   (checks every *.yaml/*.yml under DIR, or FILE)`;

const APP_USAGE = `       npm run validate -- [--strict-metrics] [--prometheus ${Object.keys(PROMETHEUS_PRESETS).join('|')}] [APPFILE]   (checks the committed output of the app APPFILE exports, default ${DEFAULT_APP_FILE})`;

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
  // The gate timings and scrape labels are judged against the Prometheus the folder is made for, unless told.
  const setup = args.prometheus ?? setupOf(manifests).preset;
  const prometheus = PROMETHEUS_PRESETS[setup]();
  const why = args.prometheus ? '--prometheus' : `since ${setupOf(manifests).reason}${mixedSetups(manifests)}; another: --prometheus NAME`;
  // File findings first: what could not be read explains findings about what is missing.
  const findings = [...fileFindings, ...runRules(manifests, undefined, { strictMetrics: args.strictMetrics, prometheus, prometheusGuessed: !args.prometheus, images: PRESET_IMAGES })];
  return report(dir, manifests, findings, notes.filter((n) => n.unreadable).length, [`Prometheus setup: ${prometheus.name} (${why})`], output);
}

/**
 * A note when the folder holds several environments (top-level folders with an ApplicationSet
 * each) made for different setups, which one run judges against one.
 */
function mixedSetups(manifests: readonly LoadedManifest[]): string {
  const top = (m: LoadedManifest) => (m.file?.includes('/') ? m.file.split('/')[0] : undefined);
  const environments = [...new Set(manifests.filter((m) => m.object.kind === 'ApplicationSet').map(top))].filter((t): t is string => t !== undefined);
  if (environments.length < 2) return '';
  const setups = environments.map((env) => ({ env, preset: setupOf(manifests.filter((m) => top(m) === env)).preset }));
  if (new Set(setups.map((x) => x.preset)).size < 2) return '';
  return ` (its environments are made for different setups: ${setups.map((x) => `${x.env} for ${x.preset}`).join(', ')}; `
    + 'validate each folder, or the app that writes them (npm run validate -- APPFILE), to judge each against its own)';
}

/** Prints the findings, errors first, then what they were judged against, then the summary; returns the exit code. */
function report(dir: string, manifests: readonly LoadedManifest[], findings: readonly Finding[], unread: number, setups: readonly string[], output: ValidateOutput): ValidateExit {
  // One finding per root cause: what follows from another finding is printed under it.
  const shown = foldConsequences(findings);
  const ordered = [Severity.ERROR, Severity.WARNING, Severity.INFO].flatMap((s) => shown.filter((f) => f.severity === s));
  for (const f of ordered) output.out(formatFindingLines(f).join('\n'));
  for (const line of setups) output.out(line);
  const errors = errorsOf(shown).length;
  const warnings = shown.filter((f) => f.severity === Severity.WARNING).length;
  const infos = shown.length - errors - warnings;
  output.out(`${dir}: ${manifests.length} objects, ${errors} error(s), ${warnings} warning(s)${infos > 0 ? `, ${infos} note(s)` : ''}${unread > 0 ? `, ${unread} file(s) or folder(s) not read` : ''}`);
  // What could not be read may hide errors: the check is incomplete, whatever it found.
  if (unread > 0) return ValidateExit.UNREADABLE;
  return errorsOf(findings).length > 0 ? ValidateExit.ERRORS : ValidateExit.OK;
}

/** The arguments of the app form: an app file (or none: main.ts), --strict-metrics, --prometheus; undefined when they are the folder form's. */
function parseAppArgs(argv: readonly string[]): AppArgs | 'usage' | undefined {
  let app: string | undefined;
  let prometheus: string | undefined;
  let strictMetrics = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--strict-metrics') strictMetrics = true;
    else if (a === '--prometheus' || a.startsWith('--prometheus=')) {
      prometheus = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      if (!prometheus || !PROMETHEUS_PRESETS[prometheus]) return 'usage';
    } else if (!a.startsWith('-') && app === undefined && a.endsWith('.ts')) app = a;
    else return undefined;
  }
  return { app: app ?? DEFAULT_APP_FILE, strictMetrics, prometheus };
}

/**
 * `validate [APPFILE]`: the committed output of the app an app file exports (default main.ts),
 * each environment's folder judged as synth judges it: against the Prometheus its environment
 * names (or --prometheus) and with the facts of the app's own images. Returns the exit code.
 */
async function validateApp(args: AppArgs, output: ValidateOutput): Promise<ValidateExit> {
  return validateAppOutput(await loadApp(args.app), args, output);
}

/** What `validate APPFILE` is given. */
export interface AppArgs {
  /** the app file, as the user named it (for messages) */
  readonly app: string;
  readonly strictMetrics: boolean;
  /** a preset to judge every environment against instead of its own */
  readonly prometheus?: string;
  /** the project root the app's outdir is relative to @default - the current folder */
  readonly root?: string;
}

/** {@link validateApp} of an app already loaded: its committed output, folder by folder, as synth judges it. */
export function validateAppOutput(app: DeliveryApp, args: AppArgs, output: ValidateOutput): ValidateExit {
  const outdir = resolve(args.root ?? '.', app.outdir);
  const override = args.prometheus ? PROMETHEUS_PRESETS[args.prometheus]() : undefined;
  const manifests: LoadedManifest[] = [];
  const findings: Finding[] = [];
  const setups: string[] = [];
  let unread = 0;
  for (const described of app.describe()) {
    const dir = join(outdir, described.folder);
    const shown = described.folder ? `${app.outdir}/${described.folder}` : app.outdir;
    if (!existsSync(dir)) {
      output.err(`validate: ${shown}: no such folder: the app in ${args.app} writes it; run npm run synth${args.app === DEFAULT_APP_FILE ? '' : ` -- ${args.app}`}`);
      return ValidateExit.UNREADABLE;
    }
    const folder = loadFolder(dir);
    const prefix = (file: string | undefined) => (file && described.folder ? `${described.folder}/${file}` : file);
    const options: ModelOptions = { ...described.options, prometheus: override ?? described.options.prometheus };
    manifests.push(...folder.manifests);
    unread += folder.notes.filter((n) => n.unreadable).length;
    findings.push(
      ...folder.notes.map((n) => ({ ruleId: n.id, severity: n.severity as Severity, object: { kind: FILE_KIND, name: prefix(n.file)!, file: prefix(n.file) }, message: n.message, fix: n.fix })),
      ...runRules(folder.manifests, undefined, { ...options, strictMetrics: args.strictMetrics }).map((f) => ({ ...f, object: { ...f.object, file: prefix(f.object.file) } })),
    );
    for (const d of described.deliveries) {
      const why = override ? '--prometheus' : `the one environment '${d.environment.name}' names in ${args.app}; another: --prometheus NAME`;
      setups.push(`Prometheus setup: ${described.folder ? `${described.folder}: ` : ''}${options.prometheus!.name} (${why})`);
    }
  }
  return report(app.outdir, manifests, findings, unread, setups, output);
}

/**
 * The command: `validate [flags] DIR` checks a folder ({@link main}); `validate [APPFILE]` the
 * committed output of an app ({@link validateApp}). Never throws.
 */
export async function validateCli(argv: readonly string[], output: ValidateOutput = { out: (l) => console.log(l), err: (l) => console.error(l) }, deps: ValidateDeps = {}): Promise<ValidateExit> {
  const appArgs = parseAppArgs(argv);
  if (appArgs === undefined) return main(argv, output, deps);
  if (appArgs === 'usage') {
    output.err(`${USAGE}\n${APP_USAGE}`);
    return ValidateExit.UNREADABLE;
  }
  try {
    return await validateApp(appArgs, output);
  } catch (e) {
    if (e instanceof AppLoadError || e instanceof ManifestReadError) {
      output.err(`validate: ${e.message}`);
      return ValidateExit.UNREADABLE;
    }
    // the app's own constructors refuse what they are given: their message says what to fix
    if (e instanceof Error && !(e instanceof TypeError) && !(e instanceof ReferenceError)) {
      output.err(`validate: the app in ${appArgs.app} failed: ${e.message}`);
      return ValidateExit.UNREADABLE;
    }
    reportInternalError(e, output.err);
    return ValidateExit.UNREADABLE;
  }
}

if (require.main === module) {
  // `validate DIR | head` closes the pipe early: stop quietly rather than with an unhandled 'error' event.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => process.exit(e.code === 'EPIPE' ? (process.exitCode ?? 0) : ValidateExit.UNREADABLE));
  void validateCli(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
