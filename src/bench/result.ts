/**
 * The result of one benchmark run (`medledger bench`): everything measured, and everything needed
 * to repeat the run (the parsed scenario, the seed, versions and machine). It is what `result.json`
 * holds; the report (CSV files and charts) and `medledger bench compare` are made from it alone.
 *
 * Time origin: t = 0 s is when the load starts. The run offers load for warmup_s + duration_s
 * seconds; statistics (mean throughput, latency percentiles) cover the measured window
 * [warmup_s, warmup_s + duration_s); after it, the run waits up to `scenario.drain_s` for outstanding
 * transactions to commit. In sim mode every time is virtual (`clock: 'virtual'`): the simulator
 * charges no CPU time, so its throughput is bounded by the protocol (batch size, window, network
 * delays), not by this machine.
 */
import type { Scenario } from './scenario.ts';

export const BENCH_RESULT_VERSION = 1;

export interface BenchResult {
  /** Format version of this object: BENCH_RESULT_VERSION. */
  version: number;
  /** The scenario as parsed (defaults filled in), with the seed actually used. */
  scenario: Scenario;
  /** The scenario file the run was started with, as given on the command line (absent if none). */
  scenarioPath?: string;
  /** The seed of the run (`--seed` overrides the scenario's). */
  seed: number;
  /** 'virtual' in sim mode (simulated milliseconds), 'wall' in real mode. */
  clock: 'virtual' | 'wall';
  /** When the run started (ISO 8601, UTC). */
  startedAt: string;
  /** Measured seconds (the scenario's duration_s). */
  duration_s: number;
  /** Warm-up seconds before the measured window (the scenario's warmup_s). */
  warmup_s: number;
  /** Wall-clock seconds the whole run took, set-up and teardown included. */
  wall_s: number;
  versions: {
    /** medledger's version from package.json. */
    medledger: string;
    /** Node.js version (process.version). */
    node: string;
    /** `git rev-parse HEAD` of the working tree, or null when not a git checkout. */
    commit: string | null;
  };
  machine: {
    /** Logical CPUs. */
    cpus: number;
    cpuModel: string;
    /** Total memory. */
    memory_bytes: number;
    /** os.platform(), os.release(), os.arch(). */
    platform: string;
    release: string;
    arch: string;
  };
  /**
   * The physical limit on this machine: every validator verifies every client signature, so n
   * validators sharing `cores` cores commit at most verifiesPerSecond × cores ÷ n signed tx/s.
   */
  signatureBound: {
    /** Ed25519 verifies per second on one core (node:crypto), measured at the start of the run. */
    verifiesPerSecond: number;
    cores: number;
    /** n, the validators sharing the cores. */
    validators: number;
    /** verifiesPerSecond × cores ÷ validators. */
    bound_txps: number;
  };
  /** What the load generator offered. */
  load: {
    /** Transactions submitted (accepted by a validator's API), warm-up and measured window. */
    submittedTxs: number;
    /** Submitted in the measured window. */
    measuredSubmittedTxs: number;
    /** Requests or transactions a validator refused or that failed (e.g. the node was down). */
    failedSubmissions: number;
    /** Mean encoded transaction size. */
    meanTxBytes: number;
    /** Offered rate over the run (submitted ÷ (warmup_s + duration_s)). */
    offered_txps: number;
  };
  throughput: {
    /** Committed transactions per 1-second bucket; t_s is the bucket's start. Covers warm-up, measured window and drain, up to the last commit. */
    buckets: Array<{ t_s: number; txs: number }>;
    /** Transactions committed in the measured window ÷ duration_s. */
    mean_txps: number;
    /** The fullest 1-second bucket in the measured window. */
    peak_txps: number;
    /** mean_txps ÷ signatureBound.bound_txps in real mode; null in sim mode (virtual time is not bound by this machine's CPU). */
    ratioToBound: number | null;
  };
  /**
   * Commit latency of transactions submitted in the measured window: from the moment the load
   * generator submitted it (open loop: the moment it was due, so a generator that falls behind does
   * not hide latency) to the first commit seen at any (honest) validator. From an HDR histogram
   * (1 µs resolution, 3 significant digits).
   */
  latency: {
    /** Transactions measured (submitted in the window and committed). */
    count: number;
    /** Submitted in the window but not committed by the end of the drain. */
    uncommitted: number;
    p50_ms: number;
    p90_ms: number;
    p99_ms: number;
    p99_9_ms: number;
    max_ms: number;
    mean_ms: number;
    /** Latency at percentiles 0..100 (ascending percentile and value), for a percentile chart. */
    distribution: Array<{ percentile: number; value_ms: number }>;
    /** The raw HDR histogram (values in microseconds; absent in hand-made results), as hdr-histogram-js encodeIntoCompressedBase64 writes it. */
    hdrHistogram?: string;
  };
  /** Each fault of the timeline as applied. */
  faults: Array<{
    /** When it was applied (scenario time). */
    at_s: number;
    /** The scenario fault kind: crash, restart, partition, heal, delay, drop, duplicate, byzantine. */
    kind: string;
    /** What was done, with validators resolved (e.g. "crash validator 0 (primary of view 0)"). */
    description: string;
    /** Milliseconds from the fault to the next transaction commit anywhere; null if none followed. */
    nextCommitAfter_ms: number | null;
    /**
     * Milliseconds from the fault to the first commit of a transaction submitted after it: when
     * commits resumed, not counting blocks already in flight at the fault. Null if none.
     */
    resumedAfter_ms?: number | null;
    /**
     * Milliseconds from the fault to the start of the first half second of submissions after it
     * whose median latency is back within 25% (or 25 ms) of the median before it: when latency, not
     * just commits, recovered. Null if it never did, or nothing was measured before the fault.
     */
    latencyRecoveredAfter_ms?: number | null;
  }>;
  /** View changes started by the validators during the run (summed over validators). */
  viewChanges: number;
  /** Highest view any validator reached. */
  maxView: number;
  /**
   * Consensus-protocol messages between validators sent during the run: proposals, votes, view
   * changes, checkpoints, status, and client transactions forwarded between validators (not block
   * sync). Real mode: the validators' medledger_consensus_messages_total counters; sim: the
   * simulated network, lost messages included.
   */
  messages: {
    /** total ÷ committedBlocks. */
    perBlock: number;
    /** totalBytes ÷ committedBlocks. */
    bytesPerBlock: number;
    total: number;
    totalBytes: number;
  };
  /** Per validator process (real mode; empty in sim mode): CPU use over the run and peak RSS. */
  validators: Array<{
    index: number;
    /** Its CPU time during the run ÷ the run's wall time (load start to end of drain), in percent of one core (may exceed 100). */
    cpu_percent: number;
    /** CPU seconds (user + system) used during the run, over all its incarnations. */
    cpu_s: number;
    /** Peak resident set size (the kernel's VmHWM, or the highest sample). */
    maxRss_bytes: number;
    /** Times it was restarted during the run. */
    restarts: number;
  }>;
  /** Transactions committed during the run (warm-up, window and drain). */
  committedTxs: number;
  /** Blocks committed during the run (the longest validator chain's growth). */
  committedBlocks: number;
  /**
   * Of the transactions committed in those blocks, how many the rule engine refused (a receipt code
   * other than OK): on chain, but without effect. Null where not measured (sim mode).
   */
  refusedTxs?: number | null;
  /**
   * Real mode, per load kind (org.register, consent.grant, ...): submitted, committed, refused by the
   * rule engine (with counts per receipt code), and over the measured window committed tx/s and
   * accepted tx/s (committed and not refused). Absent or null where not measured (sim mode).
   */
  kinds?: Record<
    string,
    {
      submitted: number;
      committed: number;
      refused: number;
      refusedCodes: Record<string, number>;
      committed_txps: number;
      accepted_txps: number;
    }
  > | null;
  /**
   * Real mode: every block committed during the run, as the followers first saw it: its view, when
   * it was proposed (its timestamp, the proposer's clock) and first seen committed, in seconds since
   * the load started, its transactions and how many the rule engine refused. Absent or null in sim mode.
   */
  blocks?: Array<{
    height: number;
    view: number;
    proposed_s: number;
    committed_s: number;
    txs: number;
    refused: number;
  }> | null;
  /** Sim mode: what the simulator's checkers found (agreement, validity, ...); empty when all passed or in real mode. */
  violations: Array<{ checker: string; detail: string }>;
  /** Things the reader should know about this run (e.g. the load generator fell behind). */
  notes: string[];
}

/** A kind's refusals by receipt code, most frequent first: `NONCE_GAP 12, FORBIDDEN 3` ('' for none). */
export function refusedCodesText(codes: Record<string, number> | undefined): string {
  return Object.entries(codes ?? {})
    .sort((a, b) => b[1] - a[1])
    .map(([code, count]) => `${code} ${count}`)
    .join(', ');
}

/** `, N refused by the rule engine` when any committed transaction was refused (its effects not applied). */
export function refusedNote(result: Pick<BenchResult, 'refusedTxs'>): string {
  const refused = result.refusedTxs ?? 0;
  return refused > 0 ? `, ${refused} of them refused by the rule engine` : '';
}
