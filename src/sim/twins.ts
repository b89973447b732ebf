/**
 * Twins (Bano, Sonnino, Chursin, Perelman, Li, Ching, Malkhi, "Twins: BFT Systems Made Robust",
 * OPODIS 2022): a Byzantine validator made without attack code. f validator keys each run two
 * replicas of the unmodified, honest consensus code. Each twin has its own durable state, both
 * starting fresh from genesis, as a validator deployed twice by mistake, or one restored from a
 * stale backup, would: neither knows what the other signed, so together they equivocate and
 * "forget", which is all a Byzantine replica can do that matters to safety, with valid signatures.
 *
 * The network sees n + f instances: instance i < n is validator i's (first) replica, instance n + k
 * is the second replica of the k-th twinned validator. A message addressed to a validator goes to
 * every instance of it that the sender can reach; what a twin sends goes to the instances it can
 * reach. Reachability comes from a partition of the n + f instances that changes over the fault
 * period (the paper enumerates partitions per consensus round; here a seeded schedule draws a new
 * partition every PHASE_MIN_MS..PHASE_MAX_MS of virtual time, a few of our 100 ms STATUS periods and
 * about one request timeout, so that a phase lasts long enough to commit or to change view in).
 * Each phase cuts the instances into 1 to 3 groups at random; a twin pair lands in different groups
 * more often than chance, which is what lets each twin gather a quorum of its own. When the faults
 * heal every instance reaches every other, twins included: a Byzantine replica stays Byzantine.
 *
 * Twinned validators are Byzantine to the checkers (their chains are not held to agreement, nor
 * their sends to honest-equivocation); the honest n - f are checked as in any run.
 */
import { maxFaults } from '../ledger/index.ts';
import type { Prng } from '../prng.ts';

/** A stretch of the fault period with one partition of the n + f instances. */
export interface TwinsPhase {
  start_ms: number;
  end_ms: number;
  /** Groups of instance ids; instances in different groups cannot exchange messages. */
  groups: number[][];
}

export interface TwinsPlan {
  /** The twinned validators, ascending: the k-th one's second instance is instance n + k. */
  nodes: number[];
  /** Contiguous phases covering [0, faultPeriod_ms). */
  phases: TwinsPhase[];
}

export const PHASE_MIN_MS = 150;
export const PHASE_MAX_MS = 450;
/** The chance a phase leaves every instance connected (both twins then talk to everyone). */
const CONNECTED_CHANCE = 0.2;
/** The chance of three groups rather than two, when cut. */
const THREE_GROUPS_CHANCE = 0.35;
/** The chance a twin put in its pair's group is moved to another group. */
const SPLIT_PAIR_CHANCE = 0.7;
/** The chance the twinned validators are the first primaries (views 0..f-1) rather than any f. */
const LEADERS_CHANCE = 0.6;

/** f twinned validators and the partition schedule of the fault period. */
export function planTwins(nodes: number, faultPeriod_ms: number, prng: Prng): TwinsPlan {
  const f = maxFaults(nodes);
  if (f === 0) return { nodes: [], phases: [] };
  const all = Array.from({ length: nodes }, (_, i) => i);
  // A twinned primary proposes twice per height: the strongest equivocation, so favour leaders.
  const twinned = prng.chance(LEADERS_CHANCE) ? all.slice(0, f) : prng.shuffle(all).slice(0, f);
  twinned.sort((a, b) => a - b);
  const instances = nodes + f;
  const phases: TwinsPhase[] = [];
  for (let start_ms = 0; start_ms < faultPeriod_ms; ) {
    const end_ms = Math.min(faultPeriod_ms, start_ms + prng.between(PHASE_MIN_MS, PHASE_MAX_MS));
    phases.push({ start_ms, end_ms, groups: drawGroups(instances, twinned, prng) });
    start_ms = end_ms;
  }
  return { nodes: twinned, phases };
}

function drawGroups(instances: number, twinned: readonly number[], prng: Prng): number[][] {
  if (prng.chance(CONNECTED_CHANCE)) return [Array.from({ length: instances }, (_, i) => i)];
  const count = prng.chance(THREE_GROUPS_CHANCE) ? 3 : 2;
  const groupOf = Array.from({ length: instances }, () => prng.int(count));
  const n = instances - twinned.length;
  twinned.forEach((validator, k) => {
    const twin = n + k;
    if (groupOf[twin] === groupOf[validator] && prng.chance(SPLIT_PAIR_CHANCE))
      groupOf[twin] = (groupOf[validator]! + 1 + prng.int(count - 1)) % count;
  });
  const groups = Array.from({ length: count }, (_, g) =>
    groupOf.flatMap((group, instance) => (group === g ? [instance] : [])),
  );
  return groups.filter((g) => g.length > 0);
}

/** Which instances run each validator, and which instances can reach each other right now. */
export class TwinsNetwork {
  readonly #validatorOf: number[];
  readonly #instancesOf: number[][];
  /** Group id per instance in the current phase; null when every instance reaches every other. */
  #groupOf: number[] | null = null;

  constructor(nodes: number, plan: TwinsPlan | null) {
    const twinned = plan?.nodes ?? [];
    this.#validatorOf = [...Array.from({ length: nodes }, (_, i) => i), ...twinned];
    this.#instancesOf = Array.from({ length: nodes }, (_, i) => [i]);
    twinned.forEach((validator, k) => {
      this.#instancesOf[validator]!.push(nodes + k);
    });
  }

  /** n + f with twins, else n. */
  get instances(): number {
    return this.#validatorOf.length;
  }

  validatorOf(instance: number): number {
    return this.#validatorOf[instance]!;
  }

  /** The instances of a validator: [validator], or [validator, its twin]. */
  instancesOf(validator: number): readonly number[] {
    return this.#instancesOf[validator]!;
  }

  isTwinned(validator: number): boolean {
    return this.#instancesOf[validator]!.length > 1;
  }

  /** Enters a phase's partition (null: everyone connected again). */
  setGroups(groups: readonly (readonly number[])[] | null): void {
    if (!groups) {
      this.#groupOf = null;
      return;
    }
    const groupOf = new Array<number>(this.instances).fill(-1);
    groups.forEach((group, g) => {
      for (const instance of group) groupOf[instance] = g;
    });
    this.#groupOf = groupOf;
  }

  reachable(a: number, b: number): boolean {
    return this.#groupOf === null || this.#groupOf[a] === this.#groupOf[b];
  }
}
