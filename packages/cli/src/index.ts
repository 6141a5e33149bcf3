// The CLI as a function (what bin/main.ts runs); argument parsing and output stay inside.
export { type Io, runCli } from "./cli.js";
