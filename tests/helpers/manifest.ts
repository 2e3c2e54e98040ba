import type { Manifest } from '../../protocol/index.ts';

/**
 * The manifest of a small stored slide (300 x 200, one 256 px level, generic TIFF) for tests of what
 * keeps or reads manifests; `over` replaces any field.
 */
export function smallManifest(id: string, over: Partial<Manifest> = {}): Manifest {
  return {
    formatVersion: 1,
    id,
    name: `slide-${id.slice(0, 4)}`,
    sourceFormat: 'generic-tiff',
    sourceFiles: [{ path: 'x.tif', bytes: 1, sha256: '0'.repeat(64) }],
    width: 300,
    height: 200,
    tileSize: 256,
    levels: 1,
    levelInfo: [{ index: 0, width: 300, height: 200, downsample: 1, tilesX: 2, tilesY: 1 }],
    sourceLevels: 1,
    mppX: null,
    mppY: null,
    objectivePower: null,
    associated: [],
    properties: {},
    rendering: null,
    files: {},
    jpegQuality: 90,
    createdAt: new Date().toISOString(),
    ...over,
  };
}
