'use strict';
/**
 * Jest transform: TypeScript transpiled by esbuild, with the options the commands' build uses
 * (cli/transpile.js). No type check here: `npm test` runs `tsc --noEmit` beside jest.
 */
const { createHash } = require('crypto');
const { TRANSPILER_ID, transpile } = require('./cli/transpile');

module.exports = {
  process(source, file) {
    return transpile(source, file);
  },
  getCacheKey(source, file) {
    return createHash('sha1').update(TRANSPILER_ID).update('\0').update(file).update('\0').update(source).digest('hex');
  },
};
