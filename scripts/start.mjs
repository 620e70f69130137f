#!/usr/bin/env node
// `npm start`: serves from dist/, which `npm install` builds (the `prepare` script). Compiling
// TypeScript on every start cost about 10 s; now a start rebuilds only what is older than its
// sources (the server when src/ changed, the web UI when web/ changed), and runs the one-file
// server bundle (scripts/bundle-server.mjs), so an unchanged checkout is serving within about a
// second. Arguments after `npm start --` go to `weft serve`.
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { rebuildStaleBuilds } from './stale-builds.mjs';

const root = path.resolve(import.meta.dirname, '..');

rebuildStaleBuilds('weft: ');

// The server runs in this process: a second Node.js would add its start to every `npm start`.
process.setSourceMapsEnabled(true);
process.argv.splice(2, 0, 'serve');
const { runBundle } = await import(pathToFileURL(path.join(root, 'bin', 'load-bundle.js')).href);
runBundle();
