import { existsSync, readFileSync, writeFileSync } from 'fs';
import { join, resolve } from 'path';
import type { DeliveryApp } from '../lib/app/delivery-app';
import { EXPLAIN_DOC, explainDetailsMarkdown, explainMarkdown, wiringMarkdown, withReadmeSection } from '../lib/explain/markdown';
import { explainModel, RolloutExplanation } from '../lib/explain/sources';
import { kubectlKustomize, loadFolder, loadManifests, ManifestReadError } from '../lib/manifests';
import { modelOf } from '../lib/model/model';
import { PROMETHEUS_PRESETS } from '../lib/platform/metrics-backend';
import { PRESET_IMAGES } from '../lib/presets/images';
import { setupOf } from '../lib/rehearsal/from-model';
import { projectRoot } from '../lib/schema/crd-schema-file';
import { DEFAULT_APP_FILE, loadApp } from './app-loader';

const USAGE = `usage: npm run explain -- [APPFILE | --manifests DIR] [--prometheus ${Object.keys(PROMETHEUS_PRESETS).join('|')}] [--out FILE | --update-readme]

Prints the wiring diagram and the rollout timeline of every rollout with an analysis, as Markdown:
of the app an app file defines (default ${DEFAULT_APP_FILE}), or of a folder of manifests
(--manifests DIR, hand-written or synthesized; its Prometheus setup is the one it is made for
unless --prometheus says). --update-readme refreshes the generated copies: the wiring diagram in
README.md and who may connect, the rollout timeline and the gate design in ${EXPLAIN_DOC}, explained
from the default app's committed output (dist/, what Argo CD deploys, as --manifests reads it), so
they follow \`npm run synth\`.`;

/** Where `main` writes. */
export interface ExplainOutput {
  log(line: string): void;
  error(line: string): void;
}

interface Options {
  readonly app?: string;
  readonly manifests?: string;
  readonly prometheus?: string;
  readonly out?: string;
  readonly updateReadme: boolean;
}

function parseArgs(argv: readonly string[]): Options | undefined {
  const opts: { app?: string; manifests?: string; prometheus?: string; out?: string; updateReadme: boolean } = { updateReadme: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => (a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i]);
    if (a === '--manifests' || a.startsWith('--manifests=')) opts.manifests = value();
    else if (a === '--prometheus' || a.startsWith('--prometheus=')) opts.prometheus = value();
    else if (a === '--out' || a.startsWith('--out=')) opts.out = value();
    else if (a === '--update-readme') opts.updateReadme = true;
    else if (a.startsWith('-') || opts.app !== undefined) return undefined;
    else opts.app = a;
  }
  if ([opts.manifests, opts.prometheus, opts.out].some((v) => v === '')) return undefined;
  if (opts.app !== undefined && opts.manifests !== undefined) return undefined;
  if (opts.out !== undefined && opts.updateReadme) return undefined;
  if (opts.prometheus !== undefined && !PROMETHEUS_PRESETS[opts.prometheus]) return undefined;
  if (opts.updateReadme && (opts.manifests !== undefined || (opts.app !== undefined && opts.app !== DEFAULT_APP_FILE))) return undefined;
  return opts;
}

type Parts = readonly { readonly folder: string; readonly rollouts: readonly RolloutExplanation[] }[];

/**
 * The explanation of every rollout, with a heading per rollout when there are several (or several
 * apps): all of it, or the part `render` makes of each rollout.
 */
function markdownOf(parts: Parts, setup: string, render: (x: RolloutExplanation) => string = explainMarkdown): string {
  const all = parts.flatMap((p) => p.rollouts.map((r) => ({ folder: p.folder, r })));
  if (all.length === 1) return render(all[0].r);
  return `${setup}\n\n${all.map(({ folder, r }) => `## ${folder ? `${folder}: ` : ''}${r.id}\n\n${render(r)}`).join('\n')}`;
}

/** A generated copy: the file (relative to the project) and what stands between its markers. */
export interface ExplainCopy {
  readonly file: string;
  readonly markdown: string;
}

/**
 * What --update-readme writes between the markers of README.md (the wiring diagram) and of
 * {@link EXPLAIN_DOC} (who may connect, the timeline, the gate design): the explanation of the
 * app's committed output (its outdir, what Argo CD deploys), each of its folders as
 * `explain --manifests` reads it (for the Prometheus setup the folder is made for). It depends on
 * the committed files alone, so an edit of main.ts leaves it fresh until the synth that changes
 * them. Throws when a folder of the app is missing.
 */
