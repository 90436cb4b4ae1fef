#!/usr/bin/env node
'use strict';
/**
 * Runs a command of the project from a bundle esbuild made ahead of time, so `npm run synth`,
 * `validate`, `explain` and `rehearse` neither type-check the 3.5 MB `imports/` nor resolve and
 * compile some 450 modules on every call.
 *
 *   node cli/run.js [--typecheck] ENTRY [ARGS...]    ENTRY: main, cli/validate, apps/payments, ...
 *   node cli/run.js --typecheck --synth [APPFILE]    synthesize the app APPFILE exports (default main.ts)
 *   node cli/run.js --build                          only bring every entry's bundle up to date
 *
 * An entry is any .ts file of the project (without .ts, relative to the project root or the
 * current folder), so an app file of the user's own (apps/payments.ts) runs as main.ts does.
 * The sources (every .ts file of the project but those under __tests__/, node_modules/ and folders
 * whose name starts with a dot, which is what tsconfig.build.json includes; the tsconfigs,
 * package-lock.json and the installed packages' node_modules/.package-lock.json) are
 * fingerprinted on every call: by size and mtime
 * first (about 1 ms), and by content when those differ. A fingerprint that differs from the last
 * build's starts a new folder named after the content hash, where each entry point is bundled
 * (esbuild, no type check) when it is first run, so a stale build is never run. The modules run
 * with a V8 code cache kept beside the bundle (cli/compile-cache.js).
 * With --typecheck (what `npm run synth` and `cdk8s synth` use) the sources are also type-checked
 * by `tsc` (in a worker thread), while the bundle is made, whenever their content differs from the
 * last successful check, and a type error stops the command with tsc's file(line,col) messages
 * before it writes anything. When CDK8S_OUTDIR names a folder that is missing (`cdk8s synth`
 * deleted it), it is restored first.
 */
const { createHash } = require('crypto');
const { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } = require('fs');
const { dirname, isAbsolute, join, relative, resolve, sep } = require('path');

const ROOT = resolve(__dirname, '..');
const CACHE = join(ROOT, 'node_modules', '.cache', 'hotrod');
const STAMP = join(CACHE, 'build.json');
const TYPECHECKED = join(CACHE, 'typechecked');
/** Folders of the project root whose .ts files are not sources of the commands (tsconfig.build.json excludes the same). */
const NOT_SOURCES = new Set(['__tests__']);
/** Folders skipped wherever they are: installed packages, and synthesized output (tsconfig.json excludes the same). */
const SKIPPED = new Set(['node_modules', 'dist']);
const SOURCE_FILES = [
  'tsconfig.json', 'tsconfig.build.json', 'package-lock.json', 'cli/run.js', 'cli/transpile.js', 'cli/compile-cache.js',
  // npm rewrites it on every install: the bundles hold the packages' code
  'node_modules/.package-lock.json',
];

/** Every file whose change must rebuild (or re-check) the app, relative to the project root, sorted. */
function sourceFiles() {
  const out = SOURCE_FILES.filter((f) => existsSync(join(ROOT, f)));
  // Every .ts file, as tsconfig.build.json's `**/*.ts`, whose wildcards skip names that start with
  // a dot and node_modules folders (TypeScript's matchFiles).
  // Symbolic links are followed, as tsc follows them (each linked folder once).
  const linked = new Set();
  const walk = (dir) => {
    for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
      if (entry.name.startsWith('.') || SKIPPED.has(entry.name) || (dir === '' && NOT_SOURCES.has(entry.name))) continue;
      const rel = dir ? `${dir}/${entry.name}` : entry.name;
      if (entry.isSymbolicLink()) {
        const real = existsSync(join(ROOT, rel)) ? realpathSync(join(ROOT, rel)) : undefined;
        if (real && statSync(real).isDirectory()) {
          if (!linked.has(real)) linked.add(real) && walk(rel);
          continue;
        }
      }
      if (entry.isDirectory()) walk(rel);
      else if (entry.name.endsWith('.ts')) out.push(rel);
    }
  };
  walk('');
  return out.sort();
}

/** The sources' fingerprint: `stat` (names, sizes, mtimes: cheap) and, when asked, `content` (a hash of every byte). */
function fingerprint(files, withContent) {
  const stat = createHash('sha1');
  for (const f of files) {
    const s = statSync(join(ROOT, f));
    stat.update(`${f}\0${s.size}\0${s.mtimeMs}\n`);
  }
  const result = { stat: stat.digest('hex') };
  if (withContent) {
    const content = createHash('sha1');
    content.update(require('./transpile').TRANSPILER_ID);
    for (const f of files) content.update(`${f}\0`).update(readFileSync(join(ROOT, f))).update('\0');
    result.content = content.digest('hex');
  }
  return result;
}

