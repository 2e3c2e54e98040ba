import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AlgorithmEndpoint, BuiltinKey } from '../../protocol/index.ts';

/** This checkout of Tessera (server/ai/ is two levels below it). */
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TESSERA_BIN = path.join(REPO, 'scripts', 'bin', 'tessera.mjs');

function packageVersion(): string {
  try {
    const v = (JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version?: unknown })
      .version;
    return typeof v === 'string' && /^[A-Za-z0-9][A-Za-z0-9._+-]{0,49}$/.test(v) ? v : '1';
  } catch {
    return '1';
  }
}

/**
 * An algorithm shipped with Tessera. Its command is computed here, on the server, from the Node
 * that runs the server and this checkout's `tessera` script: whoever registers it names it by
 * its key and never supplies a program or URL of their own.
 */
export interface Builtin {
  key: BuiltinKey;
  name: string;
  version: string;
  description: string;
  endpoint: Extract<AlgorithmEndpoint, { kind: 'command' }>;
}

export const BUILTINS: readonly Builtin[] = [
  {
    key: 'reference',
    name: 'Tessera reference: tissue and haematoxylin',
    version: packageVersion(),
    description:
      'Finds the tissue on a slide and measures haematoxylin by colour deconvolution: one finding per ' +
      'tissue region, a haematoxylin heat map, and "Tissue present" when tissue covers 1 % or more.',
    endpoint: {
      kind: 'command',
      argv: [process.execPath, TESSERA_BIN, 'ai-reference', '--job', '-'],
    },
  },
];

export function builtin(key: string): Builtin | null {
  return BUILTINS.find((b) => b.key === key) ?? null;
}

/** The built-in an endpoint runs, if it is exactly one's (program and every argument). */
export function builtinOf(endpoint: AlgorithmEndpoint): Builtin | null {
  if (endpoint.kind !== 'command') return null;
  return (
    BUILTINS.find(
      (b) =>
        b.endpoint.argv.length === endpoint.argv.length &&
        b.endpoint.argv.every((arg, i) => arg === endpoint.argv[i]),
    ) ?? null
  );
}
