import { createHash } from 'crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join, resolve } from 'path';
import { ExplainCopy, explainCopies } from '../cli/explain';
import { main as validate, validateAppOutput, ValidateExit } from '../cli/validate';
import type { DeliveryApp } from '../lib/app/delivery-app';
import { readmeSection } from '../lib/explain/markdown';
import { yamlFilesUnder } from '../lib/manifests';
import { modelOf } from '../lib/model/model';
import { BatchingEngine } from '../lib/rehearsal/batching';
import { targetsFromModel } from '../lib/rehearsal/from-model';
import { EngineBinaries, EngineNotFoundError, locateEngine, PrometheusEngine } from '../lib/rehearsal/prometheus-engine';
import { prepareRehearsal, runScenarios } from '../lib/rehearsal/rehearse';
import { RehearsalTarget } from '../lib/rehearsal/target';

/*
 * The checks of an app that a repository keeps, generic over whatever the app defines:
 * __tests__/main-app.test.ts runs them on main.ts, __tests__/app-edits.test.ts on edited copies of
 * it. Each returns what is wrong (nothing when all is well), with the command that fixes it.
 */

/** An app file's app, and the project it is in. */
export interface AppUnderTest {
  /** the app the file exports */
  readonly app: DeliveryApp;
  /** the project root: the app's outdir and README.md are there */
  readonly root: string;
  /** the app file, as the commands are given it */
  readonly file: string;
  /** the Markdown file, relative to the root, with a copy of its explanation (`npm run explain -- --update-readme`) @default - none */
  readonly readme?: string;
  /** trials per scenario of its rehearsal: a few, for the verdicts of a fixed seed @default 2 */
  readonly rehearsalTrials?: number;
}

/** `npm run synth`, or with the app file the command needs. */
const synthCommand = (t: AppUnderTest) => `npm run synth${t.file === 'main.ts' ? '' : ` -- ${t.file}`}`;

function filesOf(dir: string): Record<string, string> {
  return existsSync(dir) ? Object.fromEntries(yamlFilesUnder(dir).map((f) => [f, readFileSync(join(dir, f), 'utf8')])) : {};
}

