#!/usr/bin/env node
'use strict';
/**
 * Runs a command of the project from JavaScript transpiled ahead of time, so `npm run synth`,
 * `validate`, `explain` and `rehearse` do not pay for a type check of the 3.5 MB `imports/`
 * on every call.
 *
 *   node cli/run.js [--typecheck] ENTRY [ARGS...]    ENTRY: main, cli/validate, cli/explain, ...
 *   node cli/run.js --build                          only bring the transpiled copy up to date
 *
 * The sources (main.ts, lib/, cli/, imports/, the tsconfigs and package-lock.json) are
 * fingerprinted on every call: by size and mtime first (about 1 ms), and by content when
 * those differ. A fingerprint that differs from the last build's is transpiled again with
 * esbuild (no type check) into a folder named after the content hash, so a stale build is
 * never run. With --typecheck (what `npm run synth` uses) the sources are also type-checked
 * by `tsc` whenever their content differs from the last successful check, and a type error
 * stops the command with tsc's file(line,col) messages before it writes anything.
 */
const { spawnSync } = require('child_process');
const { createHash } = require('crypto');
const { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } = require('fs');
const { join, relative, resolve } = require('path');

const ROOT = resolve(__dirname, '..');
const CACHE = join(ROOT, 'node_modules', '.cache', 'hotrod');
const STAMP = join(CACHE, 'build.json');
const TYPECHECKED = join(CACHE, 'typechecked');
const SOURCE_DIRS = ['lib', 'cli', 'imports'];
const SOURCE_FILES = ['main.ts', 'tsconfig.json', 'tsconfig.build.json', 'package-lock.json', 'cli/run.js', 'cli/transpile.js'];

/** Every file whose change must rebuild (or re-check) the app, relative to the project root, sorted. */
function sourceFiles() {
  const out = SOURCE_FILES.filter((f) => existsSync(join(ROOT, f)));
  const walk = (dir) => {
    for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
      const rel = `${dir}/${entry.name}`;
      if (entry.isDirectory()) walk(rel);
      else if (entry.name.endsWith('.ts')) out.push(rel);
    }
  };
  SOURCE_DIRS.forEach(walk);
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
 * The folder holding the transpiled app for the sources as they are now; transpiles them first
 * when they changed since the last build. Returns `{ dir, content }` (content: the sources' hash).
 */
function ensureBuild() {
  const files = sourceFiles();
  const stamp = readJson(STAMP);
  let fp = fingerprint(files, false);
  if (stamp && stamp.stat === fp.stat && existsSync(join(CACHE, stamp.dir))) return { dir: join(CACHE, stamp.dir), content: stamp.content, files };
  fp = fingerprint(files, true);
  const dir = `build-${fp.content.slice(0, 16)}`;
  if (!existsSync(join(CACHE, dir))) {
    mkdirSync(CACHE, { recursive: true });
    const staging = join(CACHE, `.staging-${process.pid}-${Date.now()}`);
    try {
      require('./transpile').transpileProject(ROOT, files.filter((f) => f.endsWith('.ts')), staging);
      renameSync(staging, join(CACHE, dir));
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
    // Builds of older sources are of no further use; a command still running from one has loaded it.
    for (const old of readdirSync(CACHE)) {
      if (old.startsWith('build-') && old !== dir) rmSync(join(CACHE, old), { recursive: true, force: true });
    }
  }
  writeFileSync(STAMP, `${JSON.stringify({ stat: fp.stat, content: fp.content, dir })}\n`);
  return { dir: join(CACHE, dir), content: fp.content, files };
}

/** Records that the sources with this content hash type-check (also used by `npm test`). */
function markTypechecked(content) {
  mkdirSync(CACHE, { recursive: true });
  writeFileSync(TYPECHECKED, `${content}\n`);
}

/**
 * Type-checks the app's sources (tsconfig.build.json: no tests) unless their content passed
 * before. Returns true when they type-check; prints tsc's messages and returns false otherwise.
 */
function ensureTypecheck(content, log = (l) => process.stderr.write(`${l}\n`)) {
  if (existsSync(TYPECHECKED) && readFileSync(TYPECHECKED, 'utf8').trim() === content) return true;
  log('type-checking (the sources changed since the last successful check)...');
  const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json')], {
    cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8',
  });
  if (tsc.status === 0) {
    markTypechecked(content);
    return true;
  }
  const output = `${tsc.stdout}${tsc.stderr}`.trimEnd();
  log(output || `tsc exited with ${tsc.status ?? tsc.signal}`);
  return false;
}

function main(argv) {
  const typecheck = argv[0] === '--typecheck';
  const args = typecheck ? argv.slice(1) : argv;
  if (args[0] === '--build') {
    ensureBuild();
    return;
  }
  const entry = args[0];
  if (!entry || entry.startsWith('-')) {
    process.stderr.write('usage: node cli/run.js [--typecheck] ENTRY [ARGS...]   (ENTRY: main, cli/validate, cli/explain, ...)\n');
    process.exitCode = 2;
    return;
  }
  const build = ensureBuild();
  if (typecheck && !ensureTypecheck(build.content)) {
    process.stderr.write(`${entry === 'main' ? 'synth' : entry} stopped: the sources do not type-check (see above); nothing was written. Fix the errors and run it again.\n`);
    process.exitCode = 1;
    return;
  }
  const script = join(build.dir, `${entry.replace(/\.ts$/, '')}.js`);
  if (!existsSync(script)) {
    process.stderr.write(`no such entry point: ${entry} (looked for ${relative(ROOT, script)})\n`);
    process.exitCode = 2;
    return;
  }
  // Run it as the main module, so its `require.main === module` block runs with its own arguments.
  process.argv.splice(1, argv.length - args.length + 2, script);
  require('module').runMain();
}

module.exports = { ROOT, sourceFiles, fingerprint, ensureBuild, ensureTypecheck, markTypechecked };

if (require.main === module) main(process.argv.slice(2));
