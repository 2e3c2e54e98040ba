#!/usr/bin/env node
// Run one TypeScript script (benchmarks, fixture makers): node scripts/bin/run.mjs FILE.ts [args...]
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { register } from 'tsx/esm/api';

const file = process.argv[2];
if (!file) {
  console.error('usage: node scripts/bin/run.mjs FILE.ts [args...]');
  process.exit(2);
}
register();
process.argv.splice(1, 2, path.resolve(file));
await import(pathToFileURL(path.resolve(file)).href);
