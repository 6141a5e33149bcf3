import { CheckpointError } from "@quant-trim/autograd";
import { UsageError } from "./args.js";
import { evalCommand } from "./commands/eval.js";
import { experimentCommand } from "./commands/experiment.js";
import { exportCommand } from "./commands/export.js";
import { profilesCommand } from "./commands/profiles.js";
import { trainCommand } from "./commands/train.js";
import type { Io } from "./output.js";

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
};

const MAIN_HELP = `quant-trim — quantization-aware training of hardware-neutral low-bit checkpoints

Usage: quant-trim <command> [options]

Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(11)} ${c.summary}`)
  .join("\n")}

Every command takes --help, --json (machine-readable output on stdout) and --seed.`;

/** Run the CLI; returns the exit code (0 ok, 2 bad input, 1 failure). */
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
  const fn = Object.hasOwn(COMMANDS, command) ? COMMANDS[command]!.run : undefined;
  if (!fn) {
    io.stderr.write(
      `quant-trim: unknown command '${command}' (expected ${Object.keys(COMMANDS).join(", ")})\n`,
    );
    return 2;
  }
  try {
    await fn(rest, io);
    return 0;
  } catch (e) {
    if (e instanceof UsageError || e instanceof CheckpointError) {
      io.stderr.write(`quant-trim ${command}: ${e.message}\n`);
      return 2;
    }
    io.stderr.write(`quant-trim ${command}: ${(e as Error).message}\n`);
    return 1;
  }
}
