import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import { chmodSync, chownSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { basename, join } from 'path';
import { ApiObject, App, Chart } from 'cdk8s';
import { failureHeadline } from '../lib/app/run-synth';
import { OutputState, SafeSynthOptions, SynthError, SynthFs, synthesizeSafely, SynthStep } from '../lib/safe-synth';

const ROOT = join(__dirname, '..');

/** Every file under `dir` (relative path -> content); undefined when there is no such folder. */
function tree(dir: string): Record<string, string> | undefined {
  if (!existsSync(dir)) return undefined;
  const files = (readdirSync(dir, { recursive: true }) as string[]).filter((f) => statSync(join(dir, f)).isFile()).sort();
  return Object.fromEntries(files.map((f) => [f, readFileSync(join(dir, f), 'utf8')]));
}

/** What a synth of `dist` leaves beside it: staging and previous folders, the lock, stale locks. */
const besides = (parent: string, name = 'dist') => readdirSync(parent).filter((n) => n.startsWith(`.${name}.`)).sort();

/** A pid no process has (one that just ended). */
const deadPid = () => spawnSync(process.execPath, ['-e', '0']).pid!;

/**
 * A small project to run synths in as child processes: cli/run.js, the library (linked), the
 * fixture app as main.ts (__tests__/fixtures/synth-app) and the project's cdk8s.yaml. Its type
 * check reads only main.ts and a few global types, so it takes a fraction of the real one.
 */
let work: string;
let dist: string;
/** what VERSION=old and VERSION=new write */
let OLD: Record<string, string>;
let NEW: Record<string, string>;
let oldCopy: string;

function node(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, args, { cwd: work, env: { ...process.env, CDK8S_CHECK_UPGRADE: 'false', ...env }, encoding: 'utf8' });
}
/** `npm run synth`'s runner on the fixture app, into dist/ (CDK8S_OUTDIR, as cdk8s synth gives it). */
const synth = (env: NodeJS.ProcessEnv = {}) => node([join(work, 'cli', 'run.js'), 'main'], { CDK8S_OUTDIR: dist, ...env });
/** `npx cdk8s synth ARGS` in the small project (cdk8s-cli's own script, without npx's start). */
const cdk8sSynth = (args: string[] = [], env: NodeJS.ProcessEnv = {}) => node([join(ROOT, 'node_modules', 'cdk8s-cli', 'bin', 'cdk8s'), 'synth', ...args], env);
const lastGood = () => join(work, 'node_modules', '.cache', 'hotrod', 'last-good');
/**
 * What `cdk8s synth` printed before cdk8s-cli's own report of a failed app (`Error: command "..."
 * returned a non-zero exit code 1` and its stack, from cdk8s-cli's lib/cli/index.js, which no app
 * can turn off): the app's part, which must hold no stack trace.
 */
