import { App } from 'cdk8s';
import { ModelOptions } from '../model/model';
import { errorsOf, runRules } from '../rules/engine';
import { formatFinding, Severity } from '../rules/types';
import { displayPath, OutputState, synthesizeSafely, SynthError } from '../safe-synth';
import { ImageCatalogue } from '../platform/image-facts';
import { Delivery } from './delivery';

/** Defines one app: adds its constructs (a {@link Delivery}, usually). */
export type DefineApp = (app: App) => unknown;

/** Options of {@link runSynth}. */
export interface RunSynthOptions {
  /** the folder to replace */
  readonly outdir: string;
  /** one app, written to outdir; or give {@link apps} */
  readonly define?: DefineApp;
  /** several apps side by side, each in a subfolder of outdir (one per environment) */
  readonly apps?: readonly { readonly folder: string; readonly define: DefineApp }[];
  /** where to write @default - stdout and stderr */
  readonly output?: SynthOutput;
}

/** Where `runSynth` writes its lines. */
export interface SynthOutput {
  readonly log: (line: string) => void;
  readonly error: (line: string) => void;
}

/** The options the YAML of an app's deliveries is read with: their Prometheus (the first's) and the facts of every service's image. */
export function modelOptionsOf(deliveries: readonly Delivery[]): ModelOptions {
  if (deliveries.length === 0) return {};
  const all = deliveries.map((d) => d.modelOptions());
  return { prometheus: all[0].prometheus, images: ImageCatalogue.of(...all.flatMap((o) => o.images?.all ?? [])) };
}

/**
 * What `npm run synth` does: synthesizes the app into a staging folder, runs every rule on
 * the synthesized objects, and replaces `outdir` only when no rule found an error. Warnings
 * are printed either way. Returns the exit code.
 */
export function runSynth(options: RunSynthOptions): number {
  const out = options.output ?? { log: (l: string) => console.log(l), error: (l: string) => console.error(l) };
  let warnings = 0;
  const readWith = new Map<string, ModelOptions>();
  const apps = options.apps ?? (options.define ? [{ folder: '', define: options.define }] : []);
  try {
    const { files, previousLeftAt } = synthesizeSafely({
      outdir: options.outdir,
      log: out.error,
      apps: apps.map((a) => ({
        folder: a.folder,
        define: (app: App) => {
          a.define(app);
          readWith.set(a.folder, modelOptionsOf(Delivery.of(app)));
        },
      })),
      check: (manifests, folder) => {
        // The rules judge scrape labels and timings against the Prometheus the app targets, with the facts of its images.
        const findings = runRules(manifests, undefined, readWith.get(folder));
        const warned = findings.filter((f) => f.severity === Severity.WARNING);
        warnings += warned.length;
        const where = folder ? `${folder}: ` : '';
        for (const w of warned) out.error(`warning: ${where}${formatFinding(w)}`);
        return errorsOf(findings).map((f) => `${where}${formatFinding(f)}`);
      },
    });
    if (previousLeftAt) {
      out.error(`warning: the previous output of ${options.outdir}/ could not be removed and is left in ${displayPath(previousLeftAt.path)} (${previousLeftAt.reason}); the next synth removes it, or says why it cannot`);
    }
    out.log(`synthesized ${files.length} manifests into ${options.outdir}/: 0 errors, ${warnings} warning(s)`);
    return 0;
  } catch (e) {
    // Anything but a SynthError was thrown by the app or the rules, before the swap.
    const error = e instanceof SynthError ? e : new SynthError([e instanceof Error ? e.message : String(e)]);
    out.error(`${failureHeadline(options.outdir, error)}:`);
    for (const line of error.lines) out.error(`  ${line}`);
    return 1;
  }
}

/** The first line of a failed synth's message: what it left at `outdir` ("left as it was" only when it was). */
export function failureHeadline(outdir: string, error: SynthError): string {
  switch (error.state) {
    case OutputState.PUT_BACK: return `synth failed; ${outdir}/ was moved aside for the swap and moved back, as it was`;
    case OutputState.MOVED_ASIDE: return `synth failed; ${outdir}/ is missing: its previous output is in ${displayPath(error.previousAt!)}, and the next synth moves it back`;
    case OutputState.NOT_TOUCHED: return `synth failed; ${outdir}/ was not touched by this run`;
    case OutputState.KEPT: return `synth failed; ${outdir}/ was left as it was`;
    default: return `synth failed; ${outdir}/ holds the new output`;
  }
}
