import { writeFileSync } from 'fs';
import { modelOf } from '../lib/model/model';
import {
  allAsExpected,
  EngineError,
  EngineNotFoundError,
  folderSetup,
  formatResults,
  locateEngine,
  pickRollout,
  prepareRehearsal,
  PrometheusEngine,
  RehearsalInputError,
  RehearsalTarget,
  runScenarios,
  targetsFromManifests,
  targetsFromModel,
  toReport,
} from '../lib/rehearsal';
import { PrometheusBackend, PROMETHEUS_PRESETS } from '../lib/platform/metrics-backend';
import { PRESET_IMAGES } from '../lib/presets/images';
import { BatchingEngine } from '../lib/rehearsal/batching';
import { notificationMessage, traceLinksOf } from '../lib/rehearsal/notification';
import { loadFolder } from '../lib/manifests';
import { AppLoadError, DEFAULT_APP_FILE, loadApp } from './app-loader';

const USAGE = `usage: npm run rehearse -- [APPFILE | --manifests DIR] [--rollout NAME] [--prometheus NAME] [--trials N] [--seed N] [--no-noise] [--json FILE]

Replays the AnalysisTemplate's gates, as Argo Rollouts v1.8.3 would run them, on a real
Prometheus engine, over many trials of each built-in scenario: each trial draws what a cluster
picks at random (discovery delay and scrape phase of the new canary pod, the collector's flush
and scrape phases, the export delay). Reports per scenario the share of trials with the
expected verdict and the time to verdict (p50, p95).

  APPFILE            the app file whose app is rehearsed, built in memory (default ${DEFAULT_APP_FILE})
  --manifests DIR    read the Rollouts, AnalysisTemplates, collector config and traffic generators
                     from DIR instead; every Rollout with an analysis step is rehearsed
  --rollout NAME     rehearse only this rollout (its name, or namespace/name)
  --prometheus NAME  the Prometheus setup: ${Object.keys(PROMETHEUS_PRESETS).join(', ')} or all
                     (the app is built for it, so its gate timings are that setup's; default: for
                     the app, the one each of its environments names; for DIR, the one it is made
                     for: kube-prometheus-stack when it has PodMonitors or ServiceMonitors,
                     community-chart otherwise)
  --trials N         trials per scenario (default 1000)
  --seed N           the seed of the random draws (default 1); the report names each shown trial's own seed
  --no-noise         count requests as rate x time with exact shares (no Poisson arrivals, no
                     random failures or latencies): the rehearsal before sampling noise
  --json FILE        also write the results as JSON to FILE

exit status: 0 every scenario reached its share (good canaries promoted in 99% of trials, bad
             ones stopped in all), 1 some did not (or bad input), 2 no Prometheus engine found`;

/** Trials per scenario: at 1000, a 1 % bound is measured to within about 0.6 % (95 % Wilson interval at 0.5 %). */
const DEFAULT_TRIALS = 1000;

interface Options {
  readonly app?: string;
  readonly manifests?: string;
  readonly rollout?: string;
  readonly json?: string;
  readonly prometheus?: string;
  readonly trials: number;
  readonly seed: number;
  readonly noise: boolean;
}

const FLAGS = ['--manifests', '--rollout', '--json', '--prometheus', '--trials', '--seed'] as const;

function parseArgs(argv: string[]): Options | 'help' {
  const opts: Record<string, string> = {};
  let app: string | undefined;
  let noise = true;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h') return 'help';
    if (a === '--no-noise') {
      noise = false;
      continue;
    }
    if (!a.startsWith('-') && app === undefined) {
      app = a;
      continue;
    }
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    if (!(FLAGS as readonly string[]).includes(flag)) throw new RehearsalInputError(`unknown option '${a}'\n${USAGE}`);
    const value = inline ?? argv[++i];
    if (!value) throw new RehearsalInputError(`${flag} needs a value\n${USAGE}`);
    opts[flag.slice(2)] = value;
  }
  const count = (name: string, fallback: number, min: number) => {
    if (opts[name] === undefined) return fallback;
    const n = Number(opts[name]);
    if (!Number.isInteger(n) || n < min) throw new RehearsalInputError(`--${name} must be a whole number of at least ${min}, got '${opts[name]}'`);
    return n;
  };
  if (opts.prometheus !== undefined && opts.prometheus !== 'all' && !PROMETHEUS_PRESETS[opts.prometheus]) {
    throw new RehearsalInputError(`--prometheus '${opts.prometheus}' is not a known setup; use one of ${Object.keys(PROMETHEUS_PRESETS).join(', ')} or all`);
  }
  if (app !== undefined && opts.manifests !== undefined) throw new RehearsalInputError(`give an app file or --manifests DIR, not both\n${USAGE}`);
  return { app, manifests: opts.manifests, rollout: opts.rollout, json: opts.json, prometheus: opts.prometheus, trials: count('trials', DEFAULT_TRIALS, 1), seed: count('seed', 1, 0), noise };
}

/**
 * The Prometheus setups a run covers: for a folder, the one it is made for unless --prometheus
 * names one; for an app, the one each environment names (undefined), unless --prometheus names
 * one or all.
 */
function backends(opts: Options, out: Output): (PrometheusBackend | undefined)[] {
  if (opts.prometheus === undefined && opts.manifests) {
    // A folder made for one setup rehearsed under another fails for the wrong reason (a PodMonitor
    // folder's 30 s gate timings under the chart's 1m scrape pause most good canaries).
    const setup = folderSetup(opts.manifests);
    out.log(`Prometheus setup: ${setup.preset}, since ${setup.reason} (another: --prometheus NAME)`);
    return [PROMETHEUS_PRESETS[setup.preset]()];
  }
  if (opts.prometheus === undefined) return [undefined];
  const names = opts.prometheus === 'all' ? Object.keys(PROMETHEUS_PRESETS) : [opts.prometheus];
  return names.map((n) => PROMETHEUS_PRESETS[n]());
}

