import { existsSync, readFileSync } from 'fs';
import { join } from 'path';
import { App, Duration } from 'cdk8s';
// Each module by name rather than the './lib' barrel: synth loads only what it uses.
import { defineDelivery, EnvironmentSpec } from './lib/app/delivery';
import { hotrodWorkload } from './lib/presets/hotrod';
import { PrometheusBackend } from './lib/platform/metrics-backend';
import { runSynth } from './lib/app/run-synth';

export { runSynth } from './lib/app/run-synth';
export type { SynthOutput } from './lib/app/run-synth';

/** Settings that differ per deployment rather than per release. */
export interface StackOptions {
  /** the git repository Argo CD reads dist/ from @default - HotrodAppSet's placeholder */
  readonly repoUrl?: string;
  /** the revision Argo CD follows @default 'HEAD' */
  readonly revision?: string;
  /**
   * The Prometheus the gates query and how it scrapes: every gate timing is derived from it.
   * @default PrometheusBackend.communityChart() - the prometheus-community chart's defaults, the environment SPEC names
   */
  readonly prometheus?: PrometheusBackend;
}

/** The default app's environment: the cluster Argo CD runs in, the Prometheus the options name. */
export function defaultEnvironment(options: StackOptions = {}): EnvironmentSpec {
  return {
    name: 'default',
    prometheus: options.prometheus ?? PrometheusBackend.communityChart(),
    applicationPrefix: '',
    applicationSetName: 'hotrod',
    gates: { minRequestsPerSecond: 0.05, maxErrorRatio: 0.05, maxP95: Duration.seconds(1) },
  };
}

/**
 * The default app: HotROD delivered to the cluster Argo CD runs in, one chart (= one dist/
 * folder = one Argo CD Application) per namespace.
 */
export function defineApp(app: App, options: StackOptions = {}) {
  const delivery = defineDelivery(app, {
    environment: defaultEnvironment(options),
    services: [{ name: 'hotrod', workload: hotrodWorkload({ tag: '1.76.0' }) }],
    repoUrl: options.repoUrl,
    revision: options.revision,
  });
  const [hotrod] = delivery.services;
  const { otel, traffic, argocd } = delivery.charts;
  return {
    ...delivery,
    charts: { otel, hotrod: hotrod.chart, traffic: traffic!, argocd },
    rollout: hotrod.rollout,
    gates: hotrod.gates,
    generator: hotrod.generator!,
  };
}

/** The file that holds the repository settings of this checkout, committed beside dist/. */
export const CONFIG_FILE = 'delivery.config.json';

/**
 * The settings `npm run synth` uses, and so the committed-dist/ check too: `delivery.config.json`
 * in `root` (the project root) (`{ "repoUrl": ..., "revision": ... }`, both optional), then the environment
 * variables `HOTROD_REPO_URL` and `HOTROD_REPO_REVISION` over it.
 */
export function stackOptions(root: string, env: NodeJS.ProcessEnv = process.env): StackOptions {
  const file = join(root, CONFIG_FILE);
  let fromFile: { repoUrl?: string; revision?: string } = {};
  if (existsSync(file)) {
    const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
    const keys = ['repoUrl', 'revision'];
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error(`${CONFIG_FILE}: must be a JSON object such as { "repoUrl": "https://github.com/acme/delivery.git", "revision": "main" }`);
    for (const [k, v] of Object.entries(parsed)) {
      if (!keys.includes(k)) throw new Error(`${CONFIG_FILE}: unknown key '${k}'; the keys are ${keys.join(', ')}`);
      if (typeof v !== 'string') throw new Error(`${CONFIG_FILE}: '${k}' must be a string, got ${JSON.stringify(v)}`);
    }
    fromFile = parsed as typeof fromFile;
  }
  return {
    repoUrl: env.HOTROD_REPO_URL || fromFile.repoUrl,
    revision: env.HOTROD_REPO_REVISION || fromFile.revision,
  };
}

if (require.main === module) {
  process.exitCode = runSynth({
    outdir: process.env.CDK8S_OUTDIR ?? 'dist',
    define: (app) => defineApp(app, stackOptions(process.cwd())),
  });
}