/** The committed output against a fresh synth (rules included) of the app: what differs, and the fix. */
export function staleOutput(t: AppUnderTest): string[] {
  const work = mkdtempSync(join(tmpdir(), 'app-check-'));
  try {
    const lines: string[] = [];
    if (t.app.synth({ outdir: join(work, 'out'), output: { log: () => {}, error: (l) => lines.push(l) } }) !== 0) {
      return [`${synthCommand(t)} fails, so ${t.app.outdir}/ cannot be what ${t.file} defines:`, ...lines];
    }
    const fresh = filesOf(join(work, 'out'));
    const committed = filesOf(resolve(t.root, t.app.outdir));
    const differ = [...new Set([...Object.keys(fresh), ...Object.keys(committed)])].sort().filter((f) => fresh[f] !== committed[f]);
    if (differ.length === 0) return [];
    const named = (f: string) => (fresh[f] === undefined ? `${f} (no longer made)` : committed[f] === undefined ? `${f} (new)` : f);
    return [`${t.app.outdir}/ is not what ${t.file} synthesizes: ${differ.length} file(s) differ (${differ.slice(0, 5).map(named).join(', ')}${differ.length > 5 ? ', ...' : ''}); `
      + `run ${synthCommand(t)} and commit ${t.app.outdir}/ with the code`];
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** What a run of validate printed when it did not pass: its errors (warnings are the synth's to print) and its summary. */
function failures(run: (output: { out: (l: string) => void; err: (l: string) => void }) => ValidateExit): string[] {
  const lines: string[] = [];
  const code = run({ out: (l) => lines.push(l), err: (l) => lines.push(l) });
  return code === ValidateExit.OK ? [] : [...lines.filter((l) => / error: /.test(l)), lines[lines.length - 1]];
}

/**
 * `npm run validate -- DIR` on the committed output, judged as it is (for the setup it is made
 * for), not as the app now defines it: nothing when it passes.
 */
export function validateErrors(t: AppUnderTest): string[] {
  return failures((output) => validate([resolve(t.root, t.app.outdir)], output));
}

/**
 * `npm run validate -- APPFILE`: the committed output, each environment's folder judged against
 * the Prometheus the app names for it, with the app's image facts (as synth judged it).
 */
export function validateAppErrors(t: AppUnderTest): string[] {
  return failures((output) => validateAppOutput(t.app, { app: t.file, strictMetrics: false, root: t.root }, output));
}

/**
 * The README's copy of the explanation against what `npm run explain -- --update-readme` writes now.
 * It follows the committed output; while a folder of the app is missing there, staleOutput says so.
 */
export function staleReadme(t: AppUnderTest): string[] {
  if (t.readme === undefined || t.app.apps.some((a) => !existsSync(resolve(t.root, t.app.outdir, a.folder)))) return [];
  // the README's copy (the wiring diagram) at t.readme; docs/explain.md's (the rest) where the project keeps that page
  const copies = explanationOf(t).map((c) => ({ ...c, file: c.file === 'README.md' ? t.readme! : c.file })).filter((c) => c.file === t.readme || existsSync(join(t.root, c.file)));
  return copies.flatMap(({ file, markdown }) => {
    const section = readmeSection(readFileSync(join(t.root, file), 'utf8'));
    if (section === undefined) return [`${file} lost its explain markers; see lib/explain/markdown.ts README_BEGIN/README_END`];
    return section === markdown ? [] : [`${file} shows a stale diagram, timeline or gate design of ${t.app.outdir}/: run npm run explain -- --update-readme and commit ${copies.map((c) => c.file).join(' and ')}`];
  });
}

/** explainCopies, once per content of the committed output (it reads nothing else; explaining takes a second a rollout). */
const explanations = new Map<string, ExplainCopy[]>();
function explanationOf(t: AppUnderTest): ExplainCopy[] {
  const hash = createHash('sha256').update(`${t.file}\0${t.app.outdir}\0`);
  for (const { folder } of t.app.apps) {
    const dir = resolve(t.root, t.app.outdir, folder);
    hash.update(`${folder}\0`);
    for (const [file, text] of Object.entries(filesOf(dir))) hash.update(`${file}\0${text}\0`);
  }
  const key = hash.digest('hex');
  if (!explanations.has(key)) explanations.set(key, explainCopies(t.app, t.root, t.file));
  return explanations.get(key)!;
}

/** The rehearsal's targets: every service of every environment, as `npm run rehearse -- APPFILE` rehearses them. */
export function rehearsalTargets(t: AppUnderTest): RehearsalTarget[] {
  return t.app.describe().flatMap((d) => targetsFromModel(modelOf(d.manifests, d.options), `the app in ${t.file}${d.folder ? ` (${d.folder})` : ''}`)
    .map((target) => (d.folder ? { ...target, rollout: `${d.folder}: ${target.rollout}` } : target)));
}

/**
 * The rehearsal of the targets (few trials, a fixed seed: the same verdicts on every run of the
 * same code): the scenarios that missed their expected verdicts, each with its rollout and setup.
 */
export async function rehearsalMisses(targets: readonly RehearsalTarget[], binaries: EngineBinaries, trials = 2): Promise<string[]> {
  const data = prepareRehearsal(targets, { trials, seed: 1 });
  const engine = await PrometheusEngine.start(data.chunks, binaries);
  try {
    const results = await runScenarios(data, new BatchingEngine(engine));
    return results.filter((r) => !r.asExpected).map((r) => `${r.target.rollout} on ${r.target.prometheus.name}: ${r.scenario.name} ${JSON.stringify(r.verdicts)}`);
  } finally {
    await engine.stop();
  }
}

/** promtool and prometheus for the rehearsal; undefined (with a warning saying what is skipped) when they are not installed, except on CI. */
export function rehearsalEngine(skipped: string): EngineBinaries | undefined {
  try {
    return locateEngine();
  } catch (e) {
    if (!(e instanceof EngineNotFoundError) || process.env.CI === 'true') throw e;
    console.warn(`SKIPPED: ${skipped} needs promtool and prometheus.\n${e.message}`);
    return undefined;
  }
}
