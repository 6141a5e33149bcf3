/** Accuracy of one checkpoint per backend profile, keyed by profile name (values in [0, 1]). */
export type ProfileAccuracies = Readonly<Record<string, number>>;

function checkAccuracies(fn: string, perProfile: ProfileAccuracies): [string, number][] {
  if (typeof perProfile !== "object" || perProfile === null || Array.isArray(perProfile))
    throw new Error(`${fn}: perProfile must be an object of profile name → accuracy`);
  const entries = Object.entries(perProfile);
  if (entries.length === 0) throw new Error(`${fn}: perProfile is empty`);
  for (const [name, a] of entries)
    if (typeof a !== "number" || !(a >= 0 && a <= 1))
      throw new Error(`${fn}: perProfile['${name}'] must be an accuracy in [0, 1], got ${String(a)}`);
  return entries;
}

/**
 * The worst-case FP → integer gap: the largest `fp − accuracy` over the profiles, and the profile where
 * it happens (the first one listed on a tie). Negative when every profile beats FP.
 */
export function worstGap(
  fpAccuracy: number,
  perProfile: ProfileAccuracies,
): { gap: number; profile: string } {
  if (typeof fpAccuracy !== "number" || !(fpAccuracy >= 0 && fpAccuracy <= 1))
    throw new Error(`worstGap: fpAccuracy must be an accuracy in [0, 1], got ${String(fpAccuracy)}`);
  let gap = -Infinity;
  let profile = "";
  for (const [name, a] of checkAccuracies("worstGap", perProfile))
    if (fpAccuracy - a > gap) {
      gap = fpAccuracy - a;
      profile = name;
    }
  return { gap, profile };
}

/**
 * The spread across profiles: best accuracy − worst accuracy, with both profiles named (the first listed
 * on a tie). Zero for a single profile: a checkpoint behaves the same on one backend as on itself.
 */
export function profileSpread(perProfile: ProfileAccuracies): {
  spread: number;
  best: string;
  worst: string;
} {
  const entries = checkAccuracies("profileSpread", perProfile);
  let [best, hi] = entries[0]!;
  let [worst, lo] = entries[0]!;
  for (const [name, a] of entries) {
    if (a > hi) [best, hi] = [name, a];
    if (a < lo) [worst, lo] = [name, a];
  }
  return { spread: hi - lo, best, worst };
}
