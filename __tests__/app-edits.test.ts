import { cpSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { dirname, join, resolve } from 'path';
import * as ts from 'typescript';
import { explainCopies } from '../cli/explain';
import type { DeliveryApp } from '../lib/app/delivery-app';
import { withReadmeSection } from '../lib/explain/markdown';
import { RehearsalTarget } from '../lib/rehearsal/target';
import { AppUnderTest, rehearsalEngine, rehearsalMisses, rehearsalTargets, staleOutput, staleReadme, validateAppErrors, validateErrors } from './app-checks';

/*
 * The app is the user's: five edits a user makes to main.ts (a threshold, a service of their own,
 * another Prometheus, a second environment, no traffic generator), each applied to a copy of the
 * repository. Each type-checks and synthesizes; before the re-synth the checks the repository
 * keeps (__tests__/main-app.test.ts) fail only at the committed output, saying `npm run synth`;
 * after it the output validates with 0 errors, explains every service, and (at the end, all edits
 * in one run) the rehearsal reaches every target. This is a test of the repository's tools on
 * today's main.ts: an edit whose anchor main.ts no longer has says so.
 */
const ROOT = join(__dirname, '..');
const MAIN = readFileSync(join(ROOT, 'main.ts'), 'utf8');

/** main.ts with `from` replaced by `to` (each pair in turn); throws when main.ts has no `from`. */
function edited(...pairs: [string, string][]): string {
  return pairs.reduce((text, [from, to]) => {
    if (!text.includes(from)) throw new Error(`main.ts no longer has ${JSON.stringify(from)}; update this edit to today's main.ts`);
    return text.replace(from, to);
  }, MAIN);
}

const HOTROD_SERVICE = "services: [{ name: 'hotrod', workload: hotrodWorkload({ tag: '1.76.0' }) }],";

interface Edit {
  readonly name: string;
  readonly text: string;
  /** each environment's folder ('' for the output folder itself) and its services */
  readonly services: Record<string, string[]>;
}

const EDITS: Edit[] = [
  {
    name: 'a threshold',
    text: edited(['maxP95: Duration.seconds(1)', 'maxP95: Duration.millis(800)']),
    services: { '': ['hotrod'] },
  },
  {
    // the issue's own service: HTTP on 9090, a POST with a JSON body, 1 % errors and p99 < 300 ms, and how it behaves when healthy
    name: 'a service of its own, with its own probe and a POST endpoint',
    text: edited(
      ["import { Duration } from 'cdk8s';", "import { Duration } from 'cdk8s';\nimport * as kplus from 'cdk8s-plus-28';"],
      ['import { Delivery, ', 'import { GateSpec, Delivery, '],
      [HOTROD_SERVICE, `services: [
      { name: 'hotrod', workload: hotrodWorkload({ tag: '1.76.0' }) },
      {
        name: 'payments',
        workload: {
          image: 'ghcr.io/acme/payments:1.4.0',
          ports: [{ name: 'http', number: 9090 }],
          securityContext: { user: 10001, group: 10001 },
          readiness: kplus.Probe.fromHttpGet('/healthz', { port: 9090 }),
          endpoints: [
            { spanName: 'POST /payments', caller: 'user', urls: ['/payments'], method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"amount": 1}' },
            { spanName: 'GET /healthz', caller: 'internal' },
          ],
          healthy: { errorRatio: 0.001, latency: { p50: Duration.millis(60), p99: Duration.millis(180) } },
        },
        gates: { maxErrorRatio: 0.01 },
        extraGates: [GateSpec.latency({ quantile: 0.99, max: Duration.millis(300) })],
      },
    ],`],
    ),
    services: { '': ['hotrod', 'payments'] },
  },
  {
    name: 'another Prometheus',
    text: edited(['prometheus: PrometheusBackend.communityChart(),', 'prometheus: PrometheusBackend.kubePrometheusStack(),']),
    services: { '': ['hotrod'] },
  },
  {
    name: 'a second environment without outputPath',
    text: edited(
      ["export const app = deliveryApp({\n  define: (scope) => new Delivery(scope, 'Delivery', {\n    environment,",
        "export const app = deliveryApp({\n  apps: [environment, { name: 'staging', destinationName: 'staging' }].map((env) => ({\n    folder: env.name,\n    define: (scope: App) => new Delivery(scope, 'Delivery', {\n    environment: env,"],
      ['    ...repositorySettings(process.cwd()),\n  }),\n});', '    ...repositorySettings(process.cwd()),\n  }),\n  })),\n});'],
      ["import { Duration } from 'cdk8s';", "import { App, Duration } from 'cdk8s';"],
    ),
    services: { default: ['hotrod'], staging: ['hotrod'] },
  },
  {
    name: 'no traffic generator',
    text: edited([HOTROD_SERVICE, "services: [{ name: 'hotrod', workload: hotrodWorkload({ tag: '1.76.0' }), trafficGenerator: false }],"]),
    services: { '': ['hotrod'] },
  },
];

/** The copy: main.ts, dist/ and README.md of its own; lib/, imports/ and node_modules/ linked (the modules load once, from their real paths). */
let copy: string;
const restore = () => {
  rmSync(join(copy, 'dist'), { recursive: true, force: true });
  cpSync(join(ROOT, 'dist'), join(copy, 'dist'), { recursive: true });
  cpSync(join(ROOT, 'README.md'), join(copy, 'README.md'));
};

/** Each edit's type errors, from one program of all five (tsc's own options), formatted as tsc prints them. */
let typeErrors: Map<string, string>;

beforeAll(() => {
  copy = mkdtempSync(join(tmpdir(), 'app-edits-'));
  for (const dir of ['lib', 'imports', 'node_modules']) symlinkSync(join(ROOT, dir), join(copy, dir), 'dir');
  restore();
  const files = EDITS.map((e, i) => {
    const file = join(copy, `main.edit-${i + 1}.ts`);
    writeFileSync(file, e.text);
    return file;
  });
  const config = ts.getParsedCommandLineOfConfigFile(join(ROOT, 'tsconfig.build.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (d) => { throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n')); } })!;
  const program = ts.createProgram(files, { ...config.options, noEmit: true, incremental: false, tsBuildInfoFile: undefined });
  const host = { getCanonicalFileName: (f: string) => f, getCurrentDirectory: () => copy, getNewLine: () => '\n' };
  typeErrors = new Map(EDITS.map((e, i) => {
    const source = program.getSourceFile(files[i])!;
    return [e.name, ts.formatDiagnostics([...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source)], host)];
  }));
}, 120_000);
afterAll(() => rmSync(copy, { recursive: true, force: true }));

