/**
 * Mutation runs: each deliberate protocol bug of `UnsafeTestingBugs` in turn, against the Byzantine
 * behaviour that tries what the missing check would let through, over many seeds, reporting the share
 * of seeds in which the checkers catch it. A checker that catches a mutation in few seeds is weaker
 * than it looks; `npm run sim:mutants` prints the table, and a bounded form runs in the tests.
 *
 * A seed catches a mutation when a checker independent of the mutated code objects: a safety or
 * validity checker, or the core failing at run time. Liveness does not count (a run may be slow for
 * other reasons), nor the `certificates` checker, which uses the ledger's quorumSize(), the very
 * arithmetic a quorum mutation stands for.
 */
import type { UnsafeTestingBugs } from '../consensus/types.ts';
import { independentQuorum } from './checkers.ts';
import { parseFaults } from './faults.ts';
import { type SimOptions, simOptions } from './options.ts';
import { runSeeds } from './parallel.ts';
import type { SeedOutcome } from './run.ts';

export interface Mutant {
  name: string;
  /** What the bug is. */
  description: string;
  nodes: readonly number[];
  /** The faults (a targeted attack, with what helps it) its runs use. */
  faults: string;
  unsafe: (n: number) => UnsafeTestingBugs;
  /** Caught in at least half the seeds by the current checkers: part of the bounded test. */
  reliable: boolean;
}

export const MUTANTS: readonly Mutant[] = [
  {
    name: 'commit-quorum-short',
    description: 'commit with one COMMIT fewer than a quorum',
    nodes: [4, 7],
    faults: 'split-votes',
    unsafe: (n) => ({ commitQuorum: independentQuorum(n) - 1 }),
    reliable: true,
  },
  {
    name: 'quorum-short',
    description: 'quorumSize() one short: every quorum of the replica one short',
    nodes: [4, 7],
    faults: 'split-votes',
    unsafe: (n) => ({ quorum: independentQuorum(n) - 1 }),
    reliable: true,
  },
  {
    // The same bug met by no attack code at all: f validators run twice (twins.ts).
    name: 'quorum-short-twins',
    description: 'quorumSize() one short, against twinned validators instead of a written attack',
    nodes: [4, 7],
    faults: 'twins',
    unsafe: (n) => ({ quorum: independentQuorum(n) - 1 }),
    reliable: true,
  },
  {
    name: 'skip-new-view-check',
    description: 'accept NEW-VIEW re-proposals that do not follow from its VIEW-CHANGEs',
    nodes: [4],
    faults: 'drop,crash-primary,forge-newview',
    unsafe: () => ({ skipNewViewCheck: true }),
    reliable: true,
  },
  {
    name: 'skip-preprepare-signature',
    description: 'accept a PRE-PREPARE without verifying its signature',
    nodes: [4],
    faults: 'forge-preprepare',
    unsafe: () => ({ skipPrePrepareSignatureCheck: true }),
    reliable: true,
  },
  {
    name: 'skip-tx-signature',
    description: "accept a proposal without verifying its transactions' signatures",
    nodes: [4],
    faults: 'bad-tx',
    unsafe: () => ({ skipTxSignatureCheck: true }),
    reliable: true,
  },
  {
    name: 'skip-clock-check',
    description: "vote for a new proposal whatever its timestamp's distance from the replica's clock",
    nodes: [4],
    faults: 'bend-time',
    unsafe: () => ({ skipClockCheck: true }),
    reliable: true,
  },
  {
    name: 'skip-answer-budget',
    description: 'answer GET-TXS and GET-BODIES in full however often a peer asks',
    nodes: [4],
    faults: 'flood-requests',
    unsafe: () => ({ skipAnswerBudget: true }),
    reliable: true,
  },
];

/** Checkers whose objection means the mutation was caught (see the file comment). */
const CATCHING = new Set([
  'agreement',
  'certified-fork',
  'validity',
  'no-duplicate-tx',
  'certificate-quorum',
  'chain-links',
  'honest-equivocation',
  'block-time',
  'answer-budget',
  'replica-invariant',
  'commit-apply',
]);

export interface MutantResult {
  mutant: string;
  nodes: number;
  /** true: the mutation on; false: the same attack against the honest code (must catch nothing). */
  mutated: boolean;
  seeds: number;
  caught: number;
  /** Seeds each catching checker objected in. */
  byChecker: Record<string, number>;
  /** Replay command of the first catching seed (or, for a control, of the first false alarm). */
  example: string | null;
}

export interface MutantRunOptions {
  seeds: number;
  firstSeed: number;
  /** Seeds of each control run (the attack without the mutation); 0 for none. */
  controlSeeds: number;
  workers: number;
  /** Only these mutants (all when absent). */
  only?: readonly string[];
  onOutcome?: (outcome: SeedOutcome) => void;
}

interface Cell {
  mutant: Mutant;
  nodes: number;
  mutated: boolean;
  runs: SimOptions[];
}

export async function runMutants(options: MutantRunOptions): Promise<MutantResult[]> {
  const cells: Cell[] = [];
  for (const mutant of MUTANTS) {
    if (options.only && !options.only.includes(mutant.name)) continue;
    for (const nodes of mutant.nodes) {
      const faults = parseFaults(mutant.faults);
      const seeds = (count: number) => Array.from({ length: count }, (_, i) => options.firstSeed + i);
      const run = (seed: number, mutated: boolean) =>
        simOptions({ seed, nodes, faults, ...(mutated ? { unsafe: mutant.unsafe(nodes) } : {}) });
      cells.push({ mutant, nodes, mutated: true, runs: seeds(options.seeds).map((s) => run(s, true)) });
      if (options.controlSeeds > 0)
        cells.push({
          mutant,
          nodes,
          mutated: false,
          runs: seeds(options.controlSeeds).map((s) => run(s, false)),
        });
    }
  }
  const outcomes = await runSeeds(
    cells.flatMap((c) => c.runs),
    options.workers,
    options.onOutcome,
  );
  let at = 0;
  return cells.map((cell) => {
    const mine = outcomes.slice(at, at + cell.runs.length);
    at += cell.runs.length;
    return summariseCell(cell, mine);
  });
}

function summariseCell(cell: Cell, outcomes: readonly SeedOutcome[]): MutantResult {
  const byChecker: Record<string, number> = {};
  let caught = 0;
  let example: string | null = null;
  for (const outcome of outcomes) {
    const checkers = new Set(outcome.violations.map((v) => v.checker).filter((c) => CATCHING.has(c)));
    if (checkers.size === 0) continue;
    caught++;
    example ??= outcome.replay;
    for (const c of checkers) byChecker[c] = (byChecker[c] ?? 0) + 1;
  }
  return {
    mutant: cell.mutant.name,
    nodes: cell.nodes,
    mutated: cell.mutated,
    seeds: outcomes.length,
    caught,
    byChecker,
    example,
  };
}

/** The results as a plain-text table. */
export function formatMutantTable(results: readonly MutantResult[]): string {
  const rows = results.map((r) => [
    r.mutated ? r.mutant : `  control: ${r.mutant} attack, no bug`,
    String(r.nodes),
    `${r.caught}/${r.seeds}`,
    `${((100 * r.caught) / Math.max(1, r.seeds)).toFixed(1)}%`,
    Object.entries(r.byChecker)
      .sort((a, b) => b[1] - a[1])
      .map(([c, k]) => `${c} ${k}`)
      .join(', ') || '-',
  ]);
  const header = ['mutation', 'n', 'caught', 'share', 'caught by (seeds)'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}
