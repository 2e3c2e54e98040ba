import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.ts';

describe('render and IIIF limits in the configuration', () => {
  it('defaults: 4096² pixels, 8192 a side, 2x upscaling, queues of 256 and 64 a user', () => {
    const c = loadConfig({}, {});
    expect(c).toMatchObject({
      iiifMaxArea: 16_777_216,
      iiifMaxWidth: 8192,
      iiifMaxHeight: 8192,
      iiifMaxUpscale: 2,
      renderQueue: 256,
      renderQueuePerUser: 64,
    });
    // libuv's default pool of 4 threads, two kept for file reads: at most 2 renders at once.
    expect(c.renderConcurrency).toBe(Math.min(2, os.availableParallelism()));
  });

  it('reads its keys from the environment', () => {
    const c = loadConfig(
      {},
      {
        TESSERA_IIIF_MAX_AREA: '1000000',
        TESSERA_IIIF_MAX_WIDTH: '2000',
        TESSERA_IIIF_MAX_HEIGHT: '1500',
        TESSERA_IIIF_MAX_UPSCALE: '1.5',
        TESSERA_RENDER_QUEUE: '10',
        TESSERA_RENDER_QUEUE_PER_USER: '3',
        TESSERA_RENDER_CONCURRENCY: '1',
      },
    );
    expect(c).toMatchObject({
      iiifMaxArea: 1_000_000,
      iiifMaxWidth: 2000,
      iiifMaxHeight: 1500,
      iiifMaxUpscale: 1.5,
      renderQueue: 10,
      renderQueuePerUser: 3,
      renderConcurrency: 1,
    });
  });

  it('refuses more renders at once than libuv has threads to spare, naming UV_THREADPOOL_SIZE', () => {
    expect(() => loadConfig({}, { TESSERA_RENDER_CONCURRENCY: '3' })).toThrow(ConfigError);
    expect(() => loadConfig({}, { TESSERA_RENDER_CONCURRENCY: '3' })).toThrow(
      /TESSERA_RENDER_CONCURRENCY: must be at most 2, two below UV_THREADPOOL_SIZE \(4\)/,
    );
    const c = loadConfig({}, { TESSERA_RENDER_CONCURRENCY: '6', UV_THREADPOOL_SIZE: '8' });
    expect(c.renderConcurrency).toBe(6);
  });

  it('refuses values that are not limits', () => {
    expect(() => loadConfig({}, { TESSERA_IIIF_MAX_AREA: 'lots' })).toThrow(/TESSERA_IIIF_MAX_AREA/);
    expect(() => loadConfig({}, { TESSERA_IIIF_MAX_UPSCALE: '0.5' })).toThrow(/TESSERA_IIIF_MAX_UPSCALE/);
    expect(() => loadConfig({}, { TESSERA_RENDER_CONCURRENCY: '0' })).toThrow(/TESSERA_RENDER_CONCURRENCY/);
  });
});

describe('DICOMweb archives and STOW-RS in the configuration', () => {
  it('TESSERA_DICOMWEB_SOURCES: name=url pairs, credentials taken out of the URL, no trailing slash', () => {
    const c = loadConfig(
      {},
      {
        TESSERA_DICOMWEB_SOURCES:
          'pacs=https://pacs.example.org/dicom-web/, vna=http://reader:p%40ss@10.0.0.5:8042/dicom-web',
        TESSERA_STOW_SETTLE_SECONDS: '2.5',
      },
    );
    expect(c.dicomwebSources).toEqual([
      { name: 'pacs', url: 'https://pacs.example.org/dicom-web', basic: null },
      { name: 'vna', url: 'http://10.0.0.5:8042/dicom-web', basic: { user: 'reader', password: 'p@ss' } },
    ]);
    expect(c.stowSettleSeconds).toBe(2.5);
    expect(loadConfig({}, {}).dicomwebSources).toEqual([]);
    expect(loadConfig({}, {}).stowSettleSeconds).toBe(10);
  });

  it('refuses a malformed source list, naming the variable', () => {
    for (const bad of [
      'https://pacs.example.org/dicom-web',
      'pacs=ftp://pacs.example.org/',
      'pacs=not a url',
      'pacs=https://a.example/x,pacs=https://b.example/y',
      'pacs=https://a.example/x?token=1',
      'a b=https://a.example/x',
    ])
      expect(() => loadConfig({}, { TESSERA_DICOMWEB_SOURCES: bad }), bad).toThrow(
        /TESSERA_DICOMWEB_SOURCES/,
      );
    expect(() => loadConfig({}, { TESSERA_STOW_SETTLE_SECONDS: '-1' })).toThrow(
      /TESSERA_STOW_SETTLE_SECONDS/,
    );
  });
});
