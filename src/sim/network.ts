/**
 * The simulated network: decides, for each message put on a link, whether and when it arrives.
 *
 * It delays messages by a configurable distribution (uniform, or a long tail: mostly uniform with
 * occasional Pareto-distributed stragglers), drops, duplicates and reorders them (a reordered message
 * gets an extra delay, so later messages overtake it), and partitions the nodes into groups that
 * cannot reach each other until healed. Faults apply only while `faulty` is set; a healed network
 * delivers every message once with the base delay. It also counts messages and bytes.
 *
 * Link rules (set by a scheduled run) degrade chosen directed links on top of that, whether or not
 * `faulty` is set: the link-fault model of `faults/link-faults.ts` (the one the node's transport
 * applies) on the messages from some nodes to others.
 *
 * The network does not hold messages; it returns delivery delays and the simulator schedules them.
 */
import { assert } from '../errors.ts';
import { combineLinkFaults, type LinkFaults, linkFate } from '../faults/link-faults.ts';
import type { Prng } from '../prng.ts';

export type DelayDistribution =
  | { kind: 'uniform'; min_ms: number; max_ms: number }
  /** Uniform [min_ms, max_ms], except with probability `tailProbability` a Pareto straggler. */
  | {
      kind: 'long-tail';
      min_ms: number;
      max_ms: number;
      tailProbability: number;
      alpha: number;
      cap_ms: number;
    };

/** The network-wide faults of a planned run (link rules use the link-fault model instead). */
export interface NetworkFaults {
  /** Delay while faults are active. */
  delay: DelayDistribution;
  dropProbability: number;
  duplicateProbability: number;
  /** Probability a message is held back by an extra delay in [reorderMin_ms, reorderMax_ms]. */
  reorderProbability: number;
  reorderMin_ms: number;
  reorderMax_ms: number;
}

export interface NetworkConfig {
  /** Delay of a healthy network. */
  baseDelay: DelayDistribution;
  /** Behaviour while faults are active. */
  faults: NetworkFaults;
}

export const HEALTHY_LINKS: NetworkFaults = {
  delay: { kind: 'uniform', min_ms: 1, max_ms: 4 },
  dropProbability: 0,
  duplicateProbability: 0,
  reorderProbability: 0,
  reorderMin_ms: 0,
  reorderMax_ms: 0,
};

/** Extra faults on the links from each of `from` to each of `faults.to` (every node when absent). */
export interface LinkRule {
  from: readonly number[];
  faults: LinkFaults;
}

export interface NetworkStats {
  messagesSent: number;
  bytesSent: number;
  messagesDropped: number;
  messagesDuplicated: number;
  messagesDelivered: number;
  bytesDelivered: number;
}

export function sampleDelay(dist: DelayDistribution, prng: Prng): number {
  const base = prng.between(dist.min_ms, dist.max_ms);
  if (dist.kind === 'uniform') return base;
  if (!prng.chance(dist.tailProbability)) return base;
  return Math.min(dist.cap_ms, dist.min_ms + prng.pareto(dist.max_ms, dist.alpha));
}

export class Network {
  readonly #config: NetworkConfig;
  readonly #prng: Prng;
  readonly #nodes: number;
  /** Group id per node while partitioned; null when every node reaches every other. */
  #groups: number[] | null = null;
  #rules: LinkRule[] = [];
  /** The planned drops and duplicates, in the link-fault model (delays follow `config.faults`). */
  readonly #plannedLinks: LinkFaults;
  faulty = false;
  readonly stats: NetworkStats = {
    messagesSent: 0,
    bytesSent: 0,
    messagesDropped: 0,
    messagesDuplicated: 0,
    messagesDelivered: 0,
    bytesDelivered: 0,
  };

  constructor(nodes: number, config: NetworkConfig, prng: Prng) {
    this.#nodes = nodes;
    this.#config = config;
    this.#prng = prng;
    this.#plannedLinks = {
      dropRate: config.faults.dropProbability,
      duplicateRate: config.faults.duplicateProbability,
    };
  }

  /** Splits the nodes into groups; nodes in different groups cannot exchange messages. */
  partition(groups: readonly (readonly number[])[]): void {
    const ids = new Array<number>(this.#nodes).fill(-1);
    groups.forEach((group, g) => {
      for (const node of group) {
        assert(ids[node] === -1, `node ${node} is in one partition group only`);
        ids[node] = g;
      }
    });
    assert(
      ids.every((g) => g >= 0),
      'every node is in a partition group',
    );
    this.#groups = ids;
  }

  heal(): void {
    this.#groups = null;
  }

  /** Replaces the link rules (an empty list removes them). */
  setRules(rules: readonly LinkRule[]): void {
    this.#rules = [...rules];
  }

  get rules(): readonly LinkRule[] {
    return this.#rules;
  }

  /** The rules' faults on `from` → `to` combined (`combineLinkFaults`); null if none. */
  #ruleFor(from: number, to: number): LinkFaults | null {
    let combined: LinkFaults | null = null;
    for (const rule of this.#rules) {
      if (!rule.from.includes(from) || (rule.faults.to !== undefined && !rule.faults.to.includes(to)))
        continue;
      combined = combined ? combineLinkFaults(combined, rule.faults) : rule.faults;
    }
    return combined;
  }

  get partitioned(): boolean {
    return this.#groups !== null;
  }

  /** Whether `from` can currently reach `to` (partitions only; drops are per message). */
  reachable(from: number, to: number): boolean {
    return this.#groups === null || this.#groups[from] === this.#groups[to];
  }

  /** One-way delay of a request/response (state transfer) on a link, or null if it is cut. */
  roundTrip(from: number, to: number): number | null {
    if (!this.reachable(from, to)) return null;
    const dist = this.faulty ? this.#config.faults.delay : this.#config.baseDelay;
    return sampleDelay(dist, this.#prng) + sampleDelay(dist, this.#prng);
  }

  /** Delivery delays for one message of `size` bytes from `from` to `to`: empty when it is lost. */
  transmit(from: number, to: number, size: number): number[] {
    this.stats.messagesSent++;
    this.stats.bytesSent += size;
    if (!this.reachable(from, to)) {
      this.stats.messagesDropped++;
      return [];
    }
    const rule = this.#rules.length > 0 ? this.#ruleFor(from, to) : null;
    if (rule) return this.#transmitByRule(rule, to);
    if (!this.faulty) return [sampleDelay(this.#config.baseDelay, this.#prng)];
    const faults = this.#config.faults;
    const fate = linkFate(this.#plannedLinks, to, this.#prng);
    if (fate.length === 0) this.stats.messagesDropped++;
    if (fate.length === 2) this.stats.messagesDuplicated++;
    return fate.map(() => {
      let delay_ms = sampleDelay(faults.delay, this.#prng);
      if (this.#prng.chance(faults.reorderProbability)) {
        delay_ms += this.#prng.between(faults.reorderMin_ms, faults.reorderMax_ms);
      }
      return delay_ms;
    });
  }

  #transmitByRule(faults: LinkFaults, to: number): number[] {
    const extra = linkFate(faults, to, this.#prng);
    if (extra.length === 0) this.stats.messagesDropped++;
    if (extra.length === 2) this.stats.messagesDuplicated++;
    const dist = this.faulty ? this.#config.faults.delay : this.#config.baseDelay;
    return extra.map((extra_ms) => sampleDelay(dist, this.#prng) + extra_ms);
  }

  delivered(size: number): void {
    this.stats.messagesDelivered++;
    this.stats.bytesDelivered += size;
  }
}
