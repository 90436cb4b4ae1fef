#!/usr/bin/env node
'use strict';
/**
 * `npm run bench [-- APPFILE] [--rounds N] [--services 1,10,100] [--scale-rounds N]`: how fast the
 * commands people run on every edit are, on the app APPFILE exports (default main.ts), against
 * `kubectl kustomize` rendering the same YAML.
 *
 * One paired run: each round runs every command once, in the same order (A B C ... A B C ...),
 * so drifts in machine load hit all of them alike; the medians and their ratio to kustomize are
 * printed, with the floors under them: node's own start and npm's (`npm run` of a no-op script). Then the scale figures: synth and validate of the delivery platform with N services
 * (cli/bench-scale.ts: HotROD and N-1 generic services, one collector, one ApplicationSet), each N in
 * its own processes. Needs no tool but node; kubectl is optional (its column is then skipped).
 */
const { spawnSync } = require('child_process');
const { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } = require('fs');
const { cpus, tmpdir } = require('os');
const { join, relative } = require('path');
const { ensureBuild, ensureTypecheck, ROOT } = require('./run');

const FLAGS = ['--rounds', '--services', '--scale-rounds'];

function option(argv, name, fallback) {
  const i = argv.indexOf(name);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : fallback;
}

/** The app file: the one argument that is neither a flag nor a flag's value; undefined when there are several. */
function appFile(argv) {
  const rest = argv.filter((a, i) => !a.startsWith('--') && !FLAGS.includes(argv[i - 1]));
  return rest.length <= 1 ? (rest[0] ?? 'main.ts') : undefined;
}

