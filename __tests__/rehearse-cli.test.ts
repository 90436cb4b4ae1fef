import { mkdtempSync, readFileSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { rehearseCli } from '../cli/rehearse';
import { locateEngine } from '../lib/rehearsal/prometheus-engine';
import { twoServiceFolder } from './helpers';

/** Runs the CLI in-process, collecting what it prints. */
async function rehearse(args: string[], env: NodeJS.ProcessEnv = process.env) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const code = await rehearseCli(args, env, { log: (l) => stdout.push(l), error: (l) => stderr.push(l) });
  return { code, stdout: stdout.join('\n'), stderr: stderr.join('\n') };
}

let hasEngine = true;
try {
  locateEngine();
} catch {
  hasEngine = false;
}

/** The two-service folder, written once for this file's tests, which only read it. */
let folder: string | undefined;
const twoServices = () => (folder ??= twoServiceFolder());

describe('npm run rehearse', () => {
  const out = mkdtempSync(join(tmpdir(), 'rehearse-cli-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  test('without promtool and prometheus it exits 2 and says how to install them', async () => {
    const r = await rehearse([], { PATH: out });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('promtool is not on PATH and PROMTOOL is not set');
    expect(r.stderr).toContain('apt-get install prometheus');
    expect(r.stderr).toContain('brew install prometheus');
    expect(r.stderr).toContain('https://prometheus.io/download/');
  });

  test('a folder without a rollout is a clear error, exit 1', async () => {
    const r = await rehearse(['--manifests', out]);
    expect(r).toMatchObject({ code: hasEngine ? 1 : 2 });
    if (hasEngine) expect(r.stderr).toBe(`rehearse: ${out}: no Rollout with a canary analysis step; the rehearsal replays the analysis a Rollout's canary step runs (spec.strategy.canary.steps[].analysis)`);
  });

  test('an unknown option is refused with the usage', async () => {
    const r = await rehearse(['--manifest', 'dist']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("unknown option '--manifest'");
    expect(r.stderr).toContain('usage: npm run rehearse');
  });

  test('a trial count that is not a whole number is refused', async () => {
    const r = await rehearse(['--trials', '2.5']);
    expect(r.code).toBe(hasEngine ? 1 : 2);
    if (hasEngine) expect(r.stderr).toBe("rehearse: --trials must be a whole number of at least 1, got '2.5'");
  });

  test('an unknown Prometheus setup is refused with the known ones', async () => {
    const r = await rehearse(['--prometheus', 'thanos']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("--prometheus 'thanos' is not a known setup; use one of community-chart, challenge, kube-prometheus-stack or all");
  });

  test('a --rollout that names no rollout of the folder is refused with the ones there are', async () => {
    const r = await rehearse(['--manifests', twoServices(), '--rollout', 'cart']);
    expect(r.code).toBe(hasEngine ? 1 : 2);
    if (hasEngine) expect(r.stderr).toBe("rehearse: --rollout 'cart' names none of the rollouts with an analysis: checkout/checkout, hotrod/hotrod; give one of them (name or namespace/name)");
  });

  const withEngine = hasEngine || process.env.CI === 'true' ? test : test.skip;

  withEngine('--manifests DIR --rollout NAME --json FILE rehearses that rollout, exits 0 and writes the documented JSON', async () => {
    const file = join(out, 'r.json');
    const r = await rehearse(['--manifests', twoServices(), '--rollout', 'hotrod', '--trials', '3', '--json', file]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Prometheus setup: community-chart, since it has no PodMonitor or ServiceMonitor: pods are scraped by their annotations (another: --prometheus NAME)');
    expect(r.stdout).toContain('rehearsing rollout hotrod/hotrod from');
    expect(r.stdout).toMatch(/hotrod\/hotrod on prometheus-community chart 29\.1\.0 \(scrape 60s, spanmetrics flush 15s, canary [0-9.]+ req\/s\): 3 trials per scenario/);
    expect(r.stdout).toContain('  gates: traffic-at-least-58-requests (traffic), error-rate-lt-5-percent (error-rate), latency-p95-lt-1s (latency)');
    expect(r.stdout).not.toContain('checkout/checkout');
    // 8 scenarios of the whole run, and each share gate's operating characteristic at 5 points
    expect(r.stdout).toContain('  operating characteristic: each gate alone, at true shares of bad requests from none to four times its threshold, over the trials');
    expect(r.stdout).toContain('      true share              0%          2.5%            5%           10%           20%');
    expect(r.stdout).toContain('all 18 scenario runs reached their expected verdicts');
    expect(r.stdout).toContain('sampling noise on');
    const json = JSON.parse(readFileSync(file, 'utf8'));
    expect(json.setups.map((s: any) => [s.rollout, s.prometheus])).toEqual([['hotrod/hotrod', 'prometheus-community chart 29.1.0']]);
    expect(json.setups[0].gates).toEqual([
      { name: 'traffic-at-least-58-requests', kind: 'traffic' }, { name: 'error-rate-lt-5-percent', kind: 'error-rate' }, { name: 'latency-p95-lt-1s', kind: 'latency' }]);
    const idle = json.setups[0].scenarios.find((s: any) => s.name === 'idle-canary');
    expect(Object.keys(idle)).toEqual(['name', 'description', 'expectation', 'expected', 'expectedGate', 'gates', 'trials', 'share', 'requiredShare', 'asExpected', 'verdicts', 'decidedAfterSeconds', 'example']);
    expect(idle).toMatchObject({ expectation: 'stopped', expected: ['Failed'], expectedGate: 'traffic', trials: 3, share: 1, requiredShare: 1, asExpected: true, verdicts: { Failed: 3 } });
    expect(Object.keys(idle.example.gates[0])).toEqual(['name', 'phase', 'decidedAfterSeconds', 'measurements']);
    // the idle canary fails at the traffic gate's first look, with no series at all
    expect(idle.example.gates[0].measurements).toEqual([{ atSeconds: idle.decidedAfterSeconds.p50, value: null, phase: 'Failed' }]);
    expect(json.setups[0].scenarios.find((s: any) => s.name === 'healthy')).toMatchObject({ requiredShare: 0.99, share: 1 });
    // the operating characteristic: each share gate alone at 0 to 4 times its threshold, bounded at good and bad
    const oc = json.setups[0].operatingCharacteristic;
    expect(oc.map((row: any) => [row.gate, row.threshold, row.designed, row.points.map((p: any) => p.multiple)])).toEqual([
      ['error-rate-lt-5-percent', 0.05, true, [0, 0.5, 1, 2, 4]], ['latency-p95-lt-1s', 0.05, true, [0, 0.5, 1, 2, 4]]]);
    expect(oc[0].points[3]).toMatchObject({ share: 0.1, trials: 3, bound: { verdict: 'promoted', atMost: 0.01 } });
    expect(json.setups[0].scenarios.find((s: any) => s.name === 'error-rate-lt-5-percent@2x').gates).toEqual(['error-rate-lt-5-percent']);
  }, 30_000);

  withEngine('APPFILE rehearses every environment of the app on the Prometheus it names, and names each result\'s environment', async () => {
    const r = await rehearse(['examples/platform/main.ts', '--rollout', 'checkout', '--trials', '1']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain("Prometheus setup: staging: prometheus-community chart 29.1.0, the one environment 'staging' names in examples/platform/main.ts (another: --prometheus NAME or all)");
    expect(r.stdout).toContain("Prometheus setup: production: kube-prometheus-stack, the one environment 'production' names in examples/platform/main.ts (another: --prometheus NAME or all)");
    expect(r.stdout).toContain('rehearsing 2 rollouts: staging: checkout/checkout, production: checkout/checkout from the app in examples/platform/main.ts');
    expect(r.stdout).toMatch(/^staging: checkout\/checkout on prometheus-community chart 29\.1\.0 \(scrape 60s/m);
    expect(r.stdout).toMatch(/^production: checkout\/checkout on kube-prometheus-stack \(scrape 30s/m);
    expect(r.code).toBe(0);
  }, 30_000);

  withEngine('--manifests DIR rehearses every Rollout of the folder and says which each result is for', async () => {
    const r = await rehearse(['--manifests', twoServices(), '--prometheus', 'challenge', '--trials', '1']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('rehearsing 2 rollouts: checkout/checkout, hotrod/hotrod from');
    expect(r.stdout).toMatch(/checkout\/checkout on seed challenge environment \(scrape 10s, spanmetrics flush 15s, canary [0-9.]+ req\/s\): 1 trial per scenario/);
    expect(r.stdout).toMatch(/hotrod\/hotrod on seed challenge environment \(scrape 10s, spanmetrics flush 15s, canary [0-9.]+ req\/s\): 1 trial per scenario/);
    expect(r.stdout).toContain('all 36 scenario runs reached their expected verdicts');
    expect(r.code).toBe(0);
  }, 30_000);
});
