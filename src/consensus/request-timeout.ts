/**
 * The request timeout, adapted to how long blocks take to commit here.
 *
 * A fixed timeout mistakes a slow cluster for a dead primary: when the machines are starved of CPU,
 * or blocks are large, a proposal takes longer than `requestTimeout_ms` to commit and every replica
 * blames a primary that is working. So each replica measures, in STATUS periods (not by a clock),
 * the time from accepting a proposal to its commit, and waits at least twice the median of the last
 * LATENCY_SAMPLES before blaming: a transaction must get into a block and that block commit. (In
 * whole periods, so a fast commit that happens to cross one STATUS tick stretches nothing.)
 * The configured timeout is the floor; MAX_STRETCH times it is the ceiling, so a faulty primary that
 * slows its blocks on purpose can buy itself only a bounded delay (the Aardvark concern).
 */

/** Commits measured. */
export const LATENCY_SAMPLES = 16;
/** The adapted timeout never exceeds this multiple of the configured one. */
export const MAX_STRETCH = 4;

export class RequestTimeout {
  readonly #base_ms: number;
  readonly #period_ms: number;
  /** The STATUS period each height's proposal was accepted in (this view or an earlier one). */
  readonly #acceptedIn = new Map<number, number>();
  /** Proposal-to-commit latencies in STATUS periods, oldest first. */
  readonly #samples: number[] = [];

  constructor(base_ms: number, statusInterval_ms: number) {
    this.#base_ms = base_ms;
    this.#period_ms = statusInterval_ms;
  }

  /** A proposal for `height` was accepted in STATUS period `period` (the first acceptance counts). */
  accepted(height: number, period: number): void {
    if (!this.#acceptedIn.has(height)) this.#acceptedIn.set(height, period);
  }

  /** `height` committed in STATUS period `period`; blocks fetched by state transfer are not samples. */
  committed(height: number, period: number): void {
    const since = this.#acceptedIn.get(height);
    for (const h of this.#acceptedIn.keys()) if (h <= height) this.#acceptedIn.delete(h);
    if (since === undefined) return;
    this.#samples.push(period - since);
    if (this.#samples.length > LATENCY_SAMPLES) this.#samples.shift();
  }

  /**
   * The typical recent proposal-to-commit latency, in STATUS periods (0 before any): the median, so
   * that one block slowed by a lost message does not stretch the timeout, while saturation does.
   */
  get typical_periods(): number {
    if (this.#samples.length === 0) return 0;
    const sorted = [...this.#samples].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)]!;
  }

  /** How long to wait before blaming the primary. */
  get timeout_ms(): number {
    // A commit n period boundaries after its proposal took less than n + 1 periods, and twice n
    // periods covers that for any n >= 1; n = 0 (within one period) leaves the configured timeout.
    const measured = 2 * this.typical_periods * this.#period_ms;
    return Math.min(MAX_STRETCH * this.#base_ms, Math.max(this.#base_ms, measured));
  }
}