export function explainCopies(app: DeliveryApp, root: string, file: string = DEFAULT_APP_FILE): ExplainCopy[] {
  const parts = app.apps.map(({ folder }) => {
    const dir = resolve(root, app.outdir, folder);
    if (!existsSync(dir)) throw new Error(`${folder ? `${app.outdir}/${folder}` : app.outdir}: no such folder; run npm run synth first`);
    const manifests = loadManifests(dir);
    return { folder, rollouts: explainModel(modelOf(manifests, { prometheus: PROMETHEUS_PRESETS[setupOf(manifests).preset](), images: PRESET_IMAGES })) };
  });
  const setup = `Explained from ${app.outdir}/, the committed output of the app in ${file}, each folder for the Prometheus setup it is made for.`;
  return [
    { file: 'README.md', markdown: markdownOf(parts, setup, wiringMarkdown) },
    { file: EXPLAIN_DOC, markdown: markdownOf(parts, setup, explainDetailsMarkdown) },
  ];
}

/** `explain`: returns the exit code. */
export async function main(argv: readonly string[], out: ExplainOutput = { log: (l) => process.stdout.write(`${l}\n`), error: (l) => console.error(l) }): Promise<number> {
  const opts = parseArgs(argv);
  if (!opts) {
    out.error(USAGE);
    return 2;
  }
  let markdown = '';
  let copies: ExplainCopy[] = [];
  /** the setup the gate timings are explained for, and why */
  let setup: string | undefined;
  try {
    if (opts.manifests) {
      const { manifests } = loadFolder(opts.manifests, { kustomize: kubectlKustomize });
      const preset = opts.prometheus ?? setupOf(manifests).preset;
      const model = modelOf(manifests, { prometheus: PROMETHEUS_PRESETS[preset](), images: PRESET_IMAGES });
      const rollouts = explainModel(model);
      if (rollouts.length === 0) throw new Error(`${opts.manifests}: no Rollout with a canary analysis step whose templates are in the folder; nothing to explain`);
      setup = `Explained from the manifests in ${opts.manifests}, for ${model.prometheus.name} (${opts.prometheus ? '--prometheus' : `since ${setupOf(manifests).reason}; another: --prometheus NAME`}).`;
      markdown = markdownOf([{ folder: '', rollouts }], setup);
    } else {
      const file = opts.app ?? DEFAULT_APP_FILE;
      const app = await loadApp(file);
      if (opts.updateReadme) {
        copies = explainCopies(app, projectRoot(), file);
      } else {
        const prometheus = opts.prometheus ? PROMETHEUS_PRESETS[opts.prometheus]() : undefined;
        const described = app.describe({ prometheus });
        const parts = described.map((d) => ({ folder: d.folder, rollouts: explainModel(modelOf(d.manifests, d.options)) }));
        const environments = described.flatMap((d) => d.deliveries.map((x) => `${d.folder ? `${d.folder} on ` : ''}${x.prometheus.name}`));
        setup = `Explained from the app in ${file}${prometheus ? `, built for ${prometheus.name} (--prometheus)` : `: ${environments.join(', ')}, the Prometheus ${environments.length > 1 ? 'each environment names' : 'its environment names'} (another: --prometheus NAME)`}.`;
        markdown = markdownOf(parts, setup);
      }
    }
    // On stderr when the Markdown does not say it (one rollout: no heading, no setup line).
    if (setup !== undefined && !markdown.startsWith(setup)) out.error(setup);
    // both files or neither: each must have its markers before either is written
    copies = copies.map((c) => {
      const path = join(projectRoot(), c.file);
      return { file: path, markdown: withReadmeSection(readFileSync(path, 'utf8'), c.markdown, path) };
    });
  } catch (e) {
    out.error(`explain: ${e instanceof ManifestReadError || e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
  if (opts.updateReadme) {
    for (const { file, markdown: text } of copies) {
      writeFileSync(file, text);
      out.log(`updated ${file}`);
    }
  } else if (opts.out) {
    writeFileSync(opts.out, markdown);
    out.log(`wrote ${opts.out}`);
  } else {
    out.log(markdown.replace(/\n$/, ''));
  }
  return 0;
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
