#!/usr/bin/env node
'use strict';
/**
 * `npm test [-- JEST_ARGS]`: the type check (`tsc --noEmit`, tests included) and jest, side by
 * side (jest runs its files on one core of two; tsc takes the other). Fails when either fails;
 * tsc's messages (file(line,col): error ...) are printed after jest's report.
 * The type check is skipped when every file it reads (the sources, the tests, the tsconfigs and
 * the installed packages, by content) is as it was at its last pass: the same input, the same
 * answer, and jest gets both cores. A passing type check is recorded for `npm run synth`, which
 * then does not repeat it.
 * jest runs with TMPDIR set to a folder of its own, removed when it ends: the fixture apps
 * (cdk8s's Testing.app makes a folder per app), the rehearsal's TSDBs and the tests' work folders
 * would otherwise leave some 150 folders in the temporary folder per run.
 */
const { spawn } = require('child_process');
const { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } = require('fs');
const { tmpdir } = require('os');
const { dirname, join } = require('path');
const { CACHE, fingerprint, markTypechecked, ROOT, sourceFiles } = require('./run');

/** The content hash of the last input that passed `tsc --noEmit -p tsconfig.json`. */
const TESTS_TYPECHECKED = join(CACHE, 'typechecked-with-tests');

/** The test files tsconfig.json includes besides the sources. */
function testFiles(dir = '__tests__') {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) return testFiles(rel);
    return e.name.endsWith('.ts') ? [rel] : [];
  });
}

const sourceList = sourceFiles();
const sources = fingerprint(sourceList, true).content;
const withTests = fingerprint([...sourceList, ...testFiles()].sort(), true).content;

function run(args, capture, env = process.env) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', capture ? 'pipe' : 'inherit', capture ? 'pipe' : 'inherit'] });
    let output = '';
    if (capture) {
      child.stdout.on('data', (d) => { output += d; });
      child.stderr.on('data', (d) => { output += d; });
    }
    const started = Date.now();
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 1 : 0), output, seconds: (Date.now() - started) / 1000 }));
  });
}

async function main() {
  const started = Date.now();
  const unchanged = existsSync(TESTS_TYPECHECKED) && readFileSync(TESTS_TYPECHECKED, 'utf8').trim() === withTests;
  const scratch = mkdtempSync(join(tmpdir(), 'hotrod-test-'));
  const [tsc, jest] = await Promise.all([
    unchanged ? { code: 0, unchanged } : run([require.resolve('typescript/bin/tsc'), '--noEmit', '-p', 'tsconfig.json'], true),
    run([require.resolve('jest/bin/jest'), ...process.argv.slice(2)], false, { ...process.env, TMPDIR: scratch, TMP: scratch, TEMP: scratch })
      .finally(() => rmSync(scratch, { recursive: true, force: true, maxRetries: 3 })),
  ]);
  if (tsc.unchanged) {
    process.stderr.write('type check (tsc --noEmit): no errors (every file it reads is as at its last pass)\n');
  } else if (tsc.code === 0) {
    markTypechecked(sources);
    mkdirSync(dirname(TESTS_TYPECHECKED), { recursive: true });
    writeFileSync(TESTS_TYPECHECKED, `${withTests}\n`);
    process.stderr.write(`type check (tsc --noEmit): no errors (${tsc.seconds.toFixed(1)}s)\n`);
  } else {
    process.stderr.write(`\ntype check (tsc --noEmit) failed:\n${tsc.output.trimEnd()}\n`);
  }
  process.stderr.write(`npm test: ${((Date.now() - started) / 1000).toFixed(1)}s\n`);
  process.exitCode = tsc.code !== 0 ? tsc.code : jest.code;
}

void main();
