#!/usr/bin/env node
// The one-file build of the command (scripts/bundle-server.mjs): it starts in half the time of dist/cli/main.js.
import '../dist/bundle/weft.js';
