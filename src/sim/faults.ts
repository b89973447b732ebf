/**
 * Fault kinds and the fault plan of one run: which network faults are on and how strong, when
 * partitions start and heal, which honest replicas crash and for how long, and which replicas (at
 * most f) are Byzantine with which behaviours. All faults happen in [0, faultPeriod_ms); at
 * faultPeriod_ms the network heals and every crashed replica is up again. Byzantine replicas stay
 * Byzantine to the end: tolerating f of them forever is the protocol's promise. `twins` spends the
 * whole Byzantine budget on twinned validators (twins.ts), so it does not combine with the wrappers.
 */
import { MedledgerError } from '../errors.ts';
import { maxFaults } from '../ledger/index.ts';
import type { Prng } from '../prng.ts';
import { type DelayDistribution, HEALTHY_LINKS, type NetworkConfig, type NetworkFaults } from './network.ts';
import { planTwins, type TwinsPlan } from './twins.ts';

export const NETWORK_FAULTS = ['delay', 'drop', 'duplicate', 'reorder', 'partition'] as const;
export const CRASH_FAULTS = ['crash', 'crash-primary'] as const;
/** Every clock off a little (within the bound), one honest replica's far off while faults last. */
export const CLOCK_FAULTS = ['clock-skew'] as const;
export const BYZANTINE_FAULTS = [
  'equivocate',
  'conflicting-votes',
  'silence',
  'replay',
  'forge',
  'bogus-viewchange',
  'forge-preprepare',
  'bad-tx',
  'forge-newview',
  'split-votes',
  'bend-time',
  'flood-requests',
  'mangle',
] as const;
/** f validators each run as two honest replicas with one key, under shifting partitions (twins.ts). */
export const TWINS_FAULTS = ['twins'] as const;
export const FAULT_KINDS = [
  ...NETWORK_FAULTS,
  ...CRASH_FAULTS,
  ...CLOCK_FAULTS,
  ...BYZANTINE_FAULTS,
  ...TWINS_FAULTS,
] as const;
/**
 * Byzantine behaviours that try exactly what one of the honest code's checks refuses (a forged
 * PRE-PREPARE signature, a transaction with a broken signature, NEW-VIEW re-proposals that do not
 * follow from the view changes, votes split to exploit a quorum one short, GET-TXS and GET-BODIES
 * asked again and again beyond the answer budget, messages mangled into others that still decode).
 * They are chosen by name only, never by `random` or `all`, so that the seeds of the random mix
 * replay as they always did.
 */
export const TARGETED_ATTACKS = [
  'forge-preprepare',
  'bad-tx',
  'forge-newview',
  'split-votes',
  'bend-time',
  'flood-requests',
  'mangle',
] as const;
/** Faults chosen by name only, like the targeted attacks. */
const BY_NAME_ONLY: readonly string[] = [
  ...TARGETED_ATTACKS,
  ...CLOCK_FAULTS,
  'crash-primary',
  ...TWINS_FAULTS,
];
/** The kinds of the random mix and of `all` (named-only kinds left out, for the same reason). */
export const MIXED_FAULT_KINDS: readonly FaultKind[] = FAULT_KINDS.filter((k) => !BY_NAME_ONLY.includes(k));

export type FaultKind = (typeof FAULT_KINDS)[number];
export type ByzantineBehaviour = (typeof BYZANTINE_FAULTS)[number];

/** `random` (a mix chosen per seed), `all`, `none`, or a comma-separated list of kinds. */
export type FaultSelection = 'random' | readonly FaultKind[];

export function isFaultKind(name: string): name is FaultKind {
  return (FAULT_KINDS as readonly string[]).includes(name);
}

