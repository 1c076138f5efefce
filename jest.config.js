/** ESM TypeScript under jest: ts-jest transpiles only; `npm run typecheck` does the type checking. */
export default {
  preset: 'ts-jest/presets/default-esm',
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  // .tsx: the HubSpot UI extensions' component tests (test/hubspot-app).
  testMatch: ['**/*.test.ts', '**/*.test.tsx'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.tsx?$': ['ts-jest', { useESM: true, diagnostics: false }],
  },
  testTimeout: 60000,
  // Names what a suite left open, when anything keeps the process alive after the last test.
  globalTeardown: '<rootDir>/test/support/open-handles.ts',
};