function readJson(file) {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * The folder for the sources as they are now (`build-<content hash>`); a new one when they
 * changed since the last build. Returns `{ dir, content, files }` (content: the sources' hash).
 */
function ensureBuild() {
  const files = sourceFiles();
  const stamp = readJson(STAMP);
  let fp = fingerprint(files, false);
  if (stamp && stamp.stat === fp.stat && existsSync(join(CACHE, stamp.dir))) return { dir: join(CACHE, stamp.dir), content: stamp.content, files };
  fp = fingerprint(files, true);
  const dir = `build-${fp.content.slice(0, 16)}`;
  if (!existsSync(join(CACHE, dir))) {
    mkdirSync(join(CACHE, dir), { recursive: true });
    // Builds of older sources are of no further use; a command still running from one has loaded it.
    for (const old of readdirSync(CACHE)) {
      if (old.startsWith('build-') && old !== dir) rmSync(join(CACHE, old), { recursive: true, force: true });
    }
  }
  writeFileSync(STAMP, `${JSON.stringify({ stat: fp.stat, content: fp.content, dir })}\n`);
  return { dir: join(CACHE, dir), content: fp.content, files };
}

/**
 * The bundle of an entry point (`main`, `cli/validate`, ...) in a build folder, made first when
 * missing: a promise of its path, or of undefined when the project has no such entry point.
 */
async function ensureEntry(build, entry) {
  const name = entry.replace(/\.ts$/, '');
  const script = join(build.dir, `${name}.js`);
  if (existsSync(script)) return script;
  if (!build.files.includes(`${name}.ts`)) return undefined;
  mkdirSync(dirname(script), { recursive: true });
  const staging = `${script}.${process.pid}-${Date.now()}.tmp`;
  try {
    await require('./transpile').bundleEntry(ROOT, `${name}.ts`, staging);
    renameSync(staging, script); // atomic: a command started meanwhile sees no bundle or all of it
  } finally {
    rmSync(staging, { force: true });
  }
  return script;
}

/** Every entry point: main.ts and the commands in cli/. */
function entries(build) {
  return build.files.filter((f) => f === 'main.ts' || /^cli\/[^/]+\.ts$/.test(f) || /^examples\/[^/]+\/main\.ts$/.test(f)).map((f) => f.replace(/\.ts$/, ''));
}

/** Records that the sources with this content hash type-check (also used by `npm test`). */
function markTypechecked(content) {
  mkdirSync(CACHE, { recursive: true });
  writeFileSync(TYPECHECKED, `${content}\n`);
}

/** Whether the sources with this content hash passed the type check before. */
function typechecked(content) {
  return existsSync(TYPECHECKED) && readFileSync(TYPECHECKED, 'utf8').trim() === content;
}

// Resolved and loaded only when a check runs: the everyday command starts without them.
const tscArgs = () => [require.resolve('typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json')];

function typecheckOutcome(content, status, output, log) {
  if (status === 0) {
    markTypechecked(content);
    return true;
  }
  log(output.trimEnd() || `tsc exited with ${status}`);
  return false;
}

/**
 * Type-checks the app's sources (tsconfig.build.json: no tests) unless their content passed
 * before. Returns true when they type-check; prints tsc's messages and returns false otherwise.
 */
function ensureTypecheck(content, log = (l) => process.stderr.write(`${l}\n`)) {
  if (typechecked(content)) return true;
  log('type-checking (the sources changed since the last successful check)...');
  const tsc = require('child_process').spawnSync(process.execPath, tscArgs(), { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  return typecheckOutcome(content, tsc.status ?? tsc.signal, `${tsc.stdout}${tsc.stderr}`, log);
}

/**
 * tsc in a worker thread: `process.cwd()` is the project root, as for the tsc child process of
 * ensureTypecheck, so the messages name the files the same way (main.ts(38,68): ...).
 */
const TSC_WORKER = `const { workerData } = require('worker_threads');
process.cwd = () => workerData.root;
require(workerData.tsc);`;

/**
 * ensureTypecheck in the background, so the bundle can be made meanwhile: a promise of the same
 * answer. tsc runs in a worker thread of this process, not in a child process, so it ends with
 * the command: a synth killed during the check (`cdk8s synth` interrupted, a CI job cancelled)
 * leaves no tsc behind.
 */
function startTypecheck(content, log = (l) => process.stderr.write(`${l}\n`)) {
  if (typechecked(content)) return Promise.resolve(true);
  log('type-checking (the sources changed since the last successful check)...');
  const { Worker } = require('worker_threads');
  const [tsc, ...argv] = tscArgs();
  const worker = new Worker(TSC_WORKER, { eval: true, argv, workerData: { root: ROOT, tsc }, stdout: true, stderr: true });
  let output = '';
  const drained = (stream) => new Promise((done) => {
    stream.on('data', (d) => { output += d; });
    stream.on('end', done);
  });
  const exited = new Promise((done) => {
    worker.on('error', (e) => { output += `${e.stack ?? e}\n`; });
    worker.on('exit', done);
  });
  return Promise.all([exited, drained(worker.stdout), drained(worker.stderr)])
    .then(([code]) => typecheckOutcome(content, code, output, log));
}

/**
 * `cdk8s synth` deletes its output folder (CDK8S_OUTDIR) before it runs the app: put it back
 * (lib/safe-synth.ts's prepareOutput: what a stopped synth moved aside, or the last good copy,
 * or git's) before the type check, which can stop the command before the app runs.
 */
async function restoreOutdir(build, log = (l) => process.stderr.write(`${l}\n`)) {
  const outdir = process.env.CDK8S_OUTDIR;
  if (!outdir || existsSync(outdir)) return;
  const script = await ensureEntry(build, 'lib/safe-synth');
  if (script) require(script).prepareOutput({ outdir, log, restoreMissing: true });
}

/**
 * An entry as run.js names it (relative to the project root, `/`-separated, without .ts) from what
 * the user typed: `apps/payments`, `apps/payments.ts`, `./apps/payments.ts` or an absolute path,
 * relative to the current folder or else to the project root.
 */
function entryName(arg) {
  const strip = (p) => p.replace(/\.ts$/, '');
  const fromCwd = resolve(arg);
  const inProject = relative(ROOT, fromCwd);
  const found = [fromCwd, `${fromCwd}.ts`].some((f) => existsSync(f) && statSync(f).isFile());
  if (found && inProject && !inProject.startsWith('..') && !isAbsolute(inProject)) return strip(inProject.split(sep).join('/'));
  return strip(arg.replace(/^\.\//, ''));
}

const USAGE = `usage: node cli/run.js [--typecheck] ENTRY [ARGS...]       (ENTRY: main, cli/validate, apps/payments, ...: any .ts file of the project)
       node cli/run.js [--typecheck] --synth [APPFILE]      (synthesize the app APPFILE exports; default main.ts)
`;

async function main(argv) {
  const typecheck = argv[0] === '--typecheck';
  const args = typecheck ? argv.slice(1) : argv;
  if (args[0] === '--build') {
    const build = ensureBuild();
    for (const entry of entries(build)) await ensureEntry(build, entry);
    return;
  }
  // --synth [APPFILE]: what `npm run synth [-- APPFILE]` runs; the app file need not synthesize itself.
  const synth = args[0] === '--synth';
  const given = synth ? (args[1] ?? 'main') : args[0];
  if (!given || given.startsWith('-') || (synth && args.length > 2)) {
    process.stderr.write(USAGE);
    process.exitCode = 2;
    return;
  }
  const entry = entryName(given);
  const build = ensureBuild();
  const checked = typecheck ? startTypecheck(build.content) : Promise.resolve(true);
  // A bundle that fails (a syntax error) is reported after tsc's messages, which say more.
  const bundled = ensureEntry(build, entry).then((script) => ({ script }), (error) => ({ error }));
  try {
    await restoreOutdir(build);
  } catch (e) {
    process.stderr.write(`warning: could not restore ${process.env.CDK8S_OUTDIR}: ${e.message}\n`);
  }
  if (!(await checked)) {
    process.stderr.write(`${synth || entry === 'main' ? 'synth' : entry} stopped: the sources do not type-check (see above); nothing was written. Fix the errors and run it again.\n`);
    process.exitCode = 1;
    return;
  }
  const { script, error } = await bundled;
  if (error) throw error;
  if (!script) {
    const where = existsSync(resolve(ROOT, `${entry}.ts`)) ? 'it is not a source of the project (see NOT_SOURCES in cli/run.js)' : `looked for ${entry}.ts in ${ROOT}`;
    process.stderr.write(`no such entry point: ${given} (${where}); give a .ts file of the project, such as main or apps/payments.ts\n`);
    process.exitCode = 2;
    return;
  }
  require('./compile-cache').installCompileCache(`${script.replace(/\.js$/, '')}.v8cache`);
  if (synth) {
    // Loaded as a module, not run: its `require.main === module` block stays off, and the synth is
    // the one of the app it exports.
    const { app } = require(script);
    if (!app || typeof app.synth !== 'function') {
      process.stderr.write(`${entry}.ts exports no app; end it with: export const app = deliveryApp({ define: (scope) => new Delivery(scope, 'Delivery', { ... }) })\n`);
      process.exitCode = 2;
      return;
    }
    process.exitCode = app.synth();
    return;
  }
  // Run it as the main module, so its `require.main === module` block runs with its own arguments.
  process.argv.splice(1, argv.length - args.length + 2, script);
  require('module').runMain();
}

module.exports = { ROOT, CACHE, sourceFiles, fingerprint, ensureBuild, ensureEntry, entries, ensureTypecheck, startTypecheck, markTypechecked, typechecked };

if (require.main === module) void main(process.argv.slice(2));