export function parseFaults(text: string): FaultSelection {
  const trimmed = text.trim();
  if (trimmed === 'random') return 'random';
  if (trimmed === 'all') return [...MIXED_FAULT_KINDS];
  if (trimmed === 'none' || trimmed === '') return [];
  const kinds: FaultKind[] = [];
  for (const name of trimmed.split(',').map((s) => s.trim())) {
    if (!isFaultKind(name)) {
      throw new MedledgerError(
        'SIM_BAD_FAULT',
        `unknown fault kind "${name}" (known: ${FAULT_KINDS.join(', ')}; or random, all, none)`,
      );
    }
    if (!kinds.includes(name)) kinds.push(name);
  }
  const wrappers = kinds.filter((k) => (BYZANTINE_FAULTS as readonly string[]).includes(k));
  if (kinds.includes('twins') && wrappers.length > 0) {
    throw new MedledgerError(
      'SIM_BAD_FAULT',
      `twins makes the f Byzantine validators themselves, so it does not combine with ${wrappers.join(', ')}`,
    );
  }
  return kinds;
}

/** The fault kinds of one seed: the selection itself, or a random non-empty mix. */
export function resolveFaults(selection: FaultSelection, prng: Prng): FaultKind[] {
  if (selection !== 'random') return [...selection];
  for (;;) {
    const kinds = MIXED_FAULT_KINDS.filter(() => prng.chance(0.45));
    if (kinds.length > 0) return kinds;
  }
}

export interface PartitionPlan {
  start_ms: number;
  end_ms: number;
  groups: number[][];
}

export interface CrashPlan {
  node: number;
  at_ms: number;
  down_ms: number;
  /** Crash in the middle of an action list, right after a persist and before the sends after it. */
  midStep: boolean;
}

export interface FaultPlan {
  kinds: FaultKind[];
  network: NetworkConfig;
  partitions: PartitionPlan[];
  crashes: CrashPlan[];
  /** Byzantine replica → its behaviours. */
  byzantine: Map<number, ByzantineBehaviour[]>;
  /** With `twins`: the twinned validators and the partitions of their instances; else null. */
  twins: TwinsPlan | null;
  clocks: ClockPlan;
}

/** How far each replica's clock is from true (virtual) time. */
export interface ClockPlan {
  /** Per replica, for the whole run: within a quarter of maxClockSkew_ms (0 without `clock-skew`). */
  skews_ms: number[];
  /** One honest replica whose clock is 2-4 times maxClockSkew_ms off until the faults heal. */
  bad: { node: number; skew_ms: number } | null;
}

const BASE_DELAY: DelayDistribution = { kind: 'uniform', min_ms: 1, max_ms: 4 };

