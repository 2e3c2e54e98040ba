import { defineConfig } from 'vitest/config';
import base from './vitest.config.ts';

/**
 * The suites that reach a database, run again on PostgreSQL (`npm run test:postgres`): a cluster
 * is started for the run (tests/setup/postgres.ts) and each SQLite file a test would open maps to
 * a database of its own there.
 */
export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: ['tests/**/*.test.ts', 'server/**/*.test.ts', 'scripts/**/*.test.ts'],
    // SQLite's own settings (WAL, synchronous = FULL): nothing to run on PostgreSQL.
    exclude: [...(base.test?.exclude ?? ['**/node_modules/**']), 'server/db/index.test.ts'],
    globalSetup: ['tests/setup/postgres.ts'],
  },
});
