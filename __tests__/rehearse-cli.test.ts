import { mkdtempSync, readFileSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { rehearseCli } from '../cli/rehearse';
import { locateEngine } from '../lib';

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
    if (hasEngine) expect(r.stderr).toBe(`rehearse: ${out}: expected one Rollout with a canary analysis step, found 0`);
  });

  test('an unknown option is refused with the usage', async () => {
    const r = await rehearse(['--manifest', 'dist']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("unknown option '--manifest'");
    expect(r.stderr).toContain('usage: npm run rehearse');
  });

  (hasEngine || process.env.CI === 'true' ? test : test.skip)('--manifests dist --json FILE exits 0 and writes the documented JSON', async () => {
    const file = join(out, 'r.json');
    const r = await rehearse(['--manifests', 'dist', '--json', file]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('all 12 scenarios reached their expected verdicts');
    const json = JSON.parse(readFileSync(file, 'utf8'));
    const idle = json.scenarios.find((s: any) => s.name === 'idle-canary');
    expect(Object.keys(idle)).toEqual(['name', 'expected', 'verdict', 'decidedAfterSeconds', 'gates']);
    expect(idle).toMatchObject({ expected: 'Failed', verdict: 'Failed', decidedAfterSeconds: 80 });
    expect(Object.keys(idle.gates[1])).toEqual(['name', 'phase', 'decidedAfterSeconds', 'measurements']);
    expect(idle.gates[1].measurements[0]).toEqual({ atSeconds: 60, value: null, phase: 'Failed' });
  }, 20_000);
});