const appPart = (stderr: string) => stderr.split(/^Error: command "/m)[0];

/** dist/ holds the old output again, with nothing beside it and no last good copy. */
function resetDist() {
  for (const n of [...besides(work), 'dist']) rmSync(join(work, n), { recursive: true, force: true });
  rmSync(lastGood(), { recursive: true, force: true });
  cpSync(oldCopy, dist, { recursive: true });
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'hotrod-swap-'));
  dist = join(work, 'dist');
  mkdirSync(join(work, 'cli'));
  for (const f of ['run.js', 'transpile.js', 'compile-cache.js']) copyFileSync(join(ROOT, 'cli', f), join(work, 'cli', f));
  for (const dir of ['lib', 'imports']) symlinkSync(join(ROOT, dir), join(work, dir), 'dir');
  mkdirSync(join(work, 'node_modules'));
  for (const pkg of ['esbuild', 'typescript', 'cdk8s']) symlinkSync(join(ROOT, 'node_modules', pkg), join(work, 'node_modules', pkg), 'dir');
  copyFileSync(join(ROOT, '__tests__', 'fixtures', 'synth-app', 'main.ts'), join(work, 'main.ts'));
  copyFileSync(join(ROOT, 'cdk8s.yaml'), join(work, 'cdk8s.yaml'));
  // The rules find the Argo validators in imports/ of the folder with cdk8s.yaml and package.json.
  writeFileSync(join(work, 'package.json'), '{ "private": true }\n');
  // No default library: the few global types main.ts needs.
  mkdirSync(join(work, 'types'));
  writeFileSync(join(work, 'types', 'globals.d.ts'), ['Boolean', 'CallableFunction', 'Function', 'IArguments', 'NewableFunction', 'Number', 'Object', 'RegExp', 'String']
    .map((t) => `interface ${t} {}\n`).join('') + 'interface Array<T> { forEach(f: (value: T) => void): void }\n'
    + ['require: any', 'module: any', 'process: any', 'Atomics: any', 'Int32Array: any', 'SharedArrayBuffer: any', 'Number: any', 'Error: any']
      .map((d) => `declare var ${d};\n`).join(''));
  const options = { strict: true, noEmit: true, target: 'ES2022', module: 'commonjs', noLib: true, types: [] };
  writeFileSync(join(work, 'tsconfig.json'), JSON.stringify({ compilerOptions: options, include: ['main.ts', 'types/*.d.ts'] }));
  writeFileSync(join(work, 'tsconfig.build.json'), JSON.stringify({ extends: './tsconfig.json' }));

  const first = synth({ VERSION: 'old' });
  if (first.status !== 0) throw new Error(`the fixture app failed:\n${first.stderr}`);
  OLD = tree(dist)!;
  oldCopy = join(work, 'old-output');
  cpSync(dist, oldCopy, { recursive: true });
  expect(synth({ VERSION: 'new', CDK8S_OUTDIR: join(work, 'new-output') }).status).toBe(0);
  NEW = tree(join(work, 'new-output'))!;
  expect(Object.keys(OLD)).toEqual(['a/ConfigMap.a.k8s.yaml', 'b/ConfigMap.b.k8s.yaml', 'c/ConfigMap.c.k8s.yaml']);
  expect(Object.keys(NEW)).toEqual(['a/ConfigMap.a.k8s.yaml', 'b/ConfigMap.b.k8s.yaml', 'd/ConfigMap.d.k8s.yaml']);
}, 60_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('a synth killed at each step of its swap', () => {
  // Before the output folder is renamed aside, the old output is what a run finds; after the
  // new one is renamed in, the new.
  const cases: [SynthStep, 'old' | 'new'][] = [
    [SynthStep.LOCKED, 'old'], [SynthStep.STAGED, 'old'], [SynthStep.MOVED_ASIDE, 'old'],
    [SynthStep.SWAPPED, 'new'], [SynthStep.DISCARDING, 'new'], [SynthStep.DISCARDED, 'new'], [SynthStep.CACHED, 'new'],
  ];
  test.each(cases)('killed at %s: the next synth finds the whole %s output, removes what the killed one left, and says what it did', (step, expected) => {
    resetDist();
    const killed = synth({ VERSION: 'new', HOTROD_SYNTH_KILL_AT: step });
    expect(killed.signal).toBe('SIGKILL');
    // The next synth fails (the app throws), so what it leaves is what it found, after recovery.
    const next = synth({ FAIL: '1' });
    expect(next.status).toBe(1);
    expect(tree(dist)).toEqual(expected === 'old' ? OLD : NEW);
    expect(besides(work)).toEqual([]);
    const lines = next.stderr.trim().split('\n');
    expect(lines.slice(-2)).toEqual([`synth failed; ${dist}/ was left as it was:`, '  the app failed (FAIL is set)']);
    // Every step holds the lock, so the killed synth left it.
    expect(lines[0]).toMatch(new RegExp(`^took over the lock of dist/ from pid ${killed.pid}, since \\S+: .*, which is no longer running$`));
    if (step === SynthStep.MOVED_ASIDE) {
      expect(lines[1]).toMatch(new RegExp(`^dist/ was missing: a synth \\(pid ${killed.pid}\\) was stopped in the middle of its swap; put back the output it had moved aside \\(\\.dist\\.previous-${killed.pid}-[0-9a-f]{8}\\)$`));
    }
    expect(lines).toHaveLength(step === SynthStep.MOVED_ASIDE ? 4 : 3);
    if (step === SynthStep.SWAPPED) {
      // Killed before it wrote the last good copy: the next synth brought the copy up to date, so
      // a folder cdk8s synth deletes now comes back as the new output.
      rmSync(dist, { recursive: true });
      expect(synth({ FAIL: '1' }).status).toBe(1);
      expect(tree(dist)).toEqual(NEW);
    }
  }, 30_000);
});

