/**
 * The one error type users can meet. Every error that crosses a module boundary carries a stable,
 * machine-readable `code` (SCREAMING_SNAKE, never renamed once shipped) and a human sentence.
 * Callers branch on `code`, never on the message.
 */
export class MedledgerError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MedledgerError';
    this.code = code;
  }
}

/** Internal invariant check: a failure is a bug in medledger, never a user error. */
export function assert(condition: unknown, what: string): asserts condition {
  if (!condition) throw new Error(`invariant violated: ${what}`);
}
