import fc from "fast-check";

/**
 * Property tests draw their cases from one fixed seed, so `npm test` (and CI) runs the same cases on
 * every machine and a failure reproduces by running the suite again. `npm run test:explore` sets
 * QT_FC_SEED=random to draw fresh cases every run (each failure prints the seed that found it);
 * QT_FC_SEED=<integer> replays one such seed. A case that exploration finds becomes a named test.
 */
const DEFAULT_SEED = 20_261_128;

const requested = process.env.QT_FC_SEED;
if (requested !== "random") {
  const seed = requested === undefined || requested === "" ? DEFAULT_SEED : Number(requested);
  if (!Number.isSafeInteger(seed)) {
    throw new Error(`QT_FC_SEED must be an integer or "random", got ${JSON.stringify(requested)}`);
  }
  fc.configureGlobal({ seed });
}
