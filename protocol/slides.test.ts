import { describe, expect, it } from 'vitest';
import { ManifestSchema, precompileManifestSchema } from './slides.ts';

describe('precompileManifestSchema', () => {
  it('checks a valid sample, so every field of the schema has been run before a real manifest', () => {
    expect(precompileManifestSchema()).toBe(true);
    // The schema still refuses what it refused.
    expect(ManifestSchema.safeParse({ formatVersion: 1 }).success).toBe(false);
  });
});
