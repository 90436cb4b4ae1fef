/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  // In the project, not in the temporary folder (cli/test.js gives each run its own, removed after).
  cacheDirectory: '<rootDir>/node_modules/.cache/jest',
  // Every core: the default leaves one free, which on a 2-core machine runs the files one by one.
  maxWorkers: '100%',
  roots: ['<rootDir>/__tests__'],
  testMatch: ['**/*.test.ts'],
  // Transpile only (esbuild); the type check is the `tsc --noEmit` that `npm test` runs beside jest.
  transform: { '^.+\\.ts$': '<rootDir>/jest.transform.js' },
  // The slowest files first, also on a clean clone (jest.sequencer.js).
  testSequencer: '<rootDir>/jest.sequencer.js',
  snapshotFormat: { escapeString: false, printBasicPrototype: false },
};
