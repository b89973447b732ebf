/**
 * The crash-loop benchmark's view of its four validators (crash-loop.ts): polls every running one's
 * /v1/status for commit sightings, views and view changes, tracks which processes are up, restarts a
 * killed one and tells when it is voting again.
 */
import { MedledgerError } from '../errors.ts';
import type { NodeStatus } from '../node/validator.ts';
import type { ProcessCluster } from './cluster.ts';
import type { CommitSighting, Restart, UpChange } from './crash-loop-analysis.ts';

/** Validators, and how many of them may be faulty (f = floor((n − 1) / 3)). */
export const N = 4;
export const F = 1;
const POLL_MS = 200;
/** A restarted validator within this many blocks of the others' lowest height keeps pace. */
const PACE_SLACK_BLOCKS = 2;

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** GET with a timeout; null on any failure (a node being killed or restarted). */
async function getJson<T>(url: string, timeout_ms = 1_000): Promise<{ status: number; body: T } | null> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeout_ms) });
    return { status: response.status, body: (await response.json()) as T };
  } catch {
    return null;
  }
}

/** The view most validators report (ties: the higher), from the latest statuses. */
export function majorityView(statuses: ReadonlyArray<NodeStatus | null>, except?: number): number | null {
  const votes = new Map<number, number>();
  statuses.forEach((s, i) => {
    if (s && i !== except) votes.set(s.view, (votes.get(s.view) ?? 0) + 1);
  });
  let best: number | null = null;
  let most = 0;
  for (const [view, count] of votes) {
    if (count > most || (count === most && best !== null && view > best)) [best, most] = [view, count];
  }
  return best;
}

/**
 * Polls every running validator's /v1/status: commit sightings (the highest height, when it rises),
 * views, view changes started per process incarnation, and which processes are up.
 */
export class ClusterWatch {
  readonly statuses: Array<NodeStatus | null> = new Array(N).fill(null);
  readonly sightings: CommitSighting[] = [];
  readonly upChanges: UpChange[] = [];
  highestHeight = 0;
  highestView = 0;
  /** Per validator, per incarnation (start count): the most view changes it reported. */
  readonly #viewChanges: Array<Map<number, number>> = Array.from({ length: N }, () => new Map());
  readonly #cluster: ProcessCluster;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | null = null;
  #polling = false;
  #up = N;

  constructor(cluster: ProcessCluster, now: () => number) {
    this.#cluster = cluster;
    this.#now = now;
  }

  start(): void {
    this.#timer = setInterval(() => void this.#poll(), POLL_MS);
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
  }

  up(count: number): void {
    this.#up = count;
    this.upChanges.push({ at_ms: this.#now(), up: count });
  }

  down(node: number): void {
    this.statuses[node] = null;
    this.up(this.#up - 1);
  }

  viewChangesStarted(): number {
    let sum = 0;
    for (const map of this.#viewChanges) for (const count of map.values()) sum += count;
    return sum;
  }

  async #poll(): Promise<void> {
    if (this.#polling) return;
    this.#polling = true;
    try {
      await Promise.all(
        Array.from({ length: N }, async (_, i) => {
          if (!this.#cluster.running(i)) return;
          const start = this.#cluster.starts(i);
          const answer = await getJson<NodeStatus>(`${this.#cluster.api[i]}/v1/status`);
          if (answer?.status !== 200 || !this.#cluster.running(i) || this.#cluster.starts(i) !== start)
            return;
          const s = answer.body;
          this.statuses[i] = s;
          this.highestView = Math.max(this.highestView, s.view);
          const seen = this.#viewChanges[i]!;
          seen.set(start, Math.max(seen.get(start) ?? 0, s.viewChanges));
          if (s.height > this.highestHeight) {
            this.highestHeight = s.height;
            this.sightings.push({ at_ms: this.#now(), height: s.height });
          }
        }),
      );
    } finally {
      this.#polling = false;
    }
  }

  /** In the others' view, not changing view, at their pace, and /readyz ok. */
  ready(node: number): boolean {
    const s = this.statuses[node];
    if (!s || s.changingView) return false;
    const others = this.statuses.filter((o, j): o is NodeStatus => o !== null && j !== node);
    if (others.length < N - F - 1) return false;
    const view = majorityView(this.statuses, node);
    const lowest = Math.min(...others.map((o) => o.height));
    return s.view === view && s.height >= lowest - PACE_SLACK_BLOCKS;
  }

  async #readyNow(node: number): Promise<{ ok: boolean; why: string }> {
    const readyz = await getJson<{ ok: boolean; reason?: string }>(`${this.#cluster.api[node]}/readyz`);
    const s = this.statuses[node];
    const where = s
      ? `view ${s.view}${s.changingView ? ' (changing)' : ''}, height ${s.height}; others' view ${majorityView(this.statuses, node)}, heights ${this.statuses.map((o) => o?.height ?? '-').join('/')}`
      : 'no status';
    if (readyz?.status !== 200)
      return { ok: false, why: `readyz: ${readyz?.body.reason ?? 'no answer'}; ${where}` };
    return this.ready(node) ? { ok: true, why: '' } : { ok: false, why: where };
  }

  async restart(
    node: number,
    deadline_ms: number,
  ): Promise<Omit<Restart, 'kill' | 'node' | 'wasPrimary' | 'killedAt_ms' | 'down_ms'>> {
    const spawned = this.#now();
    try {
      await this.#cluster.start(node);
    } catch (error) {
      return { startup_ms: null, ready: false, ready_ms: null, startError: (error as Error).message };
    }
    this.up(this.#up + 1);
    const startup_ms = Math.round(this.#now() - spawned);
    let why = '';
    while (this.#now() - spawned < deadline_ms) {
      const check = await this.#readyNow(node);
      if (check.ok) return { startup_ms, ready: true, ready_ms: Math.round(this.#now() - spawned) };
      why = check.why;
      await sleep(POLL_MS);
    }
    return { startup_ms, ready: false, ready_ms: null, notReadyWhy: why };
  }

  /** Starts any validator whose process is not running (a failed restart), noting it. */
  async ensureAllRunning(notes: string[]): Promise<void> {
    for (let i = 0; i < N; i++) {
      if (this.#cluster.running(i)) continue;
      try {
        await this.#cluster.start(i);
        this.up(this.#up + 1);
        notes.push(`validator ${i} was not running and was started again`);
      } catch (error) {
        throw new MedledgerError(
          'BENCH_VALIDATOR_FAILED',
          `validator ${i} does not start: ${(error as Error).message}`,
        );
      }
    }
  }

  async waitAllReady(timeout_ms: number): Promise<void> {
    const deadline = this.#now() + timeout_ms;
    for (;;) {
      const checks = await Promise.all(Array.from({ length: N }, (_, i) => this.#readyNow(i)));
      if (checks.every((c) => c.ok)) return;
      if (this.#now() > deadline) {
        const why = checks.map((c, i) => (c.ok ? null : `validator ${i}: ${c.why}`)).filter(Boolean);
        throw new MedledgerError(
          'BENCH_NOT_READY',
          `validators not ready after ${timeout_ms} ms: ${why.join('; ')}`,
        );
      }
      await sleep(POLL_MS);
    }
  }
}