describe('two synths of one folder at once', () => {
  /** A synth in the background: its exit code and its stderr so far. */
  function start(env: NodeJS.ProcessEnv) {
    const child = spawn(process.execPath, [join(work, 'cli', 'run.js'), 'main'], { cwd: work, env: { ...process.env, CDK8S_OUTDIR: dist, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d) => { stderr += d; });
    const done = new Promise<number | null>((resolve) => child.on('close', resolve));
    return { child, done, stderr: () => stderr };
  }
  const until = async (what: () => boolean) => {
    for (let i = 0; !what(); i++) {
      if (i > 1500) throw new Error('waited 30 s');
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  /** From the old output, a first synth that holds the lock (its app waits for a file) until release(); resolves once it holds it. */
  async function holding() {
    resetDist();
    const file = join(work, 'release-first');
    rmSync(file, { force: true });
    const first = start({ VERSION: 'first', HOLD_UNTIL: file });
    await until(() => existsSync(join(work, '.dist.lock')));
    return { ...first, release: () => writeFileSync(file, '') };
  }

  test('run one after the other: the second waits, both succeed, and dist/ is the second one\'s whole output', async () => {
    const first = await holding();
    const second = start({ VERSION: 'new' });
    await until(() => second.stderr().includes('waiting for'));
    first.release();
    expect(await first.done).toBe(0);
    expect(await second.done).toBe(0);
    expect(second.stderr()).toMatch(new RegExp(`^waiting for another synth of dist/ to end \\(pid ${first.child.pid}, since \\S+: .*\\), up to 30 s$`, 'm'));
    expect(tree(dist)).toEqual(NEW);
    expect(besides(work)).toEqual([]);
  }, 60_000);

  test('one that waits past its timeout fails, names the holder, and leaves dist/ to it', async () => {
    const first = await holding();
    const second = synth({ VERSION: 'new', HOTROD_SYNTH_LOCK_TIMEOUT: '0.2' });
    first.release();
    expect(second.status).toBe(1);
    expect(second.stderr).toContain(`synth failed; ${dist}/ was not touched by this run:`);
    expect(second.stderr).toMatch(new RegExp(`another synth of dist/ holds its lock \\.dist\\.lock: pid ${first.child.pid}, since `));
    expect(await first.done).toBe(0);
    expect(tree(dist)?.['a/ConfigMap.a.k8s.yaml']).toContain('version: first');
    expect(besides(work)).toEqual([]);
  }, 60_000);
});

describe('a failure injected at each file-system call of the lock, the swap and the sweep', () => {
  let dir: string;
  let out: string;
  let log: string[];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'hotrod-inject-'));
    out = join(dir, 'dist');
    log = [];
    // the old output, and its last good copy
    run('old');
    log = [];
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const define = (version: string) => (app: App) => {
    for (const name of version === 'new' ? ['a', 'd'] : ['a', 'c']) {
      new ApiObject(new Chart(app, name), 'config', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { version } });
    }
  };
  const expected = (version: string) => Object.fromEntries((version === 'new' ? ['a', 'd'] : ['a', 'c'])
    .map((name) => [`${name}/ConfigMap.${name}.k8s.yaml`, `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  version: ${version}\n`]));
  function run(version: string, options: Partial<SafeSynthOptions> = {}) {
    return synthesizeSafely({ outdir: out, define: define(version), lastGoodDir: join(dir, 'last-good'), log: (l) => log.push(l), ...options });
  }
  /** run(), and the headline npm run synth prints for its failure (any error but a SynthError is the app's, before the swap). */
  function failed(version: string, options: Partial<SafeSynthOptions> = {}): { error: SynthError; headline: string } {
    try {
      run(version, options);
    } catch (e) {
      const error = e instanceof SynthError ? e : new SynthError([String(e)]);
      return { error, headline: failureHeadline('dist', error) };
    }
    throw new Error('the synth succeeded');
  }
  /** node's fs with the calls of `name` whose arguments `when` accepts made to fail with `code`. */
  function failing<K extends keyof SynthFs>(name: K, when: (...args: any[]) => boolean, code = 'EIO'): SynthFs {
    const real = fs[name] as (...args: unknown[]) => unknown;
    return { ...fs, [name]: (...args: unknown[]) => {
      if (when(...args)) throw Object.assign(new Error(`${code}: injected failure, ${name} '${args[0]}'`), { code });
      return real(...args);
    } } as SynthFs;
  }
  const isStaging = (p: unknown) => typeof p === 'string' && basename(p).startsWith('.dist.staging-');
  const isPrevious = (p: unknown) => typeof p === 'string' && basename(p).startsWith('.dist.previous-');
  const throwing = () => { throw new Error('the app failed'); };

  test('(no failure) an output folder whose parent does not exist yet is made, as cdk8s makes its outdir', () => {
    const deep = join(dir, 'build', 'manifests');
    expect(synthesizeSafely({ outdir: deep, define: define('new'), lastGoodDir: false }).files).toHaveLength(2);
    expect(tree(deep)).toEqual(expected('new'));
    expect(besides(join(dir, 'build'), 'manifests')).toEqual([]);
  });

  test('creating the lock: dist/ not touched', () => {
    const { error, headline } = failed('new', { fs: failing('openSync', (p) => p === join(dir, '.dist.lock'), 'EACCES') });
    expect(headline).toBe('synth failed; dist/ was not touched by this run');
    expect(error.lines).toEqual([expect.stringMatching(/^could not create the lock .*\.dist\.lock: EACCES: injected failure/)]);
    expect(tree(out)).toEqual(expected('old'));
    expect(besides(dir)).toEqual([]);
  });

  test('making the staging folder: left as it was', () => {
    const { headline } = failed('new', { fs: failing('mkdirSync', isStaging) });
    expect(headline).toBe('synth failed; dist/ was left as it was');
    expect(tree(out)).toEqual(expected('old'));
    expect(besides(dir)).toEqual([]);
  });

  test('moving dist/ aside: left as it was', () => {
    const { error, headline } = failed('new', { fs: failing('renameSync', (from) => from === out) });
    expect(headline).toBe('synth failed; dist/ was left as it was');
    expect(error.lines[0]).toMatch(/^could not move .*dist\/ aside for the new output: EIO: injected failure/);
    expect(tree(out)).toEqual(expected('old'));
    expect(besides(dir)).toEqual([]);
  });

  test('moving the new output in: moved back, as it was', () => {
    const { error, headline } = failed('new', { fs: failing('renameSync', (from, to) => to === out && isStaging(from)) });
    expect(error.state).toBe(OutputState.PUT_BACK);
    expect(headline).toBe('synth failed; dist/ was moved aside for the swap and moved back, as it was');
    expect(tree(out)).toEqual(expected('old'));
    expect(besides(dir)).toEqual([]);
  });

  test('moving the new output in and the previous one back: dist/ missing, and the next synth puts it back', () => {
    const { error, headline } = failed('new', { fs: failing('renameSync', (_from, to) => to === out) });
    expect(error.state).toBe(OutputState.MOVED_ASIDE);
    expect(headline).toBe(`synth failed; dist/ is missing: its previous output is in ${error.previousAt}, and the next synth moves it back`);
    expect(existsSync(out)).toBe(false);
    expect(tree(error.previousAt!)).toEqual(expected('old'));
    // The next synth, even one that fails, starts by putting it back. (A previous folder of this
    // process counts as left by a stopped synth: synths of one folder do not overlap.)
    expect(failed('new', { define: throwing }).headline).toBe('synth failed; dist/ was left as it was');
    expect(log).toContainEqual(expect.stringMatching(/^.*dist\/ was missing: a synth \(pid \d+\) was stopped in the middle of its swap; put back the output it had moved aside/));
    expect(tree(out)).toEqual(expected('old'));
    expect(besides(dir)).toEqual([]);
  });

  test('renaming the previous output for removal: the new output in place, the old one named, and the next synth removes it', () => {
    const result = run('new', { fs: failing('renameSync', (from, to) => isPrevious(from) && isStaging(to)) });
    expect(result.state).toBe(OutputState.REPLACED);
    expect(result.previousLeftAt).toEqual({ path: expect.stringMatching(/\.dist\.previous-\d+-[0-9a-f]{8}$/), reason: expect.stringContaining('EIO') });
    expect(tree(out)).toEqual(expected('new'));
    expect(tree(result.previousLeftAt!.path)).toEqual(expected('old'));
    run('new');
    expect(besides(dir)).toEqual([]);
  });

  test('removing the previous output: the new output in place, the old one named, and the next synth removes it', () => {
    const result = run('new', { fs: failing('rmSync', (p, o) => isStaging(p) && o?.force !== true) });
    expect(result.previousLeftAt).toEqual({ path: expect.stringMatching(/\.dist\.staging-\d+-[0-9a-f]{8}$/), reason: expect.stringContaining('EIO') });
    expect(tree(out)).toEqual(expected('new'));
    expect(existsSync(result.previousLeftAt!.path)).toBe(true);
    expect(failed('new', { define: throwing }).headline).toBe('synth failed; dist/ was left as it was');
    expect(besides(dir)).toEqual([]);
  });

  test('writing the last good copy: the new output in place, and a warning', () => {
    const intoCopy = (_from: unknown, to: unknown) => String(to).startsWith(join(dir, 'last-good'));
    const result = run('new', { fs: { ...failing('linkSync', intoCopy), copyFileSync: failing('copyFileSync', intoCopy).copyFileSync } });
    expect(result.state).toBe(OutputState.REPLACED);
    expect(log).toEqual([expect.stringMatching(/^warning: could not update the last good copy of .*dist\/ in .*last-good: EIO: injected failure/)]);
    expect(tree(out)).toEqual(expected('new'));
    expect(besides(dir)).toEqual([]);
  });

  test('removing the lock: a warning, and the next synth takes the lock over', () => {
    run('new', { fs: failing('unlinkSync', (p) => p === join(dir, '.dist.lock')) });
    expect(log).toEqual([expect.stringMatching(/^warning: could not remove the lock .*\.dist\.lock: EIO/)]);
    expect(besides(dir)).toEqual(['.dist.lock']);
    log = [];
    run('old');
    expect(log).toEqual([expect.stringMatching(/^took over the lock of .*dist\/ that an earlier synth in this process did not remove$/)]);
    expect(tree(out)).toEqual(expected('old'));
    expect(besides(dir)).toEqual([]);
  });

  test('(no failure) the next synth removes every staging and previous folder stopped synths left, also when their pid runs again', () => {
    // a process that runs: the pid of a killed synth, in use again (pids are reused; a new container counts from 1)
    const reused = spawn('sleep', ['30']);
    try {
      const left = [`.dist.staging-${reused.pid}-0123abcd`, `.dist.previous-${reused.pid}-4567cdef`, `.dist.staging-${deadPid()}-89abcdef`, `.dist.previous-${deadPid()}-0a1b2c3d`];
      for (const name of left) mkdirSync(join(dir, name, 'a'), { recursive: true });
      // a lock being taken over by a waiter that runs is that waiter's
      writeFileSync(join(dir, `.dist.lock.stale-${reused.pid}-0123abcd`), '{}');
      expect(besides(dir)).toHaveLength(5);
      run('new');
      expect(tree(out)).toEqual(expected('new'));
      expect(besides(dir)).toEqual([`.dist.lock.stale-${reused.pid}-0123abcd`]);
    } finally {
      reused.kill();
    }
  });

  test('removing a stopped synth\'s folder: a warning, the synth goes on, and the next one removes it', () => {
    const stale = join(dir, `.dist.staging-${deadPid()}-0123abcd`);
    mkdirSync(join(stale, 'a'), { recursive: true });
    run('new', { fs: failing('rmSync', (p) => p === stale) });
    expect(log).toEqual([expect.stringMatching(/^warning: could not remove .*\.dist\.staging-\d+-0123abcd: EIO: injected failure.*; the next synth tries again/)]);
    expect(tree(out)).toEqual(expected('new'));
    run('new');
    expect(besides(dir)).toEqual([]);
  });
});

