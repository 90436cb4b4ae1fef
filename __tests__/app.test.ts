import { execFileSync } from 'child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync, existsSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { ApiObject, App, Chart } from 'cdk8s';
import { app as example } from '../examples/platform/main';
import { Delivery, LoadedManifest, runSynth } from '../lib';
import { loadManifests, yamlFilesUnder } from '../lib/manifests';
import { synthesizeSafely, SynthError } from '../lib/safe-synth';
import { HOTROD } from './helpers';

const ROOT = join(__dirname, '..');

/** The fixture app: HotROD delivered with the library's defaults. */
const fixture = (app: App) => new Delivery(app, 'Delivery', { environment: { name: 'test', applicationPrefix: '', applicationSetName: 'hotrod' }, services: [HOTROD] });

function synthTo(dir: string, define: (app: App) => unknown = fixture) {
  return synthesizeSafely({ outdir: dir, define });
}

function snapshotDir(dir: string): Record<string, string> {
  return Object.fromEntries(yamlFilesUnder(dir).map((f) => [f, readFileSync(join(dir, f), 'utf8')]));
}

describe('synth of an app', () => {
  let work: string;
  beforeEach(() => { work = mkdtempSync(join(tmpdir(), 'hotrod-synth-')); });
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  test('writes one folder per Argo CD app', () => {
    const { files } = synthTo(join(work, 'dist'));
    expect(files.sort()).toEqual([
      'argocd/AppProject.hotrod.k8s.yaml',
      'argocd/ApplicationSet.hotrod.k8s.yaml',
      'hotrod/AnalysisTemplate.hotrod-analysis.k8s.yaml',
      'hotrod/ConfigMap.argo-rollouts-notification-configmap.k8s.yaml',
      'hotrod/NetworkPolicy.hotrod.k8s.yaml',
      'hotrod/Rollout.hotrod.k8s.yaml',
      'hotrod/Service.hotrod.k8s.yaml',
      'otel/ConfigMap.canary-dashboard.k8s.yaml',
      'otel/ConfigMap.collector-config.k8s.yaml',
      'otel/DaemonSet.collector.k8s.yaml',
      'otel/NetworkPolicy.collector.k8s.yaml',
      'otel/Service.collector.k8s.yaml',
      // the community chart takes rules and routes through its values: a file beside the app folders
      'prometheus.values.yaml',
      'traffic-generator/Deployment.hotrod-traffic.k8s.yaml',
      'traffic-generator/NetworkPolicy.hotrod-traffic.k8s.yaml',
    ]);
  });

  test('the rules judge the objects as written: what the check is given equals the files read back', () => {
    let checked: LoadedManifest[] = [];
    const out = join(work, 'dist');
    synthesizeSafely({ outdir: out, define: fixture, check: (manifests) => { checked = manifests; return []; } });
    expect(checked).toHaveLength(14);
    expect(checked).toEqual(loadManifests(out));
  });

  test('is deterministic, and the output names no local path and no time', () => {
    // (whether dist/ is what main.ts synthesizes is __tests__/main-app.test.ts's check)
    synthTo(join(work, 'a'));
    synthTo(join(work, 'b'));
    const a = snapshotDir(join(work, 'a'));
    expect(snapshotDir(join(work, 'b'))).toEqual(a);
    for (const text of Object.values(a)) {
      expect(text).not.toContain(ROOT);
      expect(text).not.toContain(work);
      expect(text).not.toMatch(/\d{4}-\d\d-\d\dT\d\d:\d\d/);
    }
  });

  test('a throwing app leaves the previous output byte-identical', () => {
    const out = join(work, 'dist');
    synthTo(out);
    writeFileSync(join(out, 'otel', 'extra.yaml'), 'kind: ConfigMap\n');
    const before = snapshotDir(out);
    expect(() => synthTo(out, (app) => {
      fixture(app);
      new Chart(app, 'broken').node.addValidation({ validate: () => ['planted failure'] });
    })).toThrow(SynthError);
    expect(snapshotDir(out)).toEqual(before);
    expect(() => synthTo(out, () => { throw new Error('constructor blew up'); })).toThrow('constructor blew up');
    expect(snapshotDir(out)).toEqual(before);
  });

  test('a failing check leaves the previous output; a success removes stale files', () => {
    const out = join(work, 'dist');
    synthTo(out);
    mkdirSync(join(out, 'removed-app'));
    writeFileSync(join(out, 'removed-app', 'Deployment.old.k8s.yaml'), 'kind: Deployment\n');
    const before = snapshotDir(out);
    expect(() => synthesizeSafely({ outdir: out, define: fixture, check: () => ['otel/collector: planted'] }))
      .toThrow('otel/collector: planted');
    expect(snapshotDir(out)).toEqual(before);
    synthTo(out);
    expect(existsSync(join(out, 'removed-app'))).toBe(false);
    expect(Object.keys(snapshotDir(out))).toHaveLength(15);
  });

  test('a rule error stops the synth path of npm run synth and leaves dist/ byte-identical', () => {
    const out = join(work, 'dist');
    expect(runSynth({ outdir: out, define: fixture, output: { log: () => {}, error: () => {} } })).toBe(0);
    writeFileSync(join(out, 'hotrod', 'extra.yaml'), 'kind: ConfigMap\n');
    const before = snapshotDir(out);
    const lines: string[] = [];
    const code = runSynth({
      outdir: out,
      define: (app) => {
        const delivery = fixture(app);
        // A Service whose selector matches no pod: valid for cdk8s, caught only by the rules.
        new ApiObject(delivery.service('hotrod').chart, 'Orphan', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'orphan' }, spec: { selector: { app: 'hot-rod' }, ports: [{ port: 80 }] } });
      },
      output: { log: (l) => lines.push(l), error: (l) => lines.push(l) },
    });
    expect(code).toBe(1);
    expect(lines).toEqual([
      'synth failed; ' + out + '/ was left as it was:',
      expect.stringMatching(/^ {2}Service\/hotrod\/orphan: services\/selector-no-match: selector \{app=hot-rod\} matches no pod template in namespace hotrod .*\(fix: /),
    ]);
    expect(snapshotDir(out)).toEqual(before);
  });

  test('npm run synth -- APPFILE (the README command) fails without touching the output on bad input', () => {
    const out = join(work, 'dist');
    synthesizeSafely({ outdir: out, apps: example.apps });
    const before = snapshotDir(out);
    // The entry point of `npm run synth -- examples/platform/main.ts` (the type check is npm test's
    // here), with the app made invalid through its environment.
    const run = () => execFileSync(process.execPath, [join(ROOT, 'cli', 'run.js'), '--synth', 'examples/platform/main.ts'], {
      cwd: ROOT, env: { ...process.env, CDK8S_OUTDIR: out, HOTROD_REPO_URL: 'not a url' }, stdio: 'pipe',
    });
    expect(run).toThrow(/repoUrl 'not a url' is not a git URL/);
    expect(snapshotDir(out)).toEqual(before);
  });
});
