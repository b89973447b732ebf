/**
 * Durations as people write them: `500ms`, `90s`, `15m`, `4h`, `30d`, `2w`. The CLI parses them
 * (client/parse.ts) and the rule engine names its limits in them, so a refusal speaks the units the
 * user typed rather than milliseconds.
 */

/** Milliseconds per unit, largest last. */
export const DURATION_UNITS_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
};

/** `ms` in the largest unit that divides it exactly: 14_400_000 → `4h`, 90_000 → `90s`. */
export function formatDuration(ms: number): string {
  const units = Object.entries(DURATION_UNITS_MS).reverse();
  const [unit, size] = units.find(([, size]) => ms !== 0 && ms % size === 0) ?? ['ms', 1];
  return `${ms / size}${unit}`;
}
