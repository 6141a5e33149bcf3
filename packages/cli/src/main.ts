#!/usr/bin/env -S npx tsx
// The quant-trim command line. Commands are added as their packages land.
const [, , command] = process.argv;
console.log(`quant-trim: the '${command ?? "(none)"}' command is not available yet; see README.md for what is built.`);
