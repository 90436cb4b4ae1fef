import { spawnSync } from 'child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';

import { checkUnlessUnchanged } from './unchanged';

const ROOT = join(__dirname, '..');

/**
 * cli/run.js, the runner of `npm run synth` (and so of the pre-commit hook), on a project of
 * one tiny main.ts: the same code path as the real app's, at a fraction of its type check.
 */
describe('node cli/run.js [--typecheck] main', () => {
  let work: string;
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'hotrod-run-'));
    for (const dir of ['cli', 'lib', 'imports']) mkdirSync(join(work, dir));
    for (const f of ['run.js', 'transpile.js', 'compile-cache.js']) copyFileSync(join(ROOT, 'cli', f), join(work, 'cli', f));
    mkdirSync(join(work, 'node_modules'));
    for (const pkg of ['esbuild', 'typescript']) symlinkSync(join(ROOT, 'node_modules', pkg), join(work, 'node_modules', pkg), 'dir');
    // No default library (a fifth of the check's time): the few global types the compiler needs.
    const options = { strict: true, noEmit: true, target: 'ES2022', module: 'commonjs', noLib: true, types: [] };
    writeFileSync(join(work, 'lib', 'globals.d.ts'), ['Array<T>', 'Boolean', 'CallableFunction', 'Function', 'IArguments', 'NewableFunction', 'Number', 'Object', 'RegExp', 'String']
      .map((t) => `interface ${t} {}\n`).join('') + 'declare const require: (id: string) => any;\n');
    // Every .ts file, as the project's own tsconfig includes them.
    writeFileSync(join(work, 'tsconfig.json'), JSON.stringify({ compilerOptions: options, include: ['**/*.ts'] }));
    writeFileSync(join(work, 'tsconfig.build.json'), JSON.stringify({ extends: './tsconfig.json' }));
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  /** Writes main.ts, which writes lib/text.ts's `text` to out.txt after a declaration that type-checks or not. */
  const writeMain = (declaration = 'const n: number = 1;') => writeFileSync(join(work, 'main.ts'),
    `import { text } from './lib/text';\n${declaration}\nrequire('fs').writeFileSync('out.txt', text + n);\n`);
  const writeText = (text: string) => writeFileSync(join(work, 'lib', 'text.ts'), `export const text = ${JSON.stringify(text)};\n`);
  const run = (...args: string[]) => spawnSync(process.execPath, [join(work, 'cli', 'run.js'), ...args], { cwd: work, encoding: 'utf8' });
  const out = () => readFileSync(join(work, 'out.txt'), 'utf8');

  test('runs the sources as they are now, never a stale build', () => {
    writeMain();
    writeText('first');
    expect(run('main').stderr).toBe('');
    expect(out()).toBe('first1');
    writeText('other');
    expect(run('main').stderr).toBe('');
    expect(out()).toBe('other1');
  });

  test('--typecheck stops on a type error with its file and line, before the app runs', () => {
    writeMain('const n: number = "1";');
    const r = run('--typecheck', 'main');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^main\.ts\(2,7\): error TS2322: Type 'string' is not assignable to type 'number'\.$/m);
    expect(r.stderr).toContain('synth stopped: the sources do not type-check');
    expect(out()).toBe('other1');
  });

  test('any .ts file of the project is an entry, named as the user types it: an app file in a folder of its own', () => {
    writeMain();
    writeText('shared');
    mkdirSync(join(work, 'apps'), { recursive: true });
    const payments = (declaration: string) => writeFileSync(join(work, 'apps', 'payments.ts'),
      `import { text } from '../lib/text';\n${declaration}\nrequire('fs').writeFileSync('out.txt', 'payments ' + text + n);\n`);
    payments('const n: number = 1;');
    for (const entry of ['apps/payments', 'apps/payments.ts', './apps/payments.ts', join(work, 'apps', 'payments.ts')]) {
      rmSync(join(work, 'out.txt'), { force: true });
      expect(run('--typecheck', entry).stderr).toMatch(/^(type-checking .*\n)?$/);
      expect(out()).toBe('payments shared1');
    }
    // its type errors stop it with its own file and line
    payments('const n: number = "1";');
    const r = run('--typecheck', 'apps/payments.ts');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^apps\/payments\.ts\(2,7\): error TS2322: Type 'string' is not assignable to type 'number'\.$/m);
    expect(out()).toBe('payments shared1');
    rmSync(join(work, 'apps'), { recursive: true });
    const missing = run('apps/nope');
    expect(missing.status).toBe(2);
    expect(missing.stderr).toBe(`no such entry point: apps/nope (looked for apps/nope.ts in ${work}); give a .ts file of the project, such as main or apps/payments.ts\n`);
  });

  test('--synth APPFILE synthesizes the app the file exports, which need not run its synth itself (npm run synth -- APPFILE)', () => {
    writeMain();
    mkdirSync(join(work, 'apps'), { recursive: true });
    writeFileSync(join(work, 'apps', 'shop.ts'), "export const app = { synth: (): number => { require('fs').writeFileSync('out.txt', 'synth of shop'); return 3; } };\n");
    const r = run('--typecheck', '--synth', 'apps/shop.ts');
    expect([r.status, r.stderr.replace(/^type-checking .*\n/, '')]).toEqual([3, '']);
    expect(out()).toBe('synth of shop');
    // main.ts exports no app: said, with what to write
    const none = run('--synth');
    expect(none.status).toBe(2);
    expect(none.stderr).toContain('main.ts exports no app; end it with: export const app = deliveryApp(');
    rmSync(join(work, 'apps'), { recursive: true });
  });
});

describe('checkUnlessUnchanged (the memo of the generated-file checks)', () => {
  test('runs the check again when a file it reads changes, and never records a failure', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hotrod-unchanged-'));
    try {
      const file = join(dir, 'generated.txt');
      writeFileSync(file, 'one');
      const name = 'checkUnlessUnchanged self-test'; // one stamp, rewritten; the folder's name is new each time
      let runs = 0;
      const check = (fail = false) => checkUnlessUnchanged(name, [dir], () => {
        runs++;
        if (fail) throw new Error('stale');
      });
      check();
      check();
      expect(runs).toBe(1);
      writeFileSync(file, 'two');
      expect(() => check(true)).toThrow('stale');
      expect(() => check(true)).toThrow('stale');
      expect(runs).toBe(3);
      check();
      check();
      expect(runs).toBe(4);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
