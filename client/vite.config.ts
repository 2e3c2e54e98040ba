/// <reference types="vitest/config" />
import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const clientDir = fileURLToPath(new URL('.', import.meta.url));
const repoDir = fileURLToPath(new URL('..', import.meta.url));
// The API server the dev server forwards to (`tessera serve` listens on 8080 by default).
const api = process.env.TESSERA_DEV_API ?? 'http://localhost:8080';
const proxy = {
  '/api': api,
  '/slides': api,
  '/iiif': api,
  '/socket.io': { target: api, ws: true },
};

export default defineConfig({
  root: clientDir,
  base: '/',
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: true,
    // OpenSeadragon alone is ~400 kB; it ships in the viewer chunk, loaded only on /view.
    chunkSizeWarningLimit: 700,
    // The polyfill would be inlined; every supported browser has modulepreload.
    modulePreload: { polyfill: false },
    // .vite/manifest.json: the server names the viewer's chunks in the page of a /view link.
    manifest: true,
  },
  server: {
    proxy,
    // protocol/ lives beside client/ and is imported by relative path.
    fs: { allow: [repoDir] },
  },
  preview: { proxy },
  test: {
    root: clientDir,
    include: ['src/**/*.test.ts'],
  },
});
