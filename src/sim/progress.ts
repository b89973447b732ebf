/**
 * Progress during sustained partial faults, per replica. The post-heal liveness checker only asks
 * that everything commits once every fault is gone; these ask more, while other faults persist:
 *
 * - progress-admitted: a transaction a replica admitted is committed there within the bound once
 *   the network is stable (at least n - f honest replicas up and connected, the replica among them),
 *   unless the replica crashed and lost it first (its client then resubmits, a new admission);
 * - progress-voting: a replica that is up and connected keeps voting: it signs a PRE-PREPARE,
 *   PREPARE or COMMIT for the blocks the others commit. A replica that keeps up only by state
 *   transfer (stranded in a view of its own, say) fails.
 *
 * The simulator feeds `Progress` as it runs; the checkers read the result.
 */
import { hex } from '../bytes.ts';
import { maxFaults } from '../ledger/index.ts';
import type { SimulationResult, Violation } from './simulator.ts';

export interface Admission {
  /** Hex transaction hash. */
  tx: string;
  node: number;
  incarnation: number;
  at_ms: number;
}

/** A stretch of virtual time [from_ms, to_ms) in which a replica was up and in the connected n - f. */
export interface StableSpan {
  from_ms: number;
  to_ms: number;
}

export class Progress {
  readonly #nodes: number;
  readonly #honest: readonly number[];
  readonly #seen = new Set<string>();
  readonly admissions: Admission[] = [];
  readonly #closed: StableSpan[][];
  readonly #open = new Map<number, number>();

  constructor(nodes: number, honest: readonly number[]) {
    this.#nodes = nodes;
    this.#honest = honest;
    this.#closed = Array.from({ length: nodes }, () => []);
  }

  admitted(a: Omit<Admission, 'at_ms'>, at_ms: number): void {
    const key = `${a.tx}/${a.node}/${a.incarnation}`;
    if (this.#seen.has(key)) return;
    this.#seen.add(key);
    this.admissions.push({ ...a, at_ms });
  }

  /** The honest replicas now up and mutually connected (the largest such group). */
  connectivity(now_ms: number, group: readonly number[]): void {
    const stable = group.length >= this.#nodes - maxFaults(this.#nodes);
    const members = new Set(stable ? group : []);
    for (const [node, from_ms] of [...this.#open]) {
      if (members.has(node)) continue;
      this.#open.delete(node);
      if (now_ms > from_ms) this.#closed[node]!.push({ from_ms, to_ms: now_ms });
    }
    for (const node of members) if (!this.#open.has(node)) this.#open.set(node, now_ms);
  }

  /** Every replica's spans, those still open closed at `end_ms`. */
  spans(end_ms: number): StableSpan[][] {
    return this.#closed.map((closed, node) => {
      const from_ms = this.#open.get(node);
      const all =
        from_ms === undefined || !this.#honest.includes(node)
          ? [...closed]
          : [...closed, { from_ms, to_ms: end_ms }];
      return all.filter((s) => s.to_ms > s.from_ms);
    });
  }
}

/**
 * Consecutive blocks committed around a connected replica without its vote before it fails. A slow
 * replica's votes for a few blocks may all come after the fast quorum committed them (it then
 * commits from their COMMITs, signing nothing): that is PBFT working, not a replica left behind.
 * A replica that only keeps up by state transfer misses far more.
 */
export const MAX_UNVOTED_BLOCKS = 16;
/** Time a replica has, after it (re)joins the connected n - f, to catch up before it must vote. */
export const VOTE_SETTLE_MS = 1_000;

const short = (id: string) => id.slice(0, 12);

export function checkAdmittedProgress(result: SimulationResult, bound_ms: number): Violation[] {
  const failed = new Map<number, { count: number; example: string }>();
  for (const a of result.admissions) {
    const deadline = stableDeadline(result.stableSpans[a.node] ?? [], a.at_ms, bound_ms);
    if (deadline === null) continue;
    if (result.crashTimes[a.node]!.some((t) => t > a.at_ms && t <= deadline)) continue; // lost in a crash
    const at = result.commitTimes[a.node]!.get(a.tx);
    if (at !== undefined && at <= deadline) continue;
    const entry = failed.get(a.node) ?? { count: 0, example: '' };
    entry.count++;
    entry.example ||=
      `tx ${short(a.tx)}… admitted at ${a.at_ms.toFixed(0)} ms, due by ${deadline.toFixed(0)} ms, ` +
      (at === undefined ? 'never committed there' : `committed there at ${at.toFixed(0)} ms`);
    failed.set(a.node, entry);
  }
  return [...failed].map(([node, { count, example }]) => ({
    checker: 'progress-admitted',
    detail: `replica ${node}: ${count} admitted transaction(s) not committed within ${bound_ms} ms of the network being stable with it; e.g. ${example}`,
  }));
}

/** When a transaction admitted at `at_ms` is due: bound_ms into the first stable span that lasts that long. */
function stableDeadline(spans: readonly StableSpan[], at_ms: number, bound_ms: number): number | null {
  for (const span of spans) {
    const from_ms = Math.max(span.from_ms, at_ms);
    if (span.to_ms - from_ms >= bound_ms) return from_ms + bound_ms;
  }
  return null;
}

export function checkVoting(result: SimulationResult, settle_ms = VOTE_SETTLE_MS): Violation[] {
  const out: Violation[] = [];
  const committed = firstCommits(result);
  for (const node of result.honest) {
    let unvoted = 0;
    let firstUnvoted = 0;
    let worst: { count: number; from: number; to: number } | null = null;
    for (const span of result.stableSpans[node] ?? []) {
      unvoted = 0;
      for (const block of committed) {
        if (block.at_ms < span.from_ms + settle_ms || block.at_ms >= span.to_ms) continue;
        if (result.signatures.voted(node, block.height, block.hash)) {
          unvoted = 0;
          continue;
        }
        if (unvoted++ === 0) firstUnvoted = block.height;
        if (unvoted >= MAX_UNVOTED_BLOCKS && (!worst || unvoted > worst.count))
          worst = { count: unvoted, from: firstUnvoted, to: block.height };
      }
    }
    if (worst) {
      out.push({
        checker: 'progress-voting',
        detail: `replica ${node}, up and connected, signed no vote for ${worst.count} consecutive committed blocks (heights ${worst.from}..${worst.to}): it keeps up only by state transfer`,
      });
    }
  }
  return out;
}

/** Each committed height with its block hash and the time an honest replica first committed it, in order. */
function firstCommits(result: SimulationResult): Array<{ height: number; hash: string; at_ms: number }> {
  const byHeight = new Map<number, { height: number; hash: string; at_ms: number }>();
  for (const node of result.honest) {
    const chain = result.chains[node]!;
    for (const [height, at_ms] of result.blockCommitTimes[node]!) {
      const entry = chain.at(height);
      if (!entry) continue;
      const known = byHeight.get(height);
      if (!known || at_ms < known.at_ms) byHeight.set(height, { height, hash: hex(entry.hash), at_ms });
    }
  }
  return [...byHeight.values()].sort((a, b) => a.height - b.height);
}
