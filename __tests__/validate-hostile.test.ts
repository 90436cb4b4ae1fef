import { spawnSync } from 'child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join, relative } from 'path';
import { main, ValidateExit } from '../cli/validate';
import { aliasBomb, bigFile, configMapWithKeys } from './hostile-inputs';

/**
 * `validate` on input people have: every bad file is a finding of its own (never a crash, a hang
 * or a stack trace), with the exit code docs/validate.md documents, and the good files beside it are
 * still checked.
 */
const ROOT = join(__dirname, '..');
const FIXTURES = join(__dirname, 'fixtures');

/** A good file with a finding of its own: a Service (without selector) whose port is not a number; one that selects no pod is not judged in a folder without workloads. */
const LONELY_SERVICE = 'apiVersion: v1\nkind: Service\nmetadata: {name: lonely, namespace: default}\nspec:\n  ports: [{port: eighty}]\n';
const LONELY_FINDING = /^lonely\.yaml: error: Service\/default\/lonely: schema\/core: /;
const CONFIG_MAP = 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: plain, namespace: default}\ndata: {a: b}\n';

const STACK_LINE = /^\s+at /;

/** Runs `validate` in this process; the exit code, what it printed and the CPU seconds it took (the wall clock of a shared machine says less). */
function validate(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const cpu = process.cpuUsage();
  const code = main(argv, { out: (l) => out.push(l), err: (l) => err.push(l) }, { kustomize: () => undefined });
  const used = process.cpuUsage(cpu);
  return { code, out, err, lines: [...out, ...err], cpuSeconds: (used.user + used.system) / 1e6 };
}

type Result = ReturnType<typeof validate>;

/** The finding about a file by a rule, at a severity; and no stack trace anywhere. */
function expectFinding(result: Result, file: string, id: string, severity = 'error'): string {
  expect(result.lines.filter((l) => STACK_LINE.test(l))).toEqual([]);
  const line = result.out.find((l) => l.startsWith(`${file}: ${severity}: ${id}: `));
  expect({ file, id, line, out: result.out }).toEqual({ file, id, line: expect.any(String), out: result.out });
  return line!;
}

/** The good files were checked: the Service's own finding, and both objects counted. */
function expectGoodFilesChecked(result: Result, objects = 2): void {
  expect(result.out.some((l) => LONELY_FINDING.test(l))).toBe(true);
  expect(result.out[result.out.length - 1]).toMatch(new RegExp(`: ${objects} objects, `));
}

