/**
 * The crash-loop benchmark's figures from what its run observed (src/bench/crash-loop.ts): accepted
 * transactions that never committed, the longest wait between commits while a quorum of processes
 * was up, each restarted validator's way back to voting, and whether every node ended on one chain.
 * Pure functions over plain records, so the checks themselves are tested without processes.
 */

/** A transaction a node's API answered 202 for. */
export interface AcceptedTx {
  hash: string;
  /** The validator whose API accepted it (its signer's node). */
  node: number;
  signer: number;
  nonce: number;
  /** Milliseconds from the start of the load. */
  at_ms: number;
  /** The 202 carried API_NO_QUORUM: accepted while the node saw too few peers to commit. */
  noQuorumWarning: boolean;
}

/** The cluster's highest height first seen at `at_ms` (a commit, as polling sees it). */
export interface CommitSighting {
  at_ms: number;
  height: number;
}

/** From `at_ms` on, `up` validator processes were running. */
export interface UpChange {
  at_ms: number;
  up: number;
}

export interface Restart {
  /** 1-based number of the kill. */
  kill: number;
  node: number;
  /** Whether the victim was the primary of the view most validators were in. */
  wasPrimary: boolean;
  killedAt_ms: number;
  /** How long it was left down before its restart (the drawn delay). */
  down_ms: number;
  /** From spawning the process to its API answering; null when it did not start. */
  startup_ms: number | null;
  /** Ready again: /readyz ok, in the others' view, and at their height. */
  ready: boolean;
  /** From spawning the process to ready; null when it never was within the deadline. */
  ready_ms: number | null;
  /** Why it was not ready at the deadline (its last /readyz reason, view and height). */
  notReadyWhy?: string;
  startError?: string;
}

export interface NodeHead {
  node: number;
  height: number | null;
  hash: string | null;
  stateRoot: string | null;
  view: number | null;
  error?: string;
}

export interface Target {
  name: string;
  target: string;
  value: string;
  met: boolean;
}

export interface LostFigures {
  /** Accepted (202) but in no block on any validator at the end. */
  count: number;
  /** The first of them (hash, node, signer, nonce). */
  examples: AcceptedTx[];
  /** Lost transactions by the validator that accepted them. */
  byAcceptingNode: number[];
  /** Accepted transactions missing from each validator's chain at the end. */
  missingOnNode: number[];
  /**
   * Accepted and committed, but after an earlier transaction of the same signer was lost: the rule
   * engine refuses them (NONCE_GAP, nonces must follow on), so they are lost to the hospital too.
   */
  refusedAfterLoss: number;
}

/** What accepted transactions became: `committed[i]` is every hash in validator i's chain. */
export function lostTransactions(
  accepted: readonly AcceptedTx[],
  committed: ReadonlyArray<ReadonlySet<string> | null>,
  examples = 20,
): LostFigures {
  const n = committed.length;
  const lost: AcceptedTx[] = [];
  const byAcceptingNode = new Array<number>(n).fill(0);
  const missingOnNode = new Array<number>(n).fill(0);
  const firstLostNonce = new Map<number, number>();
  for (const tx of accepted) {
    let anywhere = false;
    committed.forEach((set, i) => {
      if (set?.has(tx.hash)) anywhere = true;
      else missingOnNode[i]!++;
    });
    if (anywhere) continue;
    lost.push(tx);
    if (tx.node < n) byAcceptingNode[tx.node]!++;
    firstLostNonce.set(tx.signer, Math.min(firstLostNonce.get(tx.signer) ?? Infinity, tx.nonce));
  }
  const lostHashes = new Set(lost.map((tx) => tx.hash));
  const refusedAfterLoss = accepted.filter(
    (tx) => !lostHashes.has(tx.hash) && tx.nonce > (firstLostNonce.get(tx.signer) ?? Infinity),
  ).length;
  return {
    count: lost.length,
    examples: lost.slice(0, examples),
    byAcceptingNode,
    missingOnNode,
    refusedAfterLoss,
  };
}

/** Up processes at `at_ms` by a sorted change list (the last change at or before it). */
function upAt(changes: readonly UpChange[], at_ms: number): number {
  let up = changes[0]?.up ?? 0;
  for (const change of changes) {
    if (change.at_ms > at_ms) break;
    up = change.up;
  }
  return up;
}

