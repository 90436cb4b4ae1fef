import { readFileSync, writeFileSync } from 'fs';
import { join } from 'path';
import { EXPLAIN_DOC, explainDetailsMarkdown, explainMarkdown, wiringMarkdown, withReadmeSection } from '../lib/explain/markdown';
import { explainModel, RolloutExplanation } from '../lib/explain/sources';
import { kubectlKustomize, loadFolder, ManifestReadError } from '../lib/manifests';
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
unless --prometheus says). --update-readme refreshes the generated copies (the default app only):
the wiring diagram in README.md, and who may connect, the rollout timeline and the gate design in
${EXPLAIN_DOC}.`;

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

/**
 * Writes the wiring diagram between README.md's markers and the rest between those of
 * {@link EXPLAIN_DOC}; neither file is written unless both have their markers.
 */
function updateCopies(parts: Parts, setup: string, out: ExplainOutput): void {
  const copies = [
    { file: 'README.md', markdown: markdownOf(parts, setup, wiringMarkdown) },
    { file: EXPLAIN_DOC, markdown: markdownOf(parts, setup, explainDetailsMarkdown) },
  ].map(({ file, markdown }) => {
    const path = join(projectRoot(), file);
    return { path, text: withReadmeSection(readFileSync(path, 'utf8'), markdown, path) };
  });
  for (const { path, text } of copies) {
    writeFileSync(path, text);
    out.log(`updated ${path}`);
  }
}

/** `explain`: returns the exit code. */
export async function main(argv: readonly string[], out: ExplainOutput = { log: (l) => process.stdout.write(`${l}\n`), error: (l) => console.error(l) }): Promise<number> {
  const opts = parseArgs(argv);
  if (!opts) {
    out.error(USAGE);
    return 2;
  }
  let parts: Parts;
  let setup: string;
  try {
    if (opts.manifests) {
      const { manifests } = loadFolder(opts.manifests, { kustomize: kubectlKustomize });
      const preset = opts.prometheus ?? setupOf(manifests).preset;
      const model = modelOf(manifests, { prometheus: PROMETHEUS_PRESETS[preset](), images: PRESET_IMAGES });
      const rollouts = explainModel(model);
      if (rollouts.length === 0) throw new Error(`${opts.manifests}: no Rollout with a canary analysis step whose templates are in the folder; nothing to explain`);
      parts = [{ folder: '', rollouts }];
      setup = `Explained from the manifests in ${opts.manifests}, for ${model.prometheus.name} (${opts.prometheus ? '--prometheus' : setupOf(manifests).reason}).`;
    } else {
      const app = await loadApp(opts.app ?? DEFAULT_APP_FILE);
      const prometheus = opts.prometheus ? PROMETHEUS_PRESETS[opts.prometheus]() : undefined;
      parts = app.describe({ prometheus }).map((d) => ({ folder: d.folder, rollouts: explainModel(modelOf(d.manifests, d.options)) }));
      setup = `Explained from the app in ${opts.app ?? DEFAULT_APP_FILE}${prometheus ? `, built for ${prometheus.name} (--prometheus)` : ', for the Prometheus each environment names'}.`;
    }
    if (opts.updateReadme) updateCopies(parts, setup, out);
  } catch (e) {
    out.error(`explain: ${e instanceof ManifestReadError || e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
  if (opts.updateReadme) return 0;
  const markdown = markdownOf(parts, setup);
  if (opts.out) {
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
