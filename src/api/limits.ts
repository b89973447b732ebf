/**
 * The API's limits that are settings: the size of an upload (api.maxUploadBytes), and the bound on
 * transaction submissions per sender key (api.maxTxPerSenderPerSecond): a token bucket per sender, refilled at
 * `perSecond` tokens a second up to a burst of BURST_SECONDS × `perSecond`. Each transaction the API
 * hands to the node takes one token; a sender with none left is refused with 429 API_RATE_LIMITED
 * and a Retry-After (routes-chain.ts). The bound is per node: a client spreading its transactions
 * over n validators gets n times it.
 *
 * A bucket back at its full burst is the same as no bucket, so buckets are forgotten once full: the
 * map holds only senders seen within the last BURST_SECONDS or so.
 */

/** The burst, in seconds of the rate: a sender idle for this long may send this many at once. */
export const BURST_SECONDS = 4;

/** Default of api.maxTxPerSenderPerSecond (src/node/settings.ts says why this high). */
export const DEFAULT_MAX_TX_PER_SENDER_PER_SECOND = 250;

/** Default of api.maxUploadBytes: 256 MiB (the store itself takes records up to 4 GiB). */
export const DEFAULT_MAX_UPLOAD_BYTES = 256 * 1024 * 1024;

/** Full buckets are swept out when the map grows past this, at most once a second. */
const SWEEP_ABOVE = 1024;

interface Bucket {
  tokens: number;
  at_ms: number;
}

export class SenderRateLimiter {
  readonly perSecond: number;
  readonly burst: number;
  readonly #buckets = new Map<string, Bucket>();
  readonly #now: () => number;
  #lastSweep_ms = Number.NEGATIVE_INFINITY;

  constructor(perSecond: number, now: () => number = () => performance.now()) {
    if (!(perSecond > 0)) throw new RangeError('a sender rate bound must be positive');
    this.perSecond = perSecond;
    this.burst = Math.max(1, Math.round(perSecond * BURST_SECONDS));
    this.#now = now;
  }

  /** Takes a token for `sender` (any stable string, e.g. its key in hex): 0 if taken, else the ms until one is. */
  take(sender: string): number {
    const now = this.#now();
    const bucket = this.#refilled(sender, now);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      this.#buckets.set(sender, bucket);
      if (this.#buckets.size > SWEEP_ABOVE) this.#sweep(now);
      return 0;
    }
    return Math.ceil(((1 - bucket.tokens) * 1000) / this.perSecond);
  }

  /** Senders with a bucket below its burst (for tests). */
  get tracked(): number {
    return this.#buckets.size;
  }

  #refilled(sender: string, now: number): Bucket {
    const bucket = this.#buckets.get(sender);
    if (!bucket) return { tokens: this.burst, at_ms: now };
    const tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at_ms) * this.perSecond) / 1000);
    return { tokens, at_ms: now };
  }

  #sweep(now: number): void {
    if (now - this.#lastSweep_ms < 1000) return;
    this.#lastSweep_ms = now;
    for (const [sender, bucket] of this.#buckets) {
      if (bucket.tokens + ((now - bucket.at_ms) * this.perSecond) / 1000 >= this.burst) {
        this.#buckets.delete(sender);
      }
    }
  }
}

/** Default of api.uploadQuotaBytesPerDay: 2 GiB a day per identity. */
export const DEFAULT_UPLOAD_QUOTA_BYTES_PER_DAY = 2 * 1024 * 1024 * 1024;
const DAY_MS = 86_400_000;

/**
 * What each identity may upload to POST /v1/blobs in a day (UTC): a signed clinician or patient
 * uploads ciphertext before its record.add commits, and an upload no record claims is swept after a
 * day, so without this one caller could fill the node's disk. Counted per node, in memory.
 */
export class UploadQuota {
  readonly bytesPerDay: number;
  readonly #used = new Map<string, { day: number; bytes: number }>();
  readonly #now: () => number;

  constructor(bytesPerDay: number, now: () => number = Date.now) {
    if (!(bytesPerDay > 0)) throw new RangeError('an upload quota must be positive');
    this.bytesPerDay = bytesPerDay;
    this.#now = now;
  }

  /** Bytes `id` may still upload today. */
  remaining(id: string): number {
    const entry = this.#used.get(id);
    const today = Math.floor(this.#now() / DAY_MS);
    return entry?.day === today ? Math.max(0, this.bytesPerDay - entry.bytes) : this.bytesPerDay;
  }

  /** Counts `bytes` uploaded by `id` today. */
  spend(id: string, bytes: number): void {
    const today = Math.floor(this.#now() / DAY_MS);
    for (const [who, entry] of this.#used) if (entry.day !== today) this.#used.delete(who);
    const used = this.#used.get(id)?.bytes ?? 0;
    this.#used.set(id, { day: today, bytes: used + bytes });
  }

  /** Seconds until the day's quota renews. */
  secondsToRenewal(): number {
    return Math.ceil((DAY_MS - (this.#now() % DAY_MS)) / 1000);
  }
}
