/**
 * The node's Prometheus metrics (served on /metrics): chain height, view, view changes, commit
 * latency of transactions submitted here, mempool size, connected peers, messages rejected and peers
 * disconnected for misbehaviour by reason, and consensus messages and bytes sent and received; once
 * `watchChainHealth` is called, corrupt blocks found and repaired and the scrubber's progress. Gauges
 * and the counters are read from plain numbers when scraped, so they cost next to nothing between
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
  /** Transactions of proposals received by hash: held here when they came, and missing. */
  proposalTxs?(): { held: number; missing: number };
  blobsStored?(): number;
}

/** What the chain store's read checks and the scrubber (node/scrubber.ts) counted so far. */
export interface ChainHealthSource {
  corruptBlocks: number;
  unrepairedBlocks: number;
  blocksRepaired: number;
  scrubbedBlocks: number;
  /** Findings of the scrubber by kind (block, certificate, link, receipts, tx-index). */
  findings: ReadonlyMap<string, number>;
  /** State keys and per-block records that the start's state repair rewrote. */
  stateRepairs: number;
}

/** Submissions remembered for latency; older ones are forgotten (and not measured). */
const MAX_PENDING = 200_000;

export class NodeMetrics {
  readonly registry = new Registry();
  readonly #commitLatency: Histogram;
  readonly #committedTxs: Counter;
  readonly #submittedAt = new Map<string, number>();
  /** Consensus messages and their bytes, sent to and received from other validators. */
  readonly #wire = { sentMessages: 0, sentBytes: 0, receivedMessages: 0, receivedBytes: 0 };

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
    if (source.proposalTxs) {
      const reported = { held: 0, missing: 0 };
      new Counter({
        name: 'medledger_proposal_transactions_total',
        help: 'Transactions of proposals received by hash, by whether this node held them when the proposal came',
        labelNames: ['found'],
        registers,
        collect() {
          const now = source.proposalTxs!();
          for (const found of ['held', 'missing'] as const) {
            this.inc({ found }, now[found] - reported[found]);
            reported[found] = now[found];
          }
        },
      });
    }
    // A peer's message that is rejected (malformed, oversized) also disconnects the peer: one count.
    const byReason = (name: string, help: string) => {
      const reported = new Map<string, number>();
      return new Counter({
        name,
        help,
        labelNames: ['reason'],
        registers,
        collect() {
          for (const [reason, count] of source.misbehaviour()) {
            this.inc({ reason }, count - (reported.get(reason) ?? 0));
            reported.set(reason, count);
          }
        },
      });
    };
    byReason('medledger_rejected_messages_total', 'Messages from peers rejected, by reason');
    byReason('medledger_peers_disconnected_total', 'Peers disconnected for misbehaviour, by reason');
    this.#commitLatency = new Histogram({
      name: 'medledger_commit_latency_seconds',
      help: 'Time from a transaction reaching this node to its commit here',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    const wire = this.#wire;
    const reported = { sentMessages: 0, sentBytes: 0, receivedMessages: 0, receivedBytes: 0 };
    const wireCounter = (name: string, help: string, sent: keyof typeof wire, received: keyof typeof wire) =>
      new Counter({
        name,
        help,
        labelNames: ['direction'],
        registers,
        collect() {
          this.inc({ direction: 'sent' }, wire[sent] - reported[sent]);
          this.inc({ direction: 'received' }, wire[received] - reported[received]);
          reported[sent] = wire[sent];
          reported[received] = wire[received];
        },
      });
    wireCounter(
      'medledger_consensus_messages_total',
      'Consensus messages sent to and received from other validators, by direction',
      'sentMessages',
      'receivedMessages',
    );
    wireCounter(
      'medledger_consensus_message_bytes_total',
      'Bytes of consensus messages sent to and received from other validators, by direction',
      'sentBytes',
      'receivedBytes',
    );
    this.#committedTxs = new Counter({
      name: 'medledger_committed_transactions_total',
      help: 'Transactions committed',
      registers,
    });
  }

  /** Registers the chain-health metrics, read from `read()` when scraped. Call once. */
  watchChainHealth(read: () => ChainHealthSource): void {
    const registers = [this.registry];
    const counter = (name: string, help: string, value: (h: ChainHealthSource) => number) => {
      let reported = 0;
      return new Counter({
        name,
        help,
        registers,
        collect() {
          const now = value(read());
          this.inc(Math.max(0, now - reported));
          reported = Math.max(reported, now);
        },
      });
    };
    counter(
      'medledger_corrupt_blocks_total',
      'Stored blocks found corrupt on read or by the scrubber',
      (h) => h.corruptBlocks,
    );
    counter(
      'medledger_blocks_repaired_total',
      'Corrupt stored blocks replaced by a verified copy',
      (h) => h.blocksRepaired,
    );
    counter(
      'medledger_scrubbed_blocks_total',
      'Stored blocks the scrubber has checked',
      (h) => h.scrubbedBlocks,
    );
    counter(
      'medledger_state_repairs_total',
      'State keys and block records rewritten by the state repair at start',
      (h) => h.stateRepairs,
    );
    new Gauge({
      name: 'medledger_corrupt_blocks_unrepaired',
      help: 'Stored blocks found corrupt and not repaired yet',
      registers,
      collect() {
        this.set(read().unrepairedBlocks);
      },
    });
    const reported = new Map<string, number>();
    new Counter({
      name: 'medledger_scrub_findings_total',
      help: 'Problems the scrubber found in stored records, by kind',
      labelNames: ['kind'],
      registers,
      collect() {
        for (const [kind, count] of read().findings) {
          this.inc({ kind }, count - (reported.get(kind) ?? 0));
          reported.set(kind, count);
        }
      },
    });
  }

  /** A consensus message of `bytes` handed to the network for another validator. */
  messageSent(bytes: number): void {
    this.#wire.sentMessages++;
    this.#wire.sentBytes += bytes;
  }

  /** A consensus message of `bytes` received from another validator. */
  messageReceived(bytes: number): void {
    this.#wire.receivedMessages++;
    this.#wire.receivedBytes += bytes;
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
