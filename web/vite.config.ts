import path from 'node:path';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

/**
 * The web UI (SPEC §7): built into `dist/web`, which `weft serve` serves at `/`. `npm run dev:web`
 * serves it with hot reload and proxies the API to a `weft serve` on port 8080.
 */
const root = path.dirname(new URL(import.meta.url).pathname);

export default defineConfig({
  root,
  base: '/',
  plugins: [react()],
  build: {
    outDir: path.resolve(root, '../dist/web'),
    emptyOutDir: true,
    sourcemap: true,
    chunkSizeWarningLimit: 2500,
  },
  server: {
    proxy: {
      '/api': { target: 'http://127.0.0.1:8080', ws: true },
      '/openapi.json': 'http://127.0.0.1:8080',
    },
  },
});
