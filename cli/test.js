#!/usr/bin/env node
'use strict';
/**
 * `npm test [-- JEST_ARGS]`: the type check (`tsc --noEmit`, tests included) and jest, side by
 * side (jest runs its files on one core of two; tsc takes the other). Fails when either fails;
 * tsc's messages (file(line,col): error ...) are printed after jest's report.
 * A passing type check is recorded for `npm run synth`, which then does not repeat it.
 */
const { spawn } = require('child_process');
const { fingerprint, markTypechecked, ROOT, sourceFiles } = require('./run');

const sources = fingerprint(sourceFiles(), true).content;

function run(args, capture) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', capture ? 'pipe' : 'inherit', capture ? 'pipe' : 'inherit'] });
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
  const [tsc, jest] = await Promise.all([
    run([require.resolve('typescript/bin/tsc'), '--noEmit', '-p', 'tsconfig.json'], true),
    run([require.resolve('jest/bin/jest'), ...process.argv.slice(2)], false),
  ]);
  if (tsc.code === 0) {
    markTypechecked(sources);
    process.stderr.write(`type check (tsc --noEmit): no errors (${tsc.seconds.toFixed(1)}s)\n`);
  } else {
    process.stderr.write(`\ntype check (tsc --noEmit) failed:\n${tsc.output.trimEnd()}\n`);
  }
  process.stderr.write(`npm test: ${((Date.now() - started) / 1000).toFixed(1)}s\n`);
  process.exitCode = tsc.code !== 0 ? tsc.code : jest.code;
}

void main();