export function planFaults(
  kinds: readonly FaultKind[],
  nodes: number,
  faultPeriod_ms: number,
  prng: Prng,
  maxClockSkew_ms = 0,
): FaultPlan {
  const has = (kind: FaultKind) => kinds.includes(kind);
  const links: NetworkFaults = { ...HEALTHY_LINKS, delay: BASE_DELAY };
  if (has('delay')) {
    links.delay = prng.chance(0.5)
      ? { kind: 'uniform', min_ms: 1, max_ms: prng.between(5, 30) }
      : {
          kind: 'long-tail',
          min_ms: 1,
          max_ms: 4,
          tailProbability: prng.between(0.02, 0.2),
          alpha: 1.2,
          cap_ms: 400,
        };
  }
  if (has('drop')) links.dropProbability = prng.between(0.01, 0.15);
  if (has('duplicate')) links.duplicateProbability = prng.between(0.01, 0.15);
  if (has('reorder')) {
    links.reorderProbability = prng.between(0.05, 0.3);
    links.reorderMin_ms = 2;
    links.reorderMax_ms = prng.between(10, 60);
  }

  const f = maxFaults(nodes);
  const byzantine = new Map<number, ByzantineBehaviour[]>();
  const behaviours = BYZANTINE_FAULTS.filter(has);
  if (behaviours.length > 0 && f > 0) {
    if (has('twins')) throw new RangeError('twins does not combine with the Byzantine wrappers');
    const count = prng.intBetween(1, f);
    const chosen = chooseByzantine(has, nodes, count, prng);
    for (const node of chosen) byzantine.set(node, [...behaviours]);
  }
  // Its own stream, so the twins' schedule moves no other fault's draws.
  const twins = has('twins') ? planTwins(nodes, faultPeriod_ms, prng.derive('twins')) : null;
  const faulty = (i: number) => byzantine.has(i) || (twins?.nodes.includes(i) ?? false);
  const honest = Array.from({ length: nodes }, (_, i) => i).filter((i) => !faulty(i));

  const partitions: PartitionPlan[] = [];
  if (has('partition')) {
    let start_ms = prng.between(0, faultPeriod_ms * 0.4);
    const count = prng.intBetween(1, 2);
    for (let i = 0; i < count && start_ms < faultPeriod_ms - 50; i++) {
      const end_ms = Math.min(faultPeriod_ms, start_ms + prng.between(100, faultPeriod_ms * 0.5));
      const shuffled = prng.shuffle(Array.from({ length: nodes }, (_, j) => j));
      const cut = prng.chance(0.5) ? 1 : prng.intBetween(1, nodes - 1);
      partitions.push({ start_ms, end_ms, groups: [shuffled.slice(0, cut), shuffled.slice(cut)] });
      start_ms = end_ms + prng.between(50, 300);
    }
  }

  const crashes: CrashPlan[] = [];
  if (has('crash') && honest.length > 0) {
    const count = prng.intBetween(1, 3);
    for (let i = 0; i < count; i++) {
      crashes.push({
        node: prng.pick(honest),
        at_ms: prng.between(0, faultPeriod_ms - 400),
        down_ms: prng.between(20, 600),
        midStep: prng.chance(0.5),
      });
    }
    crashes.sort((a, b) => a.at_ms - b.at_ms);
  }

  // The first primary crashes mid-run (if honest): the next view's primary takes over.
  if (has('crash-primary') && !faulty(0)) {
    crashes.push({
      node: 0,
      at_ms: prng.between(faultPeriod_ms * 0.2, faultPeriod_ms * 0.6),
      down_ms: prng.between(200, 600),
      midStep: false,
    });
    crashes.sort((a, b) => a.at_ms - b.at_ms);
  }

  const clocks: ClockPlan = { skews_ms: Array.from({ length: nodes }, () => 0), bad: null };
  if (has('clock-skew')) {
    const near = maxClockSkew_ms / 4;
    clocks.skews_ms = clocks.skews_ms.map(() => prng.between(-near, near));
    const sign = prng.chance(0.5) ? 1 : -1;
    clocks.bad = { node: prng.pick(honest), skew_ms: sign * prng.between(2, 4) * maxClockSkew_ms };
  }

  return {
    kinds: [...kinds],
    network: { baseDelay: BASE_DELAY, faults: links },
    partitions,
    crashes,
    byzantine,
    twins,
    clocks,
  };
}

/**
 * Which replicas are Byzantine. A primary's attacks need it to be primary, and a new primary's the
 * view after: a smart adversary corrupts the first primaries in turn (views 0.., or 1.. to lead the
 * first view change). Impersonating the primary needs a replica that is not. Otherwise, any replicas.
 */
function chooseByzantine(has: (k: FaultKind) => boolean, nodes: number, count: number, prng: Prng): number[] {
  const from = (first: number) => Array.from({ length: count }, (_, i) => (first + i) % nodes);
  if (has('bad-tx') || has('split-votes') || has('bend-time')) return from(0);
  if (has('forge-newview')) return from(1);
  if (has('forge-preprepare')) return from(nodes - count);
  const leaders = (has('equivocate') || has('bogus-viewchange')) && prng.chance(0.6);
  return leaders ? from(0) : prng.shuffle(Array.from({ length: nodes }, (_, i) => i)).slice(0, count);
}
