#!/usr/bin/env -S npx tsx --conditions=source
import { runCli } from "./cli.js";

process.exitCode = await runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr });
