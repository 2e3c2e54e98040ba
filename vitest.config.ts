import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: [
      'tests/**/*.test.ts',
      'tiles/**/*.test.ts',
      'server/**/*.test.ts',
      'protocol/**/*.test.ts',
      'scripts/**/*.test.ts',
      'client/src/**/*.test.ts',
    ],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Slide conversion is CPU-heavy: two files at once is what two cores can carry.
    maxWorkers: 2,
  },
});
