/**
 * An explicit fault timeline for one simulation, instead of faults planned from the seed: at given
 * virtual times, crash or restart replicas (the primary of the moment included), partition the
 * network and heal it, degrade chosen links (delay, drop, duplicate), and turn chosen replicas
 * Byzantine. The benchmark (`medledger bench`, sim mode) feeds scenarios to the simulator this way.
 *
 * A schedule is plain data (it travels to worker threads with the rest of SimOptions). Everything
 * heals at the end of the fault period (`faultPeriod_ms`), as with planned faults.
 */
import { assert } from '../errors.ts';
import type { LinkFaults } from '../faults/link-faults.ts';
import { maxFaults } from '../ledger/index.ts';
import { BYZANTINE_FAULTS, type ByzantineBehaviour, type FaultPlan } from './faults.ts';
import { HEALTHY_LINKS } from './network.ts';

export type ScheduledFault =
  /** Crash a replica (or the primary at that moment); it restarts after restartAfter_ms, or at heal. */
  | { kind: 'crash'; at_ms: number; node: number | 'primary'; restartAfter_ms: number | null }
  /** Restart a crashed replica, or every crashed replica. */
  | { kind: 'restart'; at_ms: number; node: number | 'all' }
  /** Cut the network into groups (every replica in exactly one) that cannot reach each other. */
  | { kind: 'partition'; at_ms: number; groups: number[][] }
  /** End the partition and every link fault. */
  | { kind: 'heal'; at_ms: number }
  /** From now on (until a heal), messages from `from` to `faults.to` (every replica if absent) meet these link faults. */
  | { kind: 'links'; at_ms: number; from: number[]; faults: LinkFaults }
  /** These replicas turn Byzantine at at_ms (for the rest of the run) with these behaviours. */
  | { kind: 'byzantine'; at_ms: number; nodes: number[]; behaviours: ByzantineBehaviour[] };

/** A fault as the simulator applied it, for reports. */
export interface AppliedFault {
  /** Index in the schedule. */
  index: number;
  at_ms: number;
  kind: ScheduledFault['kind'];
  /** What was done, with replicas resolved (e.g. "crash replica 1 (primary of view 1)"). */
  description: string;
}

/** Checks a schedule against the number of replicas; throws on a malformed one (a caller's bug). */
export function checkSchedule(schedule: readonly ScheduledFault[], nodes: number): void {
  const isNode = (i: number) => Number.isInteger(i) && i >= 0 && i < nodes;
  const byzantine = new Set<number>();
  for (const fault of schedule) {
    assert(Number.isFinite(fault.at_ms) && fault.at_ms >= 0, 'a scheduled fault has a time >= 0');
    switch (fault.kind) {
      case 'crash':
        assert(fault.node === 'primary' || isNode(fault.node), 'a crash names a replica');
        break;
      case 'restart':
        assert(fault.node === 'all' || isNode(fault.node), 'a restart names a replica');
        break;
      case 'partition': {
        const all = fault.groups.flat();
        assert(all.every(isNode) && new Set(all).size === nodes, 'partition groups cover every replica once');
        break;
      }
      case 'links':
        assert(
          fault.from.every(isNode) && (fault.faults.to ?? []).every(isNode),
          'link faults name replicas',
        );
        break;
      case 'byzantine':
        assert(fault.nodes.every(isNode), 'Byzantine faults name replicas');
        assert(
          fault.behaviours.every((b) => (BYZANTINE_FAULTS as readonly string[]).includes(b)),
          'known Byzantine behaviours',
        );
        for (const node of fault.nodes) byzantine.add(node);
        break;
      case 'heal':
        break;
    }
  }
  assert(byzantine.size <= maxFaults(nodes), 'at most f Byzantine replicas');
}

/** The fault plan of a scheduled run: healthy links, and the Byzantine replicas with their behaviours. */
export function scheduledPlan(schedule: readonly ScheduledFault[]): FaultPlan {
  const byzantine = new Map<number, ByzantineBehaviour[]>();
  for (const fault of schedule) {
    if (fault.kind !== 'byzantine') continue;
    for (const node of fault.nodes) {
      const behaviours = byzantine.get(node) ?? [];
      for (const b of fault.behaviours) if (!behaviours.includes(b)) behaviours.push(b);
      byzantine.set(node, behaviours);
    }
  }
  return {
    kinds: [],
    network: { baseDelay: HEALTHY_LINKS.delay, faults: HEALTHY_LINKS },
    partitions: [],
    crashes: [],
    byzantine,
    twins: null,
    clocks: { skews_ms: [], bad: null },
  };
}

/** When each scheduled Byzantine replica turns: the earliest time any fault names it. */
export function byzantineFrom(schedule: readonly ScheduledFault[]): Map<number, number> {
  const from = new Map<number, number>();
  for (const fault of schedule) {
    if (fault.kind !== 'byzantine') continue;
    for (const node of fault.nodes) from.set(node, Math.min(from.get(node) ?? Infinity, fault.at_ms));
  }
  return from;
}
