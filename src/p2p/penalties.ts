/**
 * Penalties for peers that misbehaved: how long the host refuses a punished peer's connections and
 * holds back its own redials.
 *
 * Hanging up on a peer costs it nothing if it may redial at once, so each offence bars the peer for
 * a while: `base_ms` for a first offence, doubling with each further one (1 s, 2 s, 4 s, … up to
 * `max_ms`). Good behaviour is forgiven back: every `decay_ms` after a penalty ends without a new
 * offence lowers the peer's level by one, so an honest node that tripped once (a restart mid-frame,
 * a version skew) soon counts as a first offender again.
 *
 * Offences reported while a peer is already barred (the rest of a burst of bad frames that arrived
 * before the hang-up took effect) do not raise its level: one misbehaving connection is one offence.
 * Pure bookkeeping: the clock is passed in, nothing here does I/O.
 */

export interface PenaltyPolicy {
  /** The bar after a first offence. */
  base_ms: number;
  /** The longest bar, however many offences. */
  max_ms: number;
  /** Good behaviour after a bar ends that forgives one level of offences. */
  decay_ms: number;
}

export const DEFAULT_PENALTY_POLICY: PenaltyPolicy = { base_ms: 1000, max_ms: 60_000, decay_ms: 60_000 };

interface PeerRecord {
  /** Offences that still count (the penalty doubles with each). */
  level: number;
  /** Milliseconds since the epoch: when the current (or last) bar ends. */
  until_ms: number;
}

export interface Offence {
  /** How long the peer is barred from now. */
  penalty_ms: number;
  /** Offences that still count, this one included. */
  level: number;
  /** False when the peer was already barred and its level stayed the same. */
  escalated: boolean;
}

export class PeerPenalties {
  readonly #policy: PenaltyPolicy;
  readonly #peers = new Map<string, PeerRecord>();

  readonly #maxLevel: number;

  constructor(policy: Partial<PenaltyPolicy> = {}) {
    this.#policy = { ...DEFAULT_PENALTY_POLICY, ...policy };
    this.#maxLevel = Math.max(1, Math.ceil(Math.log2(this.#policy.max_ms / this.#policy.base_ms)) + 1);
  }

  /** Records an offence by `peer` at `now_ms` and returns the bar it earns. */
  offend(peer: string, now_ms: number): Offence {
    const record = this.#peers.get(peer);
    if (record && now_ms < record.until_ms) {
      return { penalty_ms: record.until_ms - now_ms, level: record.level, escalated: false };
    }
    // Levels past the one that reaches max_ms would only make forgiveness slower.
    const level = Math.min(this.#maxLevel, this.#levelAt(record, now_ms) + 1);
    const penalty_ms = Math.min(this.#policy.max_ms, this.#policy.base_ms * 2 ** (level - 1));
    this.#peers.set(peer, { level, until_ms: now_ms + penalty_ms });
    return { penalty_ms, level, escalated: true };
  }

  /** How much longer `peer` is barred (0: it is not). */
  remaining_ms(peer: string, now_ms: number): number {
    const record = this.#peers.get(peer);
    return record ? Math.max(0, record.until_ms - now_ms) : 0;
  }

  /** Peers barred at `now_ms`. */
  barred(now_ms: number): string[] {
    return [...this.#peers].filter(([, r]) => now_ms < r.until_ms).map(([peer]) => peer);
  }

  /** The level left after the good behaviour since the record's last bar ended. */
  #levelAt(record: PeerRecord | undefined, now_ms: number): number {
    if (!record) return 0;
    const forgiven = Math.floor((now_ms - record.until_ms) / this.#policy.decay_ms);
    return Math.max(0, record.level - forgiven);
  }
}