// Tests run as root here; `setpriv` runs the synth as nobody, who can rename dist/ but not
// remove a folder in it that root made (the case). Elsewhere the injected rmSync failure
// above stands in for it.
const asNobody = process.getuid?.() === 0 && spawnSync('setpriv', ['--version']).status === 0;
(asNobody ? test : test.skip)('as a user who cannot remove the previous output: the new output in place, the old one named, and a later synth removes it', () => {
  // Outside jest's temporary folder, which only root may enter.
  const base = mkdtempSync('/tmp/hotrod-nobody-');
  try {
    chmodSync(base, 0o755);
    const build = readdirSync(join(work, 'node_modules', '.cache', 'hotrod')).find((n) => n.startsWith('build-'))!;
    copyFileSync(join(work, 'node_modules', '.cache', 'hotrod', build, 'main.js'), join(base, 'app.js'));
    for (const f of ['cdk8s.yaml', 'package.json']) copyFileSync(join(work, f), join(base, f));
    // a copy, not a link: the checkout may sit where nobody cannot enter (a clone in a mktemp -d folder)
    cpSync(join(ROOT, 'imports'), join(base, 'imports'), { recursive: true });
    const out = join(base, 'out');
    mkdirSync(out);
    chownSync(out, 65534, 65534);
    const app = (env: NodeJS.ProcessEnv, user = true) => spawnSync(user ? 'setpriv' : process.execPath,
      [...(user ? ['--reuid=65534', '--regid=65534', '--clear-groups', '--', process.execPath] : []), join(base, 'app.js')],
      { cwd: base, env: { ...process.env, CDK8S_OUTDIR: join(out, 'dist'), ...env }, encoding: 'utf8' });
    expect(app({ VERSION: 'old' }).status).toBe(0);
    mkdirSync(join(out, 'dist', 'by-root'));
    writeFileSync(join(out, 'dist', 'by-root', 'note.txt'), 'root made this\n');
    const r = app({ VERSION: 'new' });
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/^warning: the previous output of \S+\/ could not be removed and is left in (\S+\.dist\.staging-\d+-[0-9a-f]{8}) \(EACCES: permission denied.*\); the next synth removes it, or says why it cannot$/m);
    expect(r.stderr).not.toContain('synth failed');
    expect(tree(join(out, 'dist'))).toEqual(NEW);
    const left = besides(out);
    expect(left).toEqual([expect.stringMatching(/^\.dist\.staging-\d+-[0-9a-f]{8}$/)]);
    // what the removal reached before the folder it could not empty
    expect(tree(join(out, left[0]))).toMatchObject({ 'by-root/note.txt': 'root made this\n' });
    // root's synth can remove it
    expect(app({ VERSION: 'new' }, false).status).toBe(0);
    expect(besides(out)).toEqual([]);
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
}, 30_000);

