import { readFileSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { parse, UsageError } from "../args.js";
import { type Io, writeAtomic } from "../output.js";
import { parseResults, renderReport } from "../report/index.js";

export const reportHelp = `Usage: quant-trim report DIR

  Renders DIR/report.html again from DIR/results.json (the folder an experiment wrote), after checking
  the file against the results schema. DIR may also be the path of a results.json file; the report is
  written next to it. Nothing is trained or evaluated.
  --json            print {"results": …, "report": …} (the two paths) instead of a sentence`;

/** Largest results.json read: real ones are well under a megabyte; this refuses a wrong file early. */
const MAX_RESULTS_BYTES = 256 << 20;

/** The one positional argument (the folder), and the options around it. */
function splitArgs(args: string[]): { target: string | undefined; options: string[] } {
  const positional: number[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--seed")
      i++; // its value, not the folder
    else if (!a.startsWith("-")) positional.push(i);
  }
  if (positional.length > 1)
    throw new UsageError(`give one folder, got ${positional.map((i) => `'${args[i]}'`).join(" and ")}`);
  const at = positional[0];
  return {
    target: at === undefined ? undefined : args[at],
    options: args.filter((_, i) => i !== at),
  };
}

/** The results file a target names: DIR/results.json, or the file itself. */
function resultsPathOf(target: string): string {
  if (target.trim() === "") throw new UsageError("the folder is blank; give the folder an experiment wrote");
  try {
    if (statSync(target).isDirectory()) return join(target, "results.json");
  } catch {
    // not there: named below as the results file that is missing
    return basename(target) === "results.json" ? target : join(target, "results.json");
  }
  return target;
}

/** `quant-trim report DIR`: report.html from results.json again (a bad or missing file exits 2, naming it). */
export async function reportCommand(args: string[], io: Io): Promise<void> {
  const { target, options } = splitArgs(args);
  const v = parse(options, {});
  if (v.help) {
    io.stdout.write(`${reportHelp}\n`);
    return;
  }
  if (target === undefined)
    throw new UsageError("give the folder an experiment wrote, e.g. quant-trim report runs/<id>");
  const resultsPath = resultsPathOf(target);
  let text: string;
  try {
    const st = statSync(resultsPath);
    if (!st.isFile()) throw new Error("not a regular file");
    if (st.size > MAX_RESULTS_BYTES) throw new Error(`${st.size} bytes, more than a results file holds`);
    text = readFileSync(resultsPath, "utf8");
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (e as Error).message;
    throw new UsageError(`cannot read '${resultsPath}': ${why}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`'${resultsPath}' is not JSON: ${(e as Error).message}`);
  }
  let results: ReturnType<typeof parseResults>;
  try {
    results = parseResults(json);
  } catch (e) {
    throw new UsageError(`'${resultsPath}' is not an experiment's results: ${(e as Error).message}`);
  }
  const reportPath = join(dirname(resultsPath), "report.html");
  writeAtomic(reportPath, renderReport(results));
  if (v.json) io.stdout.write(`${JSON.stringify({ results: resultsPath, report: reportPath })}\n`);
  else io.stdout.write(`wrote ${reportPath} from ${resultsPath}\n`);
}
