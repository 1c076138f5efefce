import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'data/**', '*.config.js', 'bin/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // A CRM's own modules stay out of the app: generic code speaks the connector contract
    // (connectors/connector.ts, pushed-intake.ts, pulled-intake.ts) and only the composition root wires
    // a CRM in. These files are that root, by name; everything else gets a CRM through them.
    files: ['src/**/*.ts'],
    ignores: [
      'src/app/start.ts', // builds the app: config, storage, the registered CRMs, server, worker
      'src/app/hubspot.ts', // HubSpot's wiring: tokens over tenant rows, its connector per portal
      'src/app/salesforce.ts', // Salesforce's wiring, beside HubSpot's
      'src/app/salesforce-sandbox.ts', // the Salesforce sandbox and its demo org (CRM=salesforce)
      'src/app/webhook-subscriptions.ts', // what the HubSpot sandbox delivers in sandbox mode
      'src/app/crm-profiles.ts', // each CRM's profile by name, for rules checked without a connector
    ],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [
                '**/connectors/hubspot/**',
                '**/connectors/salesforce/**',
                '**/connectors/sandbox/**',
                '**/connectors/sandbox-salesforce/**',
              ],
              message:
                'Only the composition root (src/app/start.ts and the CRM wirings beside it) imports a CRM connector; use the contract in connectors/connector.ts.',
            },
          ],
        },
      ],
    },
  },
  {
    // The routing core is pure: no I/O, no clock, no logging. Only data libraries may be imported.
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['node:*', 'fs', 'path', 'http', 'https', 'net', 'child_process', 'os'],
              message: 'src/core is pure: no I/O.',
            },
            {
              group: [
                'express',
                'winston',
                'better-sqlite3',
                'pg',
                'ioredis',
                'bottleneck',
                'p-retry',
                '@hubspot/*',
                'jsforce',
              ],
              message: 'src/core is pure: no I/O libraries.',
            },
            {
              group: ['**/storage/**', '**/connectors/**', '**/pipeline/**', '**/server/**', '**/cli/**'],
              message: 'src/core must not depend on the outer layers.',
            },
          ],
        },
      ],
      // Time is an argument (epoch millis), randomness is never used: decisions are reproducible.
      'no-restricted-properties': [
        'error',
        { object: 'Date', property: 'now', message: 'src/core takes time as an argument.' },
        { object: 'Math', property: 'random', message: 'src/core is deterministic.' },
      ],
      'no-restricted-syntax': [
        'error',
        {
          selector: "NewExpression[callee.name='Date'][arguments.length=0]",
          message: 'src/core takes time as an argument.',
        },
      ],
      'no-restricted-globals': ['error', 'process', 'console', 'setTimeout', 'setInterval', 'fetch'],
    },
  },
  {
    files: ['test/**/*.ts', 'test/**/*.tsx', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/unbound-method': 'off',
    },
  },
  prettier,
);
