/**
 * What a running node says about its work at the info level, without a line per block: a periodic
 * summary of commits (blocks, transactions, rate, height, view), silent when nothing was committed,
 * and catch-up progress at most once per interval while the node fetches blocks it missed.
 * Time is passed in, so the logic is tested without waiting.
 */

export interface ActivityLine {
  fields: Record<string, number>;
  message: string;
}

export const SUMMARY_INTERVAL_MS = 30_000;
export const CATCH_UP_REPORT_MS = 5_000;

export class ActivityReport {
  #since_ms: number;
  #blocks = 0;
  #txs = 0;
  #lastCatchUp_ms = Number.NEGATIVE_INFINITY;

  constructor(now_ms: number) {
    this.#since_ms = now_ms;
  }

  committed(txs: number): void {
    this.#blocks++;
    this.#txs += txs;
  }

  /** A summary of the commits since the last one, or null when there were none. */
  summary(now_ms: number, height: number, view: number): ActivityLine | null {
    const elapsed_ms = Math.max(1, now_ms - this.#since_ms);
    const { blocks, txs } = { blocks: this.#blocks, txs: this.#txs };
    this.#since_ms = now_ms;
    this.#blocks = 0;
    this.#txs = 0;
    if (blocks === 0) return null;
    const seconds = Math.round(elapsed_ms / 1000);
    const tx_per_s = Math.round((txs / elapsed_ms) * 10_000) / 10;
    return {
      fields: { height, view, blocks, txs, tx_per_s },
      message: `committed ${blocks} blocks (${txs} transactions, ${tx_per_s} tx/s) in the last ${seconds} s`,
    };
  }

  /** A line about fetching missed blocks, at most once per CATCH_UP_REPORT_MS. */
  catchingUp(now_ms: number, height: number, toHeight: number): ActivityLine | null {
    if (now_ms - this.#lastCatchUp_ms < CATCH_UP_REPORT_MS) return null;
    this.#lastCatchUp_ms = now_ms;
    return {
      fields: { height, behind: Math.max(0, toHeight - height) },
      message: `catching up: at height ${height}, fetching blocks up to ${toHeight} from peers`,
    };
  }
}
