/**
 * The request timeout, adapted to how long blocks take to commit here; and the primary's intake
 * lag, which the censorship rule allows for (IntakeLag, below).
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

/**
 * How far the primary's intake runs behind this replica, in request periods: what the censorship
 * rule (replica.ts) grants a primary before a transaction it left out of a block counts against it.
 *
 * A primary proposes what it has admitted, and under a backlog its admission can run seconds behind
 * the backups' (transactions queue behind consensus work, and each signature is verified on
 * admission): what a backup forwarded, or sent again at a request tick, has not reached the
 * primary's mempool yet, so blocks with room go by while the backup's oldest transactions wait. That
 * is a slow intake, not censorship. Each proposal of the view is a sample: the longest any of its
 * transactions had waited here, counted from when it became proposable here (or the view began, if
 * later). The lag is the largest of the last LAG_SAMPLES samples (a backlog that grows makes each
 * block later than the one before, which a median would trail), less the one period boundary that a
 * prompt proposal may cross. A censoring primary that proposes the rest promptly shows no lag; one
 * that delays everything to hide a censored transaction buys at most MAX_LAG_PERIODS periods. The lag
 * does not stretch the request timeout itself: that would also delay replacing a primary that
 * proposes nothing at all, whose intake does not matter.
 */

/** Proposals sampled. */
export const LAG_SAMPLES = 8;
/** The lag granted never exceeds this many request periods. */
export const MAX_LAG_PERIODS = 4;

export class IntakeLag {
  /** The longest wait of each recent proposal's transactions, in request periods, oldest first. */
  readonly #samples: number[] = [];

  /** A proposal of this view carried transactions that had waited here `waits` request periods. */
  proposed(waits: Iterable<number>): void {
    let longest = -1;
    for (const wait of waits) longest = Math.max(longest, wait);
    if (longest < 0) return; // none we held: it tells nothing about the primary's intake
    this.#samples.push(longest);
    if (this.#samples.length > LAG_SAMPLES) this.#samples.shift();
  }

  /** A new view has another primary, with an intake of its own. */
  reset(): void {
    this.#samples.length = 0;
  }

  /** Request periods the primary's intake runs behind this replica (0 when prompt). */
  get periods(): number {
    const longest = Math.max(0, ...this.#samples);
    return Math.min(MAX_LAG_PERIODS, Math.max(0, longest - 1));
  }
}
