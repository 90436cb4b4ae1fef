import { isAbsolute, posix, relative } from 'path';
import { App } from 'cdk8s';
import { LoadedManifest } from '../manifests';
import { ModelOptions } from '../model/model';
import { PrometheusBackend } from '../platform/metrics-backend';
import { Delivery, OUTPUT_PATH_CONTEXT, PROMETHEUS_OVERRIDE_CONTEXT } from './delivery';
import { synthesizeInMemory } from './in-memory';
import { modelOptionsOf, runSynth, SynthOutput } from './run-synth';

/** One app of a delivery app: the subfolder of the output it is written to, and what defines it. */
export interface AppDefinition {
  /** the subfolder, e.g. `staging` ('' for the output folder itself) */
  readonly folder: string;
  /** adds the app's constructs (a {@link Delivery}, usually) */
  readonly define: (app: App) => unknown;
}

/** Properties of a {@link DeliveryApp}. */
export interface DeliveryAppProps {
  /** the folder `npm run synth` replaces, relative to the project root @default 'dist' */
  readonly outdir?: string;
  /** one app, written to the output folder itself; or give {@link apps} */
  readonly define?: (app: App) => unknown;
  /** several apps side by side, each in its subfolder (one per environment) */
  readonly apps?: readonly AppDefinition[];
}

/** What the tools read of one app: its objects as a synth would write them, and the facts they are read with. */
export interface DescribedApp {
  /** the subfolder of the output it is written to */
  readonly folder: string;
  readonly manifests: LoadedManifest[];
  /** its Prometheus and the facts of its services' images (see Delivery.modelOptions) */
  readonly options: ModelOptions;
  readonly deliveries: readonly Delivery[];
}

/**
 * What an app file (main.ts, or any other) defines: the apps it synthesizes and where. The same
 * definition is synthesized by `npm run synth` and read by every tool (`explain`, `rehearse`,
 * `bench`), so they all see the app the user wrote.
 *
 * ```ts
 * export const app = deliveryApp({ define: (a) => new Delivery(a, 'Delivery', { environment, services }) });
 * if (require.main === module) process.exitCode = app.synth();
 * ```
 */
export class DeliveryApp {
  /** the folder the synth replaces */
  public readonly outdir: string;
  /** the apps, each with its subfolder */
  public readonly apps: readonly AppDefinition[];

  constructor(props: DeliveryAppProps) {
    if ((props.define === undefined) === (props.apps === undefined)) {
      throw new Error('deliveryApp: give define (one app) or apps (several, each with its folder), not both and not neither');
    }
    this.outdir = props.outdir ?? 'dist';
    const apps = props.apps ?? [{ folder: '', define: props.define! }];
    const folders = apps.map((a) => a.folder);
    const dup = folders.find((f, i) => folders.indexOf(f) !== i);
    if (dup !== undefined) throw new Error(`deliveryApp: two apps are written to the folder '${dup}'; give each its own`);
    // Each app's deliveries learn the folder they are written to, for their ApplicationSet's paths.
    this.apps = apps.map((a) => ({
      folder: a.folder,
      define: (app: App) => {
        app.node.setContext(OUTPUT_PATH_CONTEXT, repositoryPath(this.outdir, a.folder));
        return a.define(app);
      },
    }));
  }

  /**
   * What `npm run synth` does with it: synthesizes into a staging folder, runs every rule, and
   * replaces the output folder only when no rule found an error. Returns the exit code.
   */
  public synth(options: { readonly outdir?: string; readonly output?: SynthOutput } = {}): number {
    return runSynth({ outdir: options.outdir ?? process.env.CDK8S_OUTDIR ?? this.outdir, apps: this.apps, output: options.output });
  }

  /**
   * Each app built in memory, as the tools read it. With `prometheus`, every Delivery of the app
   * is built for that Prometheus instead of its environment's (the rehearsal's `--prometheus`).
   */
  public describe(overrides: { readonly prometheus?: PrometheusBackend } = {}): DescribedApp[] {
    return this.apps.map((a) => {
      const app = new App({ outdir: '/nonexistent' });
      if (overrides.prometheus) app.node.setContext(PROMETHEUS_OVERRIDE_CONTEXT, overrides.prometheus);
      a.define(app);
      const deliveries = Delivery.of(app);
      return { folder: a.folder, manifests: synthesizeInMemory(app), options: modelOptionsOf(deliveries), deliveries };
    });
  }
}

/**
 * Where an app of a DeliveryApp is written, as a path of the repository (`/`-separated, relative to
 * the project root, which the tools run in): `outdir`, or `outdir/<folder>`.
 */
function repositoryPath(outdir: string, folder: string): string {
  const rel = isAbsolute(outdir) ? relative(process.cwd(), outdir) : outdir;
  const path = rel && !isAbsolute(rel) ? rel.split(/[\\/]+/).join('/') : outdir;
  return posix.normalize(folder ? `${path}/${folder}` : path).replace(/\/+$/, '');
}

/** A {@link DeliveryApp}. */
export function deliveryApp(props: DeliveryAppProps): DeliveryApp {
  return new DeliveryApp(props);
}