/** Runs a command once; returns its wall time in seconds, or throws with its output when it fails. */
function timed(cmd) {
  const start = process.hrtime.bigint();
  const r = spawnSync(cmd.argv[0], cmd.argv.slice(1), { cwd: ROOT, env: { ...process.env, ...cmd.env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${cmd.name} failed (exit ${r.status}):\n${r.stdout}${r.stderr}`);
  return seconds;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const fmt = (s) => `${s.toFixed(3)} s`;

function hasKubectl() {
  const r = spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore' });
  return !r.error && r.status === 0;
}

/**
 * A chart's values file the synth writes beside the app folders (`prometheus.values.yaml` for the
 * community chart's rules): no Kubernetes object, so no resource of kustomize's
 * (lib/manifests.ts HELM_VALUES_FILE reads it the same way).
 */
const VALUES_FILE = /\.values\.ya?ml$/;

/** A copy of a synthesized folder with a kustomization.yaml listing every manifest file: the same YAML for kustomize to render. */
function kustomizeFolder(work, synthesized) {
  const dir = join(work, 'kustomize');
  cpSync(synthesized, dir, { recursive: true });
  const files = [];
  const walk = (d) => readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name)).forEach((e) => {
    if (e.isDirectory()) walk(join(d, e.name));
    else if (/\.ya?ml$/.test(e.name) && !VALUES_FILE.test(e.name)) files.push(relative(dir, join(d, e.name)));
  });
  walk(dir);
  writeFileSync(join(dir, 'kustomization.yaml'), `resources:\n${files.map((f) => `  - ${f}`).join('\n')}\n`);
  return dir;
}

function main(argv) {
  const rounds = Number(option(argv, '--rounds', '10'));
  const scaleRounds = Number(option(argv, '--scale-rounds', '3'));
  const services = option(argv, '--services', '1,10,100').split(',').filter(Boolean).map(Number);
  const app = appFile(argv);
  if (!(rounds >= 1) || !(scaleRounds >= 1) || services.some((n) => !Number.isInteger(n) || n < 1) || app === undefined) {
    console.error('usage: npm run bench -- [APPFILE] [--rounds N] [--services 1,10,100] [--scale-rounds N]   (APPFILE: default main.ts)');
    return 2;
  }
  // Bring the build, every entry's bundle and the type check up to date first: the figures are
  // of the everyday, unchanged case.
  const build = ensureBuild();
  if (!ensureTypecheck(build.content)) return 1;
  const bundled = spawnSync(process.execPath, [join(ROOT, 'cli', 'run.js'), '--build'], { cwd: ROOT, stdio: 'inherit' });
  if (bundled.status !== 0) return 1;

  const work = mkdtempSync(join(tmpdir(), 'hotrod-bench-'));
  try {
    const node = process.execPath;
    const run = join(ROOT, 'cli', 'run.js');
    const synthesized = join(work, 'dist');
    const synthEnv = { CDK8S_OUTDIR: synthesized };
    // The app's synth, and validate of what it wrote (the YAML kustomize renders).
    const commands = [
      { name: 'synth', label: `synth (node cli/run.js --typecheck --synth ${app})`, argv: [node, run, '--typecheck', '--synth', app], env: synthEnv },
      { name: 'validate', label: 'validate its output (node cli/run.js cli/validate DIR)', argv: [node, run, 'cli/validate', synthesized] },
      { name: 'npm synth', label: `npm run synth -- ${app}`, argv: ['npm', 'run', '--silent', 'synth', '--', app], env: synthEnv },
      { name: 'npm validate', label: 'npm run validate -- DIR', argv: ['npm', 'run', '--silent', 'validate', '--', synthesized] },
    ];
    timed(commands[0]);
    const summary = spawnSync(node, [run, 'cli/validate', app], { cwd: ROOT, encoding: 'utf8' }).stdout.trim().split('\n');
    console.log(`app: ${app}, as validate reads its committed output:\n${summary.filter((l) => /^Prometheus setup: |: \d+ objects, /.test(l)).map((l) => `  ${l}`).join('\n')}`);
    // The floors under the commands: node's own start, and npm's (a script that does nothing).
    const empty = join(work, 'empty-package');
    mkdirSync(empty);
    writeFileSync(join(empty, 'package.json'), '{ "private": true, "scripts": { "nothing": "true" } }\n');
    commands.push(
      { name: 'node floor', label: 'node -e 0 (node\'s own start)', argv: [node, '-e', '0'] },
      { name: 'npm floor', label: 'npm run of a script that does nothing', argv: ['npm', 'run', '--silent', '--prefix', empty, 'nothing'] },
    );
    const kubectl = hasKubectl();
    if (kubectl) commands.push({ name: 'kustomize', label: 'kubectl kustomize (the same YAML)', argv: ['kubectl', 'kustomize', kustomizeFolder(work, synthesized)] });
    else console.log('kubectl not found: the kustomize column is skipped');

    for (const c of commands) timed(c); // warm-up: file caches, the build stamp
    const times = new Map(commands.map((c) => [c.name, []]));
    for (let i = 0; i < rounds; i++) for (const c of commands) times.get(c.name).push(timed(c));

    const cpu = cpus();
    console.log(`machine: ${cpu.length} x ${cpu[0]?.model?.trim() ?? 'unknown CPU'}, node ${process.version}, ${process.platform}`);
    console.log(`paired run: ${rounds} rounds of ${commands.map((c) => c.name).join(', ')} (medians; a warm-up round not counted)\n`);
    const k = kubectl ? median(times.get('kustomize')) : undefined;
    const width = Math.max(...commands.map((c) => c.label.length));
    for (const c of commands) {
      const m = median(times.get(c.name));
      const ratio = k && c.name !== 'kustomize' ? `  ${(m / k).toFixed(1)} x kustomize` : '';
      console.log(`  ${c.label.padEnd(width)}  ${fmt(m)}  (min ${fmt(Math.min(...times.get(c.name)))})${ratio}`);
    }

    if (services.length > 0) {
      console.log(`\nscale (cli/bench-scale.ts's platform, not ${app}: HotROD and N-1 generic services, one collector; medians of ${scaleRounds}):`);
      console.log('  services  objects  synth      validate');
      for (const n of services) {
        const out = join(work, `scale-${n}`);
        const synth = { name: `scale synth ${n}`, argv: [node, run, 'cli/bench-scale', '--services', String(n), '--out', out] };
        const validate = { name: `scale validate ${n}`, argv: [node, run, 'cli/validate', out] };
        const s = [];
        const v = [];
        for (let i = 0; i < scaleRounds; i++) {
          s.push(timed(synth));
          v.push(timed(validate));
        }
        const objects = spawnSync(node, [run, 'cli/validate', out], { cwd: ROOT, encoding: 'utf8' }).stdout.match(/: (\d+) objects,/)?.[1] ?? '?';
        console.log(`  ${String(n).padStart(8)}  ${objects.padStart(7)}  ${fmt(median(s)).padEnd(9)}  ${fmt(median(v))}`);
      }
      const largest = Math.max(...services);
      console.log(`\nspanmetrics series per service (estimate, ${largest} services, a rollout in flight):`);
      const series = spawnSync(node, [run, 'cli/bench-scale', '--services', String(largest), '--series'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim().split('\n');
      for (const line of series) console.log(`  ${line}`);
    }
    return 0;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));

module.exports = { kustomizeFolder, VALUES_FILE };
