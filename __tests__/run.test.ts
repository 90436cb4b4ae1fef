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
    writeFileSync(join(work, 'tsconfig.json'), JSON.stringify({ compilerOptions: options, include: ['main.ts', 'lib/*.ts'] }));
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