/** Whether at least `quorum` processes were up over all of [from_ms, to_ms]. */
function quorumUpThroughout(
  changes: readonly UpChange[],
  quorum: number,
  from_ms: number,
  to_ms: number,
): boolean {
  if (upAt(changes, from_ms) < quorum) return false;
  return changes.every((c) => c.at_ms <= from_ms || c.at_ms > to_ms || c.up >= quorum);
}

export interface CommitGap {
  gap_ms: number;
  from_ms: number;
  to_ms: number;
  /** The height committed at `from_ms` (the last before the gap). */
  height: number;
  /** The gap ran to the end of the load without another commit. */
  open: boolean;
}

/**
 * The longest time between consecutive commit sightings within the load window [start_ms, end_ms]
 * while at least `quorum` processes were up throughout (the first sighting opens the first interval;
 * the end of the load closes an open last one, so a stall that never ends counts too); null when
 * no interval qualifies.
 */
export function longestCommitGap(
  sightings: readonly CommitSighting[],
  upChanges: readonly UpChange[],
  quorum: number,
  window: { start_ms: number; end_ms: number },
): CommitGap | null {
  const inWindow = sightings.filter((s) => s.at_ms >= window.start_ms && s.at_ms <= window.end_ms);
  let longest: CommitGap | null = null;
  const consider = (gap: CommitGap) => {
    if (!quorumUpThroughout(upChanges, quorum, gap.from_ms, gap.to_ms)) return;
    if (longest === null || gap.gap_ms > longest.gap_ms) longest = gap;
  };
  for (let k = 1; k < inWindow.length; k++) {
    const [a, b] = [inWindow[k - 1]!, inWindow[k]!];
    consider({ gap_ms: b.at_ms - a.at_ms, from_ms: a.at_ms, to_ms: b.at_ms, height: a.height, open: false });
  }
  const last = inWindow[inWindow.length - 1];
  if (last) {
    consider({
      gap_ms: window.end_ms - last.at_ms,
      from_ms: last.at_ms,
      to_ms: window.end_ms,
      height: last.height,
      open: true,
    });
  }
  return longest;
}

/** Whether every validator answered with one height, block hash and state root. */
export function headsEqual(heads: readonly NodeHead[]): boolean {
  const first = heads[0];
  if (!first || first.hash === null) return false;
  return heads.every(
    (h) => h.height === first.height && h.hash === first.hash && h.stateRoot === first.stateRoot,
  );
}

/** The value at fraction `p` of sorted `values` (nearest rank), or null when there are none. */
export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

export const TARGETS = {
  lost: 0,
  ready_ms: 15_000,
  commitGap_ms: 5_000,
} as const;

/** The four figures the benchmark is judged by, each beside its target. */
export function targets(figures: {
  lost: number;
  restarts: readonly Restart[];
  longestGap: CommitGap | null;
  headsEqual: boolean;
}): Target[] {
  const slow = figures.restarts.filter((r) => !r.ready || r.ready_ms! > TARGETS.ready_ms);
  const worst = figures.restarts.reduce((max, r) => Math.max(max, r.ready_ms ?? Infinity), 0);
  const never = figures.restarts.filter((r) => !r.ready).length;
  const gap = figures.longestGap?.gap_ms ?? null;
  return [
    {
      name: 'accepted transactions lost',
      target: String(TARGETS.lost),
      value: String(figures.lost),
      met: figures.lost <= TARGETS.lost,
    },
    {
      name: 'restarted validators ready again',
      target: `all, each within ${TARGETS.ready_ms / 1000} s`,
      value:
        figures.restarts.length === 0
          ? 'no restarts'
          : `${figures.restarts.length - never}/${figures.restarts.length} ready` +
            (never > 0 ? `, ${never} never` : '') +
            (Number.isFinite(worst) ? `, slowest ${(worst / 1000).toFixed(1)} s` : '') +
            `, ${slow.length} over ${TARGETS.ready_ms / 1000} s or never`,
      met: slow.length === 0,
    },
    {
      name: 'longest commit gap with at least n − f up',
      target: `≤ ${TARGETS.commitGap_ms / 1000} s`,
      value: gap === null ? 'no commits seen' : `${(gap / 1000).toFixed(1)} s`,
      met: gap !== null && gap <= TARGETS.commitGap_ms,
    },
    {
      name: 'heads and state roots equal at the end',
      target: 'yes',
      value: figures.headsEqual ? 'yes' : 'no',
      met: figures.headsEqual,
    },
  ];
}
