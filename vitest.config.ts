import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
    exclude: ['test/bench/**', 'node_modules/**'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    globalSetup: ['test/helpers/global-setup.ts'],
    pool: 'forks',
    // bin/furrow.js would run a fresh dist/ build; the tests pin the sources (test/integration/compiled-build runs dist).
    env: { FURROW_RUNTIME: 'source' },
  },
});