/**
 * The app of the copy's main.ts, as `npm run synth` would load it: transpiled, with its imports
 * resolved from the copy (lib/ is linked, so they are the modules these tests have loaded).
 */
function loadMain(): DeliveryApp {
  const file = join(copy, 'main.ts');
  const { code } = require('../cli/transpile').transpile(readFileSync(file, 'utf8'), file) as { code: string };
  const mod = { exports: {} as { app?: DeliveryApp } };
  const req = (id: string) => require(id.startsWith('.') ? realpathSync(require.resolve(resolve(dirname(file), id))) : id);
  new Function('require', 'module', 'exports', '__filename', '__dirname', code)(req, mod, mod.exports, file, copy);
  return mod.exports.app!;
}

const binaries = rehearsalEngine('the rehearsal of the edited apps');

/** Every edit's rehearsal targets, each named with its edit, rehearsed in one run at the end. */
const targets: RehearsalTarget[] = [];

describe.each(EDITS)('main.ts with $name', (edit) => {
  test('type-checks and synthesizes; only the committed-output check fails until npm run synth, then it validates and explains every service', () => {
    expect(typeErrors.get(edit.name)).toBe('');
    restore();
    writeFileSync(join(copy, 'main.ts'), edit.text);
    const subject: AppUnderTest = { app: loadMain(), root: copy, file: 'main.ts', readme: 'README.md' };

    // BEFORE the re-synth: the committed output is the old one, and says what to run
    expect(staleOutput(subject)).toEqual([expect.stringMatching(/^dist\/ is not what main\.ts synthesizes: \d+ file\(s\) differ .*; run npm run synth and commit dist\/ with the code$/)]);
    expect(validateErrors(subject)).toEqual([]);
    expect(staleReadme(subject)).toEqual([]);

    // npm run synth: the staging synth, every rule with the app's own setup, the swap
    const lines: string[] = [];
    expect(subject.app.synth({ outdir: join(copy, 'dist'), output: { log: (l) => lines.push(l), error: (l) => lines.push(l) } })).toBe(0);
    expect(lines.filter((l) => /error/.test(l))).toEqual([expect.stringMatching(/: 0 errors, \d+ warning\(s\)$/)]);

    // AFTER: the committed output is the app's, and validates with 0 errors, as it is and as the app's environments have it
    expect(staleOutput(subject)).toEqual([]);
    expect(validateErrors(subject)).toEqual([]);
    expect(validateAppErrors(subject)).toEqual([]);
    // explain shows every service of every environment (and `npm run explain -- --update-readme` writes it)
    const [{ markdown }] = explainCopies(subject.app, copy);
    for (const [folder, services] of Object.entries(edit.services)) {
      for (const s of services) {
        expect(markdown).toContain(`rollout["Rollout ${s} (namespace ${s})`);
        if (Object.keys(edit.services).length > 1 || services.length > 1) expect(markdown).toContain(`## ${folder ? `${folder}: ` : ''}${s}/${s}\n`);
      }
    }
    expect(subject.app.describe().map((d) => d.folder)).toEqual(Object.keys(edit.services));
    writeFileSync(join(copy, 'README.md'), withReadmeSection(readFileSync(join(copy, 'README.md'), 'utf8'), markdown));

    targets.push(...rehearsalTargets(subject).map((t) => ({ ...t, rollout: `${edit.name}: ${t.rollout}` })));
  }, 60_000);
});

(binaries ? test : test.skip)('every edit rehearses with every scenario as expected (2 trials each, one engine for all)', async () => {
  expect(targets.map((t) => t.rollout)).toEqual(EDITS.flatMap((e) => Object.entries(e.services).flatMap(([folder, services]) => services.map((s) => `${e.name}: ${folder ? `${folder}: ` : ''}${s}/${s}`))));
  expect(await rehearsalMisses(targets, binaries!)).toEqual([]);
}, 120_000);
