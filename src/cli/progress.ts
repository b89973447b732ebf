/**
 * A progress line for long work (`medledger sim` over many seeds): redrawn in place on a terminal,
 * at most ten times a second, and erased when the work ends; nothing at all when stderr is piped or
 * redirected, so scripts and logs see only the result.
 */

export interface ProgressStream {
  isTTY?: boolean;
  write(text: string): unknown;
}

const REDRAW_MS = 100;

export class Progress {
  readonly #stream: ProgressStream;
  readonly #total: number;
  readonly #label: string;
  readonly #started_ms: number;
  #drawn_ms = Number.NEGATIVE_INFINITY;
  #shown = false;

  constructor(label: string, total: number, stream: ProgressStream = process.stderr, now_ms = Date.now()) {
    this.#label = label;
    this.#total = total;
    this.#stream = stream;
    this.#started_ms = now_ms;
  }

  /** `done` of the total finished; `note` is appended (e.g. how many failed). */
  update(done: number, note = '', now_ms = Date.now()): void {
    if (!this.#stream.isTTY || (now_ms - this.#drawn_ms < REDRAW_MS && done < this.#total)) return;
    this.#drawn_ms = now_ms;
    const elapsed_s = (now_ms - this.#started_ms) / 1000;
    const left_s = done > 0 ? Math.round((elapsed_s / done) * (this.#total - done)) : null;
    const eta = left_s === null ? '' : `, about ${left_s} s left`;
    this.#stream.write(`\r\x1b[K${this.#label}: ${done}/${this.#total}${note ? `, ${note}` : ''}${eta}`);
    this.#shown = true;
  }

  /** Erases the line, so what follows starts on a clean one. */
  end(): void {
    if (this.#shown) this.#stream.write('\r\x1b[K');
    this.#shown = false;
  }
}
