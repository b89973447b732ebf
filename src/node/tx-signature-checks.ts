/**
 * Transaction signature checks off the event loop. The API's submissions and the transactions
 * peers share are verified on libuv's thread pool before they reach the replica, which then takes
 * them as checked: verification runs on every core and overlaps consensus and I/O, and the event
 * loop only hashes and looks up. (A proposal's transactions are not: a proposal waiting behind a
 * burst of shared transactions' checks held up consensus.)
 *
 * The thread pool also runs LevelDB's reads and synced writes, and those gate consensus (persist
 * before send): at most `maxInFlight` verifications run at once, so a thread stays free for the
 * store rather than queueing behind a burst of thousands. Each transaction (by hash) is verified
 * once: a check under way, or done recently, is joined rather than redone.
 *
 * With `maxInFlight` 0 every check runs on the event loop instead, at once, and nothing is
 * remembered (the mempool remembers what it admits); the node then leaves shared transactions to
 * the replica, which verifies them after consensus messages. That is the
 * default: measured on two cores, the thread pool gained nothing for one validator and cost a fifth to
 * a half of the throughput where four share the machine, as verification threads compete for the cores
 * with every validator's consensus, which the event loop's own order keeps ahead.
 */
import { hex } from '../bytes.ts';
import {
  type Transaction,
  txHash,
  verifyTransactionSignature,
  verifyTransactionSignatureAsync,
} from '../ledger/index.ts';

export class TxSignatureChecks {
  readonly #maxInFlight: number;
  readonly #maxRemembered: number;
  #inFlight = 0;
  /** Checks waiting for a slot, oldest first. */
  readonly #waiting: Array<() => void> = [];
  /** By hex transaction hash: whether its signature verifies, known or under way. */
  readonly #checks = new Map<string, Promise<boolean>>();

  constructor(options: { maxInFlight: number; maxRemembered: number }) {
    this.#maxInFlight = Math.max(0, options.maxInFlight);
    this.#maxRemembered = options.maxRemembered;
  }

  /** Whether checks run on the thread pool (else on the event loop, at once). */
  get offLoop(): boolean {
    return this.#maxInFlight > 0;
  }

  /** Checks not yet under way, waiting for a thread. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** Whether each transaction's signature verifies, in order. */
  check(txs: readonly Transaction[]): Promise<boolean[]> {
    if (!this.offLoop) return Promise.resolve(txs.map(verifyTransactionSignature));
    return Promise.all(txs.map((tx) => this.#checkOne(tx)));
  }

  #checkOne(tx: Transaction): Promise<boolean> {
    const id = hex(txHash(tx));
    let check = this.#checks.get(id);
    if (!check) {
      // A cache: what is checked and then never admitted must not pile up.
      if (this.#checks.size >= this.#maxRemembered) this.#checks.clear();
      check = this.#run(tx);
      this.#checks.set(id, check);
    }
    return check;
  }

  async #run(tx: Transaction): Promise<boolean> {
    if (this.#inFlight < this.#maxInFlight) this.#inFlight++;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    try {
      return await verifyTransactionSignatureAsync(tx);
    } finally {
      // The slot passes straight to the next waiting check, so at most maxInFlight ever run.
      const next = this.#waiting.shift();
      if (next) next();
      else this.#inFlight--;
    }
  }
}
