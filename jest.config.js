/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/__tests__'],
  testMatch: ['**/*.test.ts'],
  // Transpile only (esbuild); the type check is the `tsc --noEmit` that `npm test` runs beside jest.
  transform: { '^.+\\.ts$': '<rootDir>/jest.transform.js' },
  snapshotFormat: { escapeString: false, printBasicPrototype: false },
};
