import { readFileSync } from "node:fs";
import { CheckpointError } from "@quant-trim/autograd";
import { profileNames } from "@quant-trim/npu-sim";
import { zooNames } from "@quant-trim/recipes";
import { recipeHelp, UsageError, wrapList } from "./args.js";
import { evalCommand } from "./commands/eval.js";
import { experimentCommand } from "./commands/experiment.js";
import { exportCommand } from "./commands/export.js";
import { profilesCommand } from "./commands/profiles.js";
import { reportCommand } from "./commands/report.js";
import { trainCommand } from "./commands/train.js";
import type { Io } from "./output.js";
import { guardsTaken } from "./run-guard.js";

export type { Io } from "./output.js";

interface Command {
  /** One line for the main help. */
  summary: string;
  run: (args: string[], io: Io) => Promise<void>;
}

/** The commands, in the order the help lists them: a new command is one entry here. */
const COMMANDS: Record<string, Command> = {
  train: { summary: "train one model with one recipe and save a .safetensors checkpoint", run: trainCommand },
  eval: {
    summary: "evaluate a checkpoint in FP32 and under post-training fake quantization",
    run: evalCommand,
  },
  experiment: {
    summary: "train every recipe with the same budget and compare them under quantization",
    run: experimentCommand,
  },
  export: {
    summary: "write a checkpoint as an ONNX file (float, or QDQ for a backend profile)",
    run: exportCommand,
  },
  profiles: { summary: "list the integer backend profiles the simulator knows", run: profilesCommand },
  report: { summary: "render an experiment's report.html again from its results.json", run: reportCommand },
};

const MAIN_HELP = `quant-trim — quantization-aware training of hardware-neutral low-bit checkpoints

Usage: quant-trim <command> [options]      (quant-trim <command> --help lists its options)
       quant-trim --version

Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(11)} ${c.summary}`)
  .join("\n")}

Architectures (--arch):
${wrapList(zooNames, 2)}
Recipes (--recipe, --recipes):
${recipeHelp(2)}
Integer backend profiles (--profiles, --qdq; details: quant-trim profiles):
${wrapList(profileNames, 2)}

Every command takes --help, --json (machine-readable output on stdout) and --seed.
Exit codes: 0 done, 1 the run failed, 2 bad input (nothing was written), 130 interrupted (Ctrl-C or SIGTERM).`;

/** The version of this package, from its package.json (next to src/ and to dist/ alike). */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

/**
 * Run the CLI; returns the exit code (0 ok, 2 bad input, 1 failure). A CheckpointError is bad input
 * while no run has started (a checkpoint given to read); once a command has taken a RunGuard, it is the
 * run's own checkpoint failing to be written or read back: a failure, like any other error there.
 */
export async function runCli(argv: string[], io: Io): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined) {
    // A usage error like any other: one line on stderr, so a script piping stdout gets nothing half-meant.
    io.stderr.write(
      `quant-trim: no command given (expected ${Object.keys(COMMANDS).join(", ")}); run quant-trim --help for usage\n`,
    );
    return 2;
  }
  if (command === "--help" || command === "-h" || command === "help") {
    io.stdout.write(`${MAIN_HELP}\n`);
    return 0;
  }
  if (command === "--version") {
    if (rest.length > 0) {
      io.stderr.write(`quant-trim: --version takes no arguments, got '${rest[0]}'\n`);
      return 2;
    }
    io.stdout.write(`quant-trim ${packageVersion()}\n`);
    return 0;
  }
  const fn = Object.hasOwn(COMMANDS, command) ? COMMANDS[command]!.run : undefined;
  if (!fn) {
    io.stderr.write(
      `quant-trim: unknown command '${command}' (expected ${Object.keys(COMMANDS).join(", ")})\n`,
    );
    return 2;
  }
  const guardsBefore = guardsTaken();
  try {
    await fn(rest, io);
    return 0;
  } catch (e) {
    const runStarted = guardsTaken() > guardsBefore;
    if (e instanceof UsageError || (e instanceof CheckpointError && !runStarted)) {
      io.stderr.write(`quant-trim ${command}: ${e.message}\n`);
      return 2;
    }
    io.stderr.write(`quant-trim ${command}: ${(e as Error).message}\n`);
    return 1;
  }
}
