/**
 * The node's Prometheus metrics (served on /metrics): chain height, view, view changes, commit
 * latency of transactions submitted here, mempool size, connected peers, and peers disconnected for
 * misbehaviour by reason. Gauges are read from the node when scraped, so they cost nothing between
 * scrapes.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export interface MetricsSource {
  height(): number;
  view(): number;
  viewChanges(): number;
  mempoolSize(): number;
  peers(): number;
  misbehaviour(): Map<string, number>;
  blobsStored?(): number;
}

/** Submissions remembered for latency; older ones are forgotten (and not measured). */
const MAX_PENDING = 200_000;

export class NodeMetrics {
  readonly registry = new Registry();
  readonly #commitLatency: Histogram;
  readonly #committedTxs: Counter;
  readonly #submittedAt = new Map<string, number>();

  constructor(source: MetricsSource) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'medledger_process_' });
    const gauge = (name: string, help: string, read: () => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read());
        },
      });
    gauge('medledger_height', 'Height of the last committed block', () => source.height());
    gauge('medledger_view', 'Current consensus view', () => source.view());
    gauge('medledger_view_changes', 'View changes this node has started', () => source.viewChanges());
    gauge('medledger_mempool_transactions', 'Transactions waiting to be committed', () =>
      source.mempoolSize(),
    );
    gauge('medledger_peers', 'Connected peers', () => source.peers());
    if (source.blobsStored)
      gauge('medledger_blobs_stored', 'Blobs in the local store', () => source.blobsStored!());
    new Gauge({
      name: 'medledger_peers_disconnected_total',
      help: 'Peers disconnected for misbehaviour, by reason',
      labelNames: ['reason'],
      registers,
      collect() {
        for (const [reason, count] of source.misbehaviour()) this.set({ reason }, count);
      },
    });
    this.#commitLatency = new Histogram({
      name: 'medledger_commit_latency_seconds',
      help: 'Time from a transaction reaching this node to its commit here',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.#committedTxs = new Counter({
      name: 'medledger_committed_transactions_total',
      help: 'Transactions committed',
      registers,
    });
  }

  submitted(txHash: string, now_ms: number): void {
    if (this.#submittedAt.size >= MAX_PENDING) this.#submittedAt.clear();
    this.#submittedAt.set(txHash, now_ms);
  }

  committed(txHashes: string[], now_ms: number): void {
    this.#committedTxs.inc(txHashes.length);
    for (const hash of txHashes) {
      const at = this.#submittedAt.get(hash);
      if (at === undefined) continue;
      this.#submittedAt.delete(hash);
      this.#commitLatency.observe((now_ms - at) / 1000);
    }
  }
}
