'use strict';
/**
 * Jest's order (the files that failed last, then the slowest first, from the timings of the last
 * run in jest's cache), with the files' usual durations where that cache has none, as on a clean
 * clone. Every file gets a duration: jest's own sort runs the files that have one after those that
 * have none (@jest/test-sequencer 29.7 `sort`), which on a clean clone started the 5 s rehearsal
 * last, and its worker ran alone at the end.
 */
const { basename } = require('path');
const Sequencer = require('@jest/test-sequencer').default;

/** Seconds each slow file took on the development machine (2 vCPUs), alone, on a clean clone. */
const USUAL_SECONDS = {
  // some 30 synths in child processes, and cdk8s-cli's own start (1 s or more) in four of them
  'rehearsal.test.ts': 20,
  'synth-swap.test.ts': 12,
  // five edits of main.ts in a copy: one type check of all five (6 s), synths, explains, one rehearsal
  'app-edits.test.ts': 18,
  // the apps' own checks: a synth, validate, explain and a short rehearsal of main.ts and the example
  'main-app.test.ts': 8,
  // promtool unit tests of the burn-rate alerts over days of series
  'slo-alerts.test.ts': 8,
  // the dynamic programme against simulated canaries
  'sequential.test.ts': 5,
  'validate-hostile.test.ts': 5,
  // compiling the README's and docs/' snippets against lib/ (skipped when none of them changed)
  'docs.test.ts': 4,
  'rehearse-cli.test.ts': 2.5,
  'schema.test.ts': 2,
  'scale.test.ts': 1.8,
  'app.test.ts': 1.5,
  'rules.test.ts': 1.4,
  'corpus.test.ts': 1.1,
  'rehearsal-target.test.ts': 1,
  'run.test.ts': 0.9,
};
/** The rest take under 0.6 s. */
const OTHER_SECONDS = 0.3;

class UsualDurationsFirst extends Sequencer {
  time(test) {
    return super.time(test) ?? (USUAL_SECONDS[basename(test.path)] ?? OTHER_SECONDS) * 1000;
  }
}

module.exports = UsualDurationsFirst;
