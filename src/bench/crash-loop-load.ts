/**
 * The crash-loop benchmark's load and its check of what committed (crash-loop.ts): signed
 * transactions offered at a steady rate, each signer pinned to one validator's API, every 202
 * recorded; every validator's committed transactions followed block by block.
 */
import { hex } from '../bytes.ts';
import { encode } from '../codec/index.ts';
import { Transaction, txHash } from '../ledger/index.ts';
import type { Prng } from '../prng.ts';
import type { ProcessCluster } from './cluster.ts';
import type { AcceptedTx } from './crash-loop-analysis.ts';
import { N, sleep } from './crash-loop-watch.ts';
import { makeLoadTx } from './load.ts';

const SUBMIT_TIMEOUT_MS = 5_000;
/** The load's clock: offers that fell due are sent every this often. */
const TICK_MS = 20;

/**
 * The load: one signed org.register transaction every 1/rate s, signers taking turns, each signer
 * pinned to one validator's API and waiting for its previous answer (a hospital's app). A refused or
 * unreachable offer leaves the signer's nonce unused for its next one; an unanswered one uses it up.
 */
export class Load {
  readonly accepted: AcceptedTx[] = [];
  readonly unanswered: Array<{ hash: string }> = [];
  readonly #refused: Record<string, number> = {};
  #offered = 0;
  #skipped = 0;
  #noQuorum = 0;
  readonly #nonces: number[];
  readonly #busy: boolean[];
  readonly #inFlight = new Set<Promise<void>>();
  readonly #cluster: ProcessCluster;
  readonly #rate_tps: number;
  readonly #prng: Prng;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | null = null;
  #turn = 0;

  constructor(cluster: ProcessCluster, rate_tps: number, prng: Prng, now: () => number) {
    this.#cluster = cluster;
    this.#rate_tps = rate_tps;
    this.#prng = prng;
    this.#now = now;
    this.#nonces = cluster.admins.map(() => 0);
    this.#busy = cluster.admins.map(() => false);
  }

  /** Offers by the schedule (offer k due at k / rate s), so a busy event loop does not lower the rate. */
  start(): void {
    const began = this.#now();
    this.#timer = setInterval(() => {
      const due = Math.floor(((this.#now() - began) / 1000) * this.#rate_tps) + 1;
      while (this.#turn < due) this.#tick();
    }, TICK_MS);
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await Promise.all(this.#inFlight);
  }

  figures() {
    return {
      offered: this.#offered,
      accepted: this.accepted.length,
      acceptedWithNoQuorumWarning: this.#noQuorum,
      refused: this.#refused,
      unanswered: this.unanswered.length,
      skipped: this.#skipped,
    };
  }

  #sign(signer: number, nonce: number): Transaction {
    return makeLoadTx('org.register', {
      chainId: this.#cluster.genesis.chainId,
      secretKey: this.#cluster.admins[signer]!.secretKey,
      nonce,
      txBytes: 0,
      prng: this.#prng,
      label: `s${signer}`,
    });
  }

  /** Transactions signed with nonces no signer will use, recorded as accepted and never sent. */
  unsent(count: number): AcceptedTx[] {
    return Array.from({ length: count }, (_, k) => {
      const tx = this.#sign(0, 1_000_000 + k);
      return {
        hash: hex(txHash(tx)),
        node: 0,
        signer: 0,
        nonce: tx.nonce,
        at_ms: Math.round(this.#now()),
        noQuorumWarning: false,
      };
    });
  }

  #tick(): void {
    const signer = this.#turn++ % this.#busy.length;
    if (this.#busy[signer]) {
      this.#skipped++;
      return;
    }
    this.#busy[signer] = true;
    const done = this.#offer(signer).finally(() => {
      this.#busy[signer] = false;
      this.#inFlight.delete(done);
    });
    this.#inFlight.add(done);
  }

  async #offer(signer: number): Promise<void> {
    const node = signer % N;
    const nonce = this.#nonces[signer]! + 1;
    const tx = this.#sign(signer, nonce);
    const hash = hex(txHash(tx));
    const at_ms = Math.round(this.#now());
    this.#offered++;
    let response: Response;
    try {
      response = await fetch(`${this.#cluster.api[node]}/v1/txs`, {
        method: 'POST',
        body: encode(Transaction, tx),
        signal: AbortSignal.timeout(SUBMIT_TIMEOUT_MS),
      });
    } catch (error) {
      if ((error as Error).name === 'TimeoutError') {
        this.#nonces[signer] = nonce; // it may have been taken: the next must follow on
        this.unanswered.push({ hash });
      } else this.#count('unreachable');
      return;
    }
    const body = (await response.json().catch(() => ({}))) as {
      warning?: { code: string };
      code?: string;
      error?: { code?: string };
    };
    if (response.status !== 202) {
      this.#count(`${response.status} ${body.error?.code ?? body.code ?? ''}`.trim());
      return;
    }
    this.#nonces[signer] = nonce;
    const noQuorumWarning = body.warning?.code === 'API_NO_QUORUM';
    if (noQuorumWarning) this.#noQuorum++;
    this.accepted.push({ hash, node, signer, nonce, at_ms, noQuorumWarning });
  }

  #count(reason: string): void {
    this.#refused[reason] = (this.#refused[reason] ?? 0) + 1;
  }
}

/**
 * Every validator's committed transactions, read block by block (cluster.committed) one read at a
 * time per validator, and followed during the run so the final check reads only the last blocks.
 */
export class CommittedReader {
  readonly #cluster: ProcessCluster;
  readonly #queues: Array<Promise<unknown>> = Array.from({ length: N }, () => Promise.resolve());
  readonly #pending = new Array<boolean>(N).fill(false);
  #timer: NodeJS.Timeout | null = null;

  constructor(cluster: ProcessCluster) {
    this.#cluster = cluster;
  }

  read(i: number): Promise<ReadonlySet<string>> {
    const next = this.#queues[i]!.then(() => this.#cluster.committed(i));
    this.#queues[i] = next.catch(() => {});
    return next;
  }

  follow(every_ms: number): void {
    this.#timer = setInterval(() => {
      for (let i = 0; i < N; i++) {
        if (this.#pending[i] || !this.#cluster.running(i)) continue;
        this.#pending[i] = true;
        void this.read(i)
          .catch(() => {})
          .finally(() => {
            this.#pending[i] = false;
          });
      }
    }, every_ms);
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
  }
}

/**
 * With the load stopped and every validator up: waits up to `drain_ms` until every accepted
 * transaction is in every validator's chain, then returns each one's committed hashes (null for a
 * validator whose blocks could not be read).
 */
export async function drain(
  reader: CommittedReader,
  accepted: readonly AcceptedTx[],
  drain_ms: number,
  notes: string[],
): Promise<Array<ReadonlySet<string> | null>> {
  const deadline = performance.now() + drain_ms;
  let committed: Array<ReadonlySet<string> | null> = [];
  for (;;) {
    committed = await Promise.all(
      Array.from({ length: N }, (_, i) =>
        reader.read(i).catch((error) => {
          if (performance.now() >= deadline)
            notes.push(`validator ${i}'s blocks could not be read: ${error}`);
          return null;
        }),
      ),
    );
    const everywhere = accepted.every((tx) => committed.every((set) => set?.has(tx.hash)));
    if (everywhere || performance.now() >= deadline) return committed;
    await sleep(1_000);
  }
}
