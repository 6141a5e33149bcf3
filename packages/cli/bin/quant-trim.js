#!/usr/bin/env node
// The installed command runs the built CLI (dist/, made by `npm run build`, which `npm ci` runs). In this
// repository, `npm run cli -- <args>` runs the TypeScript sources instead.
import "../dist/main.js";
