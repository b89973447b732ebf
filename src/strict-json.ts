/**
 * Strict reading of hand-written JSON (genesis.json, API request bodies): an object may hold only
 * the fields it is known to have, so a typo is an error naming it rather than a field silently ignored.
 */
export type JsonObject = Record<string, unknown>;

/** `value` as an object with only `allowed` fields; `fail(path, why)` makes the caller's typed error. */
export function strictObject(
  value: unknown,
  path: string,
  allowed: readonly string[],
  fail: (path: string, why: string) => Error,
): JsonObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw fail(path, 'expected an object');
  for (const field of Object.keys(value)) {
    if (!allowed.includes(field))
      throw fail(`${path}.${field}`, `unknown field (allowed: ${allowed.join(', ')})`);
  }
  return value as JsonObject;
}
