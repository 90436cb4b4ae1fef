import { writeFileSync } from 'fs';
import { App } from 'cdk8s';
import { defineApp } from '../main';
import {
  allAsExpected,
  EngineNotFoundError,
  formatResults,
  locateEngine,
  prepareRehearsal,
  PrometheusEngine,
  RehearsalInputError,
  RehearsalTarget,
  runScenarios,
  targetFromManifests,
  targetFromStack,
  toReport,
} from '../lib/rehearsal';

const USAGE = `usage: npm run rehearse -- [--manifests DIR] [--json FILE]

Replays the AnalysisTemplate's gates, as Argo Rollouts v1.8.3 would run them, against
synthetic Prometheus series for each built-in scenario, on a real Prometheus engine.

  --manifests DIR  read the Rollout, AnalysisTemplate and collector config from DIR
                   (default: the app defined in main.ts, in memory)
  --json FILE      also write the results as JSON to FILE

exit status: 0 every verdict as expected, 1 some verdict unexpected (or bad input),
             2 no Prometheus engine (promtool and prometheus) found`;

interface Options {
  readonly manifests?: string;
  readonly json?: string;
}

function parseArgs(argv: string[]): Options | 'help' {
  const opts: { manifests?: string; json?: string } = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h') return 'help';
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    if (flag !== '--manifests' && flag !== '--json') throw new RehearsalInputError(`unknown option '${a}'\n${USAGE}`);
    const value = inline ?? argv[++i];
    if (!value) throw new RehearsalInputError(`${flag} needs a value\n${USAGE}`);
    opts[flag === '--json' ? 'json' : 'manifests'] = value;
  }
  return opts;
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
    out.error(`rehearse: ${e instanceof RehearsalInputError ? e.message : e instanceof Error ? e.stack : String(e)}`);
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
  const target: RehearsalTarget = opts.manifests ? targetFromManifests(opts.manifests) : targetFromStack(defineApp(new App()));
  const started = Date.now();
  const data = prepareRehearsal(target);
  const engine = await PrometheusEngine.start(data.openMetrics, binaries);
  try {
    const results = await runScenarios(target, data, engine);
    out.log(`rehearsing ${target.gates.map((g) => g.name).join(', ')} from ${target.source}\n`);
    out.log(formatResults(results));
    out.log(`(${results.length} scenarios on ${binaries.prometheus} in ${((Date.now() - started) / 1000).toFixed(1)}s)`);
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