describe('npx cdk8s synth (the project\'s cdk8s.yaml: the type-checked synth into dist/)', () => {
  test('succeeds into dist/, and cdk8s-cli lists the files', () => {
    resetDist();
    const r = cdk8sSynth([], { VERSION: 'new' });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('  - dist/d/ConfigMap.d.k8s.yaml');
    expect(tree(dist)).toEqual(NEW);
  }, 30_000);

  test('with a failing app, leaves dist/ byte-identical though cdk8s-cli deleted it first', () => {
    const before = tree(dist);
    const r = cdk8sSynth([], { FAIL: '1' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/^dist\/ was missing \(`cdk8s synth` deletes its output folder before it runs the app\): restored its last good output, from the synth of \S+$/m);
    expect(r.stderr).toContain('synth failed; dist/ was left as it was:\n  the app failed (FAIL is set)\n');
    expect(appPart(r.stderr)).not.toMatch(/^\s+at /m);
    expect(r.stderr).toContain('returned a non-zero exit code 1');
    expect(tree(dist)).toEqual(before);
    expect(besides(work)).toEqual([]);
  }, 30_000);

  test('-o DIR with a failing app leaves DIR byte-identical', () => {
    rmSync(join(work, 'other'), { recursive: true, force: true });
    expect(synth({ VERSION: 'old', CDK8S_OUTDIR: 'other' }).status).toBe(0);
    const before = tree(join(work, 'other'));
    expect(before).toEqual(OLD);
    const r = cdk8sSynth(['-o', 'other'], { FAIL: '1' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('synth failed; other/ was left as it was:');
    expect(appPart(r.stderr)).not.toMatch(/^\s+at /m);
    expect(r.stderr).toContain('returned a non-zero exit code 1');
    expect(tree(join(work, 'other'))).toEqual(before);
  }, 30_000);

  test('with no last good copy, restores dist/ from git\'s HEAD, and says so', () => {
    const git = (...args: string[]) => spawnSync('git', ['-c', 'user.email=test@example.com', '-c', 'user.name=test', ...args], { cwd: work, encoding: 'utf8' });
    expect(git('init', '-q').status).toBe(0);
    expect(git('add', 'dist').status).toBe(0);
    expect(git('commit', '-qm', 'dist').status).toBe(0);
    const head = git('rev-parse', 'HEAD').stdout.trim();
    const before = tree(dist);
    rmSync(lastGood(), { recursive: true, force: true });
    // What cdk8s synth does (its start takes seconds on a busy machine): delete, then run the app.
    rmSync(dist, { recursive: true });
    const r = synth({ FAIL: '1', CDK8S_OUTDIR: 'dist' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`dist/ was missing (\`cdk8s synth\` deletes its output folder before it runs the app): restored it from git (HEAD ${head.slice(0, 12)}), as there is no last good copy of it\n`);
    expect(tree(dist)).toEqual(before);
    expect(git('status', '--porcelain', 'dist').stdout).toBe('');
  }, 30_000);

  test('a synth killed during its type check leaves no tsc running', async () => {
    rmSync(join(work, 'node_modules', '.cache', 'hotrod', 'typechecked'));
    const child = spawn(process.execPath, [join(work, 'cli', 'run.js'), '--typecheck', 'main'], { cwd: work, env: { ...process.env, CDK8S_OUTDIR: dist }, stdio: ['ignore', 'ignore', 'pipe'] });
    const exited = new Promise((resolve) => child.on('exit', resolve));
    await new Promise<void>((resolve) => child.stderr!.on('data', (d) => { if (String(d).includes('type-checking')) resolve(); }));
    child.kill('SIGKILL');
    await exited;
    const tsconfig = join(work, 'tsconfig.build.json');
    const running = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(tsconfig);
      } catch {
        return false;
      }
    });
    expect(running).toEqual([]);
  }, 30_000);

  // Last: it changes main.ts, which starts a new build (the bundles are made again: the slowest
  // test of the file, with cdk8s-cli's own start of 1 to 3 s).
  test('with a type error, stops with its file and line and leaves dist/ byte-identical', () => {
    const before = tree(dist);
    const lines = readFileSync(join(work, 'main.ts'), 'utf8').split('\n');
    const at = lines.indexOf('const env = process.env;') + 1;
    lines.splice(at, 0, "const tag: number = '1.76.0';");
    writeFileSync(join(work, 'main.ts'), lines.join('\n'));
    const r = cdk8sSynth([]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(new RegExp(`^main\\.ts\\(${at + 1},7\\): error TS2322: Type 'string' is not assignable to type 'number'\\.$`, 'm'));
    expect(r.stderr).toContain('synth stopped: the sources do not type-check (see above); nothing was written.');
    expect(appPart(r.stderr)).not.toMatch(/^\s+at /m);
    expect(r.stderr).toContain('returned a non-zero exit code 1');
    expect(tree(dist)).toEqual(before);
  }, 60_000);
});