/** A rehearsal target, and the app folder (environment) it is of. */
interface FolderTarget {
  readonly folder: string;
  readonly target: RehearsalTarget;
}

/**
 * The targets of one Prometheus setup: every Rollout with an analysis in the folder (read with
 * the presets' image facts), or every service of every environment of the app (built for that
 * setup, or for the one its environment names, and read with the facts of its own services).
 */
async function targetsOf(opts: Options, prometheus: PrometheusBackend | undefined, out: Output): Promise<FolderTarget[]> {
  if (opts.manifests) return targetsFromManifests(opts.manifests, { prometheus, images: PRESET_IMAGES }).map((target) => ({ folder: '', target }));
  const file = opts.app ?? DEFAULT_APP_FILE;
  const app = await loadApp(file);
  return app.describe({ prometheus }).flatMap((d) => {
    if (prometheus === undefined) {
      for (const delivery of d.deliveries) {
        out.log(`Prometheus setup: ${d.folder ? `${d.folder}: ` : ''}${delivery.prometheus.name}, the one environment '${delivery.environment.name}' names in ${file} (another: --prometheus NAME or all)`);
      }
    }
    return targetsFromModel(modelOf(d.manifests, d.options), `the app in ${file}${d.folder ? ` (${d.folder})` : ''}`).map((target) => ({ folder: d.folder, target }));
  });
}

/** The targets to rehearse: those of the rollout asked for, each named with its app folder when the app has several. */
function picked(all: readonly FolderTarget[], rollout: string | undefined): RehearsalTarget[] {
  const chosen = new Set(pickRollout(all.map((t) => t.target), rollout));
  const severalFolders = new Set(all.map((t) => t.folder)).size > 1;
  return all.filter((t) => chosen.has(t.target)).map(({ folder, target }) => (severalFolders ? { ...target, rollout: `${folder}: ${target.rollout}` } : target));
}

/** Where the CLI writes; the process's streams unless a test passes its own. */
export interface Output {
  log(line: string): void;
  error(line: string): void;
}

/** Runs the rehearsal CLI; resolves with its exit status. */
export async function rehearseCli(argv: string[], env: NodeJS.ProcessEnv = process.env, out: Output = console): Promise<number> {
  try {
    return await run(argv, env, out);
  } catch (e) {
    if (e instanceof EngineNotFoundError) {
      out.error(`rehearse: ${e.message}`);
      return 2;
    }
    // bad input and a failed engine say all there is; anything else is a bug, its stack helps
    const known = e instanceof RehearsalInputError || e instanceof EngineError || e instanceof AppLoadError;
    out.error(`rehearse: ${known ? e.message : e instanceof Error ? e.stack : String(e)}`);
    return 1;
  }
}

async function run(argv: string[], env: NodeJS.ProcessEnv, out: Output): Promise<number> {
  const opts = parseArgs(argv);
  if (opts === 'help') {
    out.log(USAGE);
    return 0;
  }
  const binaries = locateEngine(env);
  const perSetup = await Promise.all(backends(opts, out).map((prometheus) => targetsOf(opts, prometheus, out)));
  const targets = picked(perSetup.flat(), opts.rollout);
  const started = Date.now();
  const data = prepareRehearsal(targets, { trials: opts.trials, seed: opts.seed, noise: opts.noise });
  const engine = await PrometheusEngine.start(() => data.stream(), binaries);
  try {
    const results = await runScenarios(data, new BatchingEngine(engine));
    const rollouts = [...new Set(targets.map((t) => t.rollout))];
    out.log(`rehearsing ${rollouts.length === 1 ? 'rollout' : `${rollouts.length} rollouts:`} ${rollouts.join(', ')} from ${opts.manifests ?? `the app in ${opts.app ?? DEFAULT_APP_FILE}`}\n`);
    out.log(formatResults(results));
    // what the verdict notifications would send: each scenario's example trial, on the first Prometheus setup
    const links = traceLinksOf(opts.manifests ? loadFolder(opts.manifests).manifests : (await loadApp(opts.app ?? DEFAULT_APP_FILE)).describe().flatMap((d) => d.manifests));
    const firstSetup = new Set([...new Map(targets.map((t) => [t.rollout, t] as const)).values()]);
    for (const r of results.filter((x) => !x.scenario.point && firstSetup.has(x.target))) {
      const example = r.trials.find((t) => !t.asExpected) ?? r.trials[0];
      const message = example && notificationMessage(example.outcome, r.target, links.get(r.target.namespace));
      if (message) out.log(`\nnotification of scenario ${r.scenario.name} (${r.target.rollout}, trial ${example.trial.index}):\n${message.replace(/^/gm, '  ')}`);
    }
    const trials = results.reduce((n, r) => n + r.trials.length, 0);
    out.log(`(${trials} trials of ${results.length} scenario runs on ${binaries.prometheus} in ${((Date.now() - started) / 1000).toFixed(1)}s, seed ${opts.seed}, `
      + `sampling noise ${opts.noise ? 'on' : 'off'})`);
    if (opts.json) writeFileSync(opts.json, `${JSON.stringify(toReport(results), null, 2)}\n`);
    return allAsExpected(results) ? 0 : 1;
  } finally {
    await engine.stop();
  }
}

if (require.main === module) {
  void rehearseCli(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
