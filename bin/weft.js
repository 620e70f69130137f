#!/usr/bin/env node
// The one-file build of the command (scripts/bundle-server.mjs), run from V8's code cache when
// there is one (./load-bundle.js): it starts in about half the time of dist/cli/main.js.
import { runBundle } from './load-bundle.js';

runBundle();
