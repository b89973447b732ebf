/**
 * The run's trace digest: a running SHA-256 over everything observable that happened, in order
 * (deliveries with their bytes, commits, crashes, restarts, submissions). Two runs of one seed are
 * the same run exactly when their digests match.
 */
import { createHash, type Hash } from 'node:crypto';

export class TraceDigest {
  readonly #hash: Hash = createHash('sha256');
  #entries = 0;

  get entries(): number {
    return this.#entries;
  }

  /** Adds one entry: a line of text fields and, optionally, raw bytes. */
  record(fields: string, payload?: Uint8Array): void {
    this.#entries++;
    this.#hash.update(`${fields}\n`);
    if (payload) {
      this.#hash.update(`${payload.length}:`);
      this.#hash.update(payload);
    }
  }

  /** Hex digest; the digest cannot be extended afterwards. */
  digest(): string {
    return this.#hash.digest('hex');
  }
}
