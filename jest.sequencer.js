'use strict';
/**
 * Jest's order (the files that failed last, then the slowest first, from the timings of the last
 * run in jest's cache), with the files' usual durations as the fallback where that cache is empty,
 * as on a clean clone: jest's own fallback, the largest file first, started the 7 s rehearsal
 * (a Prometheus backfilled and queried) after the others, and its worker ran alone at the end.
 */
const { basename } = require('path');
const Sequencer = require('@jest/test-sequencer').default;

/** Seconds each slow file took on the development machine (2 vCPUs), alone; the rest take under 1.5 s. */
const USUAL_SECONDS = {
  'rehearsal.test.ts': 7.5,
  'scale.test.ts': 4,
  'schema.test.ts': 3.5,
  'rehearse-cli.test.ts': 2,
  'rules.test.ts': 1.5,
  'app.test.ts': 1.2,
  'corpus.test.ts': 1.1,
};

class UsualDurationsFirst extends Sequencer {
  time(test) {
    const seconds = USUAL_SECONDS[basename(test.path)];
    return super.time(test) ?? (seconds === undefined ? undefined : seconds * 1000);
  }
}

module.exports = UsualDurationsFirst;
