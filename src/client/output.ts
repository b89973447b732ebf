/**
 * How commands print: one JSON document for scripts (`--json`), or for people an aligned table or
 * a list of `name  value` lines. Times print as ISO 8601 in UTC.
 */

export type Out = (text: string) => void;

/** Prints `value` as one line of JSON. */
export function printJson(out: Out, value: unknown): void {
  out(JSON.stringify(value));
}

/** Prints `name  value` lines, names padded to one column; null values print as "-". */
export function printFields(out: Out, fields: Record<string, string | number | boolean | null>): void {
  const width = Math.max(...Object.keys(fields).map((name) => name.length));
  for (const [name, value] of Object.entries(fields)) out(`${name.padEnd(width)}  ${show(value)}`);
}

/** Prints an aligned table with a header row; an empty table prints `empty` instead. */
export function printTable(
  out: Out,
  headers: readonly string[],
  rows: ReadonlyArray<ReadonlyArray<string | number | boolean | null>>,
  empty = '(none)',
): void {
  if (rows.length === 0) {
    out(empty);
    return;
  }
  const cells = rows.map((row) => row.map(show));
  const widths = headers.map((header, i) => Math.max(header.length, ...cells.map((row) => row[i]!.length)));
  const line = (row: readonly string[]) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  out(line(headers.map((header) => header.toUpperCase())));
  for (const row of cells) out(line(row));
}

function show(value: string | number | boolean | null): string {
  if (value === null) return '-';
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  return String(value);
}

/** Milliseconds since the epoch as ISO 8601 UTC, to the second. */
export function isoTime(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