describe('validate on hostile input', () => {
  let work: string;
  let dir: string;
  beforeEach(() => {
    work = mkdtempSync(join(tmpdir(), 'hotrod-hostile-'));
    dir = join(work, 'manifests');
    mkdirSync(dir);
    writeFileSync(join(dir, 'lonely.yaml'), LONELY_SERVICE);
    writeFileSync(join(dir, 'plain.yaml'), CONFIG_MAP);
  });
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  test('a YAML alias bomb is an error of its own document, found before it is expanded', () => {
    writeFileSync(join(dir, 'bomb.yaml'), aliasBomb());
    const result = validate(dir);
    expect(expectFinding(result, 'bomb.yaml', 'input/alias-limit')).toContain('its aliases would add 1234567890 nodes to its 29');
    expect(result.code).toBe(ValidateExit.ERRORS);
    expectGoodFilesChecked(result);
    expect(result.cpuSeconds).toBeLessThan(2);
  });

  test('links that lead to each other (ELOOP) and a dangling link cannot be read: exit 2, the rest checked', () => {
    symlinkSync('b.yaml', join(dir, 'a.yaml'));
    symlinkSync('a.yaml', join(dir, 'b.yaml'));
    symlinkSync('gone.yaml', join(dir, 'dangling.yaml'));
    const result = validate(dir);
    expect(expectFinding(result, 'a.yaml', 'input/symlink-loop')).toContain("a link to 'b.yaml' that leads back to itself");
    expectFinding(result, 'b.yaml', 'input/symlink-loop');
    expect(expectFinding(result, 'dangling.yaml', 'input/unreadable')).toContain("a link to 'gone.yaml', which does not exist");
    expect(result.code).toBe(ValidateExit.UNREADABLE);
    expect(result.out[result.out.length - 1]).toMatch(/, 3 file\(s\) or folder\(s\) not read$/);
    expectGoodFilesChecked(result);
  });

  test('a file and a folder without permission cannot be read: exit 2, the rest checked', () => {
    // root reads whatever the mode says: as root, the check runs with the effective uid of nobody
    const root = process.getuid?.() === 0;
    const base = root ? mkdtempSync('/tmp/hotrod-hostile-') : work;
    try {
      const folder = join(base, 'manifests');
      mkdirSync(join(folder, 'locked'), { recursive: true });
      writeFileSync(join(folder, 'lonely.yaml'), LONELY_SERVICE);
      writeFileSync(join(folder, 'plain.yaml'), CONFIG_MAP);
      writeFileSync(join(folder, 'secret.yaml'), CONFIG_MAP.replace('plain', 'secret'));
      writeFileSync(join(folder, 'locked', 'inside.yaml'), CONFIG_MAP.replace('plain', 'inside'));
      chmodSync(base, 0o755);
      chmodSync(folder, 0o755);
      chmodSync(join(folder, 'secret.yaml'), 0o000);
      chmodSync(join(folder, 'locked'), 0o644); // listed, but no entry in it can be opened (no execute permission)
      validate(folder); // loads every module while it can still read them all
      const result = asNobody(() => validate(folder));
      if (result === undefined) {
        console.warn('validate-hostile: running as root without the right to take another uid (seteuid), so unreadable files were not tested');
        return;
      }
      expect(expectFinding(result, 'secret.yaml', 'input/unreadable')).toContain('cannot be read (permission denied: EACCES)');
      expectFinding(result, 'locked/inside.yaml', 'input/unreadable');
      expect(result.code).toBe(ValidateExit.UNREADABLE);
      expectGoodFilesChecked(result);
    } finally {
      chmodSync(join(base, 'manifests', 'locked'), 0o755);
      if (root) rmSync(base, { recursive: true, force: true });
    }
  });

  test('a FIFO named pipe.yaml is skipped without being opened: no hang (the real command, in a child process)', () => {
    const mkfifo = spawnSync('mkfifo', [join(dir, 'pipe.yaml')]);
    if (mkfifo.status !== 0) {
      console.warn(`validate-hostile: mkfifo failed (${mkfifo.error?.message ?? mkfifo.stderr}), the FIFO was not tested`);
      return;
    }
    const child = spawnSync(process.execPath, [join(ROOT, 'cli', 'run.js'), 'cli/validate', '--no-kustomize', dir], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
    expect(child.signal).toBeNull(); // killed by the timeout: it hung
    const out = child.stdout.split('\n');
    expect([...out, ...child.stderr.split('\n')].filter((l) => STACK_LINE.test(l))).toEqual([]);
    expect(out).toContainEqual(expect.stringMatching(/^pipe\.yaml: warning: input\/not-a-file: a named pipe \(FIFO\), not a file: skipped without opening it/));
    expect(out).toContainEqual(expect.stringMatching(LONELY_FINDING));
    expect(child.status).toBe(ValidateExit.ERRORS); // the Service's error; a FIFO is only a warning
  });

  test('a binary file named x.yaml is an error with a short escaped excerpt and its offset', () => {
    const binary = Buffer.concat([Buffer.from('\x7fELF\x02\x01\x01\x00', 'latin1'), Buffer.alloc(9000, 0xab)]);
    writeFileSync(join(dir, 'x.yaml'), binary);
    const result = validate(dir);
    const line = expectFinding(result, 'x.yaml', 'input/binary');
    expect(line).toContain('a NUL byte at offset 7: "\\x7fELF\\x02\\x01\\x01\\x00\\xab');
    expect(line.length).toBeLessThan(400);
    expect(result.code).toBe(ValidateExit.ERRORS);
    expectGoodFilesChecked(result);
  });

  test('a control character in a text file is an error too (kubectl refuses it), as is a bracket bomb, refused before it is parsed', () => {
    writeFileSync(join(dir, 'form-feed.yaml'), CONFIG_MAP.replace('{a: b}', '{a: "b\x0c"}'));
    writeFileSync(join(dir, 'brackets.yaml'), `${CONFIG_MAP}x: ${'['.repeat(1_000_000)}\n`);
    const result = validate(dir);
    expect(expectFinding(result, 'form-feed.yaml', 'input/binary')).toContain('line:col 4:13: a control character (U+000C) at offset 87: "data: {a: \\"b\\x0c\\"}\\n"');
    expect(expectFinding(result, 'brackets.yaml', 'input/too-deep')).toContain('line:col 5:504: collections nested more than 500 deep');
    expect(result.code).toBe(ValidateExit.ERRORS);
    expectGoodFilesChecked(result);
    expect(result.cpuSeconds).toBeLessThan(1);
  });

  test('invalid UTF-8 is an error naming the byte, its offset and line', () => {
    writeFileSync(join(dir, 'latin1.yaml'), Buffer.from('apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cafe}\ndata: {menu: "caf\xe9"}\n', 'latin1'));
    const result = validate(dir);
    expect(expectFinding(result, 'latin1.yaml', 'input/not-utf8')).toContain('line:col 4:18: not UTF-8: byte 0xe9 at offset 71 starts no UTF-8 character: "data: {menu: \\"caf\\xe9\\"}\\n"');
    expect(result.code).toBe(ValidateExit.ERRORS);
    expectGoodFilesChecked(result);
  });

  test('a document without kind or without apiVersion is an error naming the document; comments-only documents stay skipped', () => {
    writeFileSync(join(dir, 'strays.yaml'), [
      'metadata: {name: no-kind}', '# only a comment', `${CONFIG_MAP.replace('apiVersion: v1\n', '')}`,
      'apiVersion: v1\nkind: List\nitems:\n  - {metadata: {name: item-without-kind}}\n  - {apiVersion: v1, kind: ConfigMap, metadata: {name: listed}}',
    ].join('\n---\n'));
    const result = validate(dir);
    expect(expectFinding(result, 'strays.yaml', 'input/no-kind')).toContain('line:col 1:1: document 1 is a mapping without kind');
    expect(expectFinding(result, 'strays.yaml', 'input/no-api-version')).toContain('document 3 is a ConfigMap without apiVersion');
    expect(result.out).toContainEqual(expect.stringContaining('document 4, List item 1 is a mapping without kind'));
    expect(result.code).toBe(ValidateExit.ERRORS);
    expectGoodFilesChecked(result, 3); // and the List's ConfigMap
  });

  test('a ConfigMap of 40,000 keys parses in linear time, and a duplicate key among them is still found', () => {
    writeFileSync(join(dir, 'many-keys.yaml'), `${configMapWithKeys(40_000)}  key-7: "again"\n`);
    const result = validate(dir);
    expect(result.cpuSeconds).toBeLessThan(3); // 27 s with the yaml library's own duplicate-key check
    expect(expectFinding(result, 'many-keys.yaml', 'input/duplicate-key')).toContain("line:col 40007:3: document 1: the key 'key-7' appears twice in one mapping");
    expect(result.code).toBe(ValidateExit.ERRORS);
    expectGoodFilesChecked(result, 3);
  });

  test('a linked folder is followed once: one outside the folder is read, one to a folder read already is noted', () => {
    mkdirSync(join(work, 'shared'));
    writeFileSync(join(work, 'shared', 'shared.yaml'), LONELY_SERVICE.replace(/lonely/g, 'shared'));
    symlinkSync(join(work, 'shared'), join(dir, 'linked'));
    mkdirSync(join(dir, 'real'));
    writeFileSync(join(dir, 'real', 'real.yaml'), CONFIG_MAP.replace('plain', 'real'));
    symlinkSync('real', join(dir, 'again'));
    const result = validate(dir);
    expect(result.out).toContainEqual(expect.stringMatching(/^linked\/shared\.yaml: error: Service\/default\/shared: schema\/core: /));
    expect(expectFinding(result, 'again', 'input/already-read', 'info')).toContain("the same folder as 'real', read already");
    expect(result.code).toBe(ValidateExit.ERRORS);
    expectGoodFilesChecked(result, 4);
  });

  test('a linked folder that leads back to a folder it is in is a loop, noted and not followed', () => {
    mkdirSync(join(dir, 'sub'));
    writeFileSync(join(dir, 'sub', 'sub.yaml'), CONFIG_MAP.replace('plain', 'sub'));
    symlinkSync('..', join(dir, 'sub', 'up'));
    symlinkSync('.', join(dir, 'self'));
    const result = validate(dir);
    expect(expectFinding(result, 'sub/up', 'input/symlink-loop', 'warning')).toContain("leads back to '.', a folder it is in");
    expectFinding(result, 'self', 'input/symlink-loop', 'warning');
    expect(result.code).toBe(ValidateExit.ERRORS);
    expectGoodFilesChecked(result, 3);
  });

  test('memory is bounded: 4 MB of 1,000 documents in one file validate with a heap of 48 MB (the real command, in a child process)', () => {
    // A twelfth of the 50 MB folder in a tenth of the 512 MB that folder must pass in; it needs some 24 MB.
    writeFileSync(join(dir, 'apps.yaml'), bigFile(250));
    const child = spawnSync(process.execPath, ['--max-old-space-size=48', join(ROOT, 'cli', 'run.js'), 'cli/validate', '--no-kustomize', dir], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    expect(child.stderr).toBe('');
    // each of the 250 apps' Deployments sets none of the restricted Pod Security level's four container
    // settings: one warning each, the other three controls folded under it
    expect(child.stdout.trim().split('\n').pop()).toBe(`${dir}: 1002 objects, 1 error(s), 250 warning(s)`);
  });

  test('a file over the size limit is not read: exit 2 with the numbers, the rest checked', () => {
    writeFileSync(join(dir, 'huge.yaml'), '');
    // sparse: 17 MiB that take no disk and are never read
    spawnSync('truncate', ['-s', '17M', join(dir, 'huge.yaml')]);
    if (statSync(join(dir, 'huge.yaml')).size === 0) writeFileSync(join(dir, 'huge.yaml'), Buffer.alloc(17 * 1024 * 1024, 0x20));
    const result = validate(dir);
    expect(expectFinding(result, 'huge.yaml', 'input/too-large')).toContain('not read: 17.0 MiB (17825792 bytes), over the 16.0 MiB a file may hold');
    expect(result.code).toBe(ValidateExit.UNREADABLE);
    expectGoodFilesChecked(result);
  });

  test.each([
    ['a klog line (newer kubectl)', 'E1207 12:53:31.623276    1972 run.go:72] "command failed" err="accumulating resources: \\"../nowhere\\": no such file"\n'],
    ['an error: line', 'error: accumulating resources: "../nowhere": no such file\n'],
  ])('a kustomization kubectl cannot build is an error whose first line says so; the reason, without kubectl\'s log prefix, below it (%s)', (_form, stderr) => {
    writeFileSync(join(dir, 'kustomization.yaml'), 'resources: [../nowhere, lonely.yaml]\n');
    const failing = () => () => {
      throw Object.assign(new Error('Command failed: kubectl kustomize'), { stderr });
    };
    const lines: string[] = [];
    const code = main([dir], { out: (l) => lines.push(l), err: (l) => lines.push(l) }, { kustomize: failing });
    expect(code).toBe(ValidateExit.ERRORS);
    expect(lines.find((l) => l.startsWith('kustomization.yaml: error: input/kustomize: '))!.split('\n').slice(0, 2)).toEqual([
      'kustomization.yaml: error: input/kustomize: kubectl kustomize . failed, so its files were read one by one instead',
      '    accumulating resources: "../nowhere": no such file',
    ]);
    expect(lines.some((l) => LONELY_FINDING.test(l))).toBe(true);
  });

  test('an internal error is one line and exit 2, its stack only with HOTROD_DEBUG=1', () => {
    writeFileSync(join(dir, 'kustomization.yaml'), 'resources: [lonely.yaml]\n');
    const boom = () => { throw new Error('kustomize exploded\n    at somewhere (x.js:1:1)'); };
    const run = () => {
      const lines: string[] = [];
      const code = main([dir], { out: (l) => lines.push(l), err: (l) => lines.push(l) }, { kustomize: boom });
      return { code, lines };
    };
    expect(run()).toEqual({ code: ValidateExit.UNREADABLE, lines: ['validate: internal error: kustomize exploded (please report it; HOTROD_DEBUG=1 prints where it happened)'] });
    process.env.HOTROD_DEBUG = '1';
    try {
      expect(run().lines.some((l) => /\n\s+at /.test(l))).toBe(true);
    } finally {
      delete process.env.HOTROD_DEBUG;
    }
  });
});

/** Runs `fn` with the effective uid of nobody (65534); undefined when this process may not. */
function asNobody<T>(fn: () => T): T | undefined {
  if (process.getuid?.() !== 0) return fn();
  try {
    process.seteuid!(65534);
  } catch {
    return undefined;
  }
  try {
    return fn();
  } finally {
    process.seteuid!(0);
  }
}

/** mulberry32: a small seeded PRNG, so the mutated files are the same on every run. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function yamlFiles(folder: string): string[] {
  return readdirSync(folder, { withFileTypes: true }).flatMap((e) => {
    const path = join(folder, e.name);
    return e.isDirectory() ? yamlFiles(path) : /\.ya?ml$/.test(e.name) ? [path] : [];
  });
}

const YAML_CHARS = ':-&*[]{}|>!%@`\'"#,?\n\t 0';

describe('validate on randomly damaged files', () => {
  const SEED = 20240611;
  const MUTANTS = 200;
  const sources = [...yamlFiles(join(FIXTURES, 'corpus')), ...yamlFiles(join(FIXTURES, 'seed-manifests'))].sort();
  let work: string;
  beforeAll(() => { work = mkdtempSync(join(tmpdir(), 'hotrod-fuzz-')); });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  test(`${MUTANTS} files with random byte flips (seed ${SEED}): exit 0, 1 or 2, never a throw, a stack trace or an internal error`, () => {
    const random = prng(SEED);
    const pick = (n: number) => Math.floor(random() * n);
    const failures: string[] = [];
    let slowest = 0;
    for (let i = 0; i < MUTANTS; i++) {
      const source = sources[pick(sources.length)];
      const bytes = Buffer.from(readFileSync(source));
      const flips = 1 + pick(8);
      for (let f = 0; f < flips; f++) {
        const at = pick(bytes.length);
        // mostly text, so that most mutants reach the rules: a character YAML gives meaning to, any printable one, a bit flipped, any byte
        const how = random();
        bytes[at] = how < 0.55 ? YAML_CHARS.charCodeAt(pick(YAML_CHARS.length)) : how < 0.95 ? 0x20 + pick(95) : how < 0.98 ? bytes[at] ^ (1 << pick(8)) : pick(256);
      }
      const folder = join(work, `mutant-${i}`);
      mkdirSync(folder);
      writeFileSync(join(folder, 'mutant.yaml'), bytes);
      const name = `${relative(FIXTURES, source)} with ${flips} flip(s) (mutant-${i})`;
      let result: Result;
      try {
        result = validate(folder);
      } catch (e) {
        failures.push(`${name}: threw ${(e as Error).message}`);
        continue;
      }
      slowest = Math.max(slowest, result.cpuSeconds);
      if (![0, 1, 2].includes(result.code)) failures.push(`${name}: exit ${result.code}`);
      if (result.lines.some((l) => STACK_LINE.test(l) || /internal error/.test(l))) failures.push(`${name}: ${result.lines.find((l) => STACK_LINE.test(l) || /internal error/.test(l))}`);
      rmSync(folder, { recursive: true });
    }
    expect(failures).toEqual([]);
    expect(slowest).toBeLessThan(1);
  });
});
