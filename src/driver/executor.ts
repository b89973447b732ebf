/**
 * The node's executor: runs blocks through the rule engine for the consensus core.
 *
 * - `build` and `execute` run a block speculatively on top of its parent, which is either the
 *   committed head or another speculatively executed block; the results (writes, receipts, state
 *   root) are kept by block hash in an overlay tree.
 * - A block must take each sender's nonces in order on top of its parent's exact state: `execute`
 *   refuses one with a transaction the rule engine would refuse for a nonce gap (see OUT_OF_ORDER),
 *   and `build` leaves such transactions out, so an honest proposal always passes that check.
 * - `commit` appends a committed block with its certificate, receipts and writes to the chain store in
 *   one atomic batch, reusing the speculative result or, for blocks that arrived by state transfer,
 *   executing it now and checking the state root the quorum certified.
 *
 * State reads are synchronous (the rule engine is): overlays first, then LevelDB's getSync.
 */

import { bytesEqual, hex } from '../bytes.ts';
import { type BlockContext, executeBlock, type StateReader } from '../contracts/index.ts';
import { MedledgerError } from '../errors.ts';
import {
  assembleBlock,
  type Block,
  blockHash,
  type ChainStore,
  type CommitCertificate,
  nextStateRoot,
  type Receipt,
  type StateWrite,
  type Transaction,
} from '../ledger/index.ts';

/**
 * The refusal that means a transaction was taken before an earlier nonce of its sender. Its signed
 * bytes would stay on chain, refused, so the client's transaction could never run again: only a
 * faulty primary (or one whose view of the chain is confused) proposes that, and backups refuse to
 * vote for it. Judged against the parent's exact state, never a lookup that may lag it.
 *
 * No other refusal qualifies. NONCE_REUSED: the parent's state already used that nonce, so the
 * transaction can run on no extension of it whatever the order; committing its refusal is what
 * clears it from mempools. NOT_REGISTERED and WRONG_CHAIN do not depend on the order of the
 * sender's transactions (mempools admit only registered senders, and a key rotated away never runs
 * again). Refusals past the nonce check consume the nonce and answer the client with a decision;
 * the order of different senders' transactions is the primary's to choose.
 */
const OUT_OF_ORDER = 'NONCE_GAP';

/** Indices of the transactions taken out of their sender's nonce order. */
function outOfOrder(receipts: readonly Receipt[]): Set<number> {
  const out = new Set<number>();
  receipts.forEach((receipt, i) => {
    if (receipt.code === OUT_OF_ORDER) out.add(i);
  });
  return out;
}

interface Speculation {
  height: number;
  parent: string;
  writes: StateWrite[];
  byKey: Map<string, Uint8Array | null>;
  receipts: Receipt[];
  stateRoot: Uint8Array;
}

export class NodeExecutor {
  readonly #store: ChainStore;
  readonly #validators: readonly Uint8Array[];
  readonly #now_ms: () => number;
  readonly #speculations = new Map<string, Speculation>();

  constructor(store: ChainStore, validators: readonly Uint8Array[], now_ms: () => number) {
    this.#store = store;
    this.#validators = validators;
    this.#now_ms = now_ms;
  }

  /** Reads the state as it is after block `tip` (a speculative block or the committed head). */
  #reader(tip: string): StateReader | null {
    const head = hex(this.#store.head.hash);
    const chain: Speculation[] = [];
    for (let at = tip; at !== head; ) {
      const speculation = this.#speculations.get(at);
      if (!speculation) return null; // neither the head nor a known speculative block
      chain.push(speculation);
      at = speculation.parent;
    }
    const store = this.#store;
    return {
      get(key) {
        const id = hex(key);
        for (const speculation of chain) {
          const value = speculation.byKey.get(id);
          if (value !== undefined) return value ?? undefined;
        }
        return store.stateSync(key);
      },
    };
  }

  #run(
    parentHash: string,
    parentRoot: Uint8Array,
    header: { height: number; timestamp: number },
    txs: readonly Transaction[],
  ) {
    const reader = this.#reader(parentHash);
    if (!reader) return null;
    const ctx: BlockContext = {
      chainId: this.#store.genesis.chainId,
      height: header.height,
      timestamp_ms: header.timestamp,
      genesis: this.#store.genesis,
    };
    const { receipts, writes } = executeBlock(reader, ctx, txs);
    return { receipts, writes, stateRoot: nextStateRoot(parentRoot, writes, receipts) };
  }

  #remember(
    hash: string,
    height: number,
    parent: string,
    result: { receipts: Receipt[]; writes: StateWrite[]; stateRoot: Uint8Array },
  ) {
    const byKey = new Map(result.writes.map((w) => [hex(w.key), w.value] as const));
    this.#speculations.set(hash, { height, parent, byKey, ...result });
  }

  /**
   * Assembles and speculatively executes the primary's next block. Transactions that would skip a
   * nonce of their sender on this parent are left out (their sender's later nonces in the batch then
   * skip one too, and go with them); they stay in the mempool for a later block. When none is left,
   * the block has no transactions, and the core does not propose it.
   */
  build(action: {
    height: number;
    view: number;
    parent: { hash: Uint8Array; stateRoot: Uint8Array; timestamp: number };
    txs: Transaction[];
  }): Block | null {
    const timestamp = Math.max(this.#now_ms(), action.parent.timestamp);
    const parent = hex(action.parent.hash);
    const header = { height: action.height, timestamp };
    const ordered = this.#runInOrder(parent, action.parent.stateRoot, header, action.txs);
    if (!ordered) return null;
    const block = assembleBlock({
      chainId: this.#store.genesis.chainId,
      height: action.height,
      view: action.view,
      timestamp,
      prevHash: action.parent.hash,
      stateRoot: ordered.result.stateRoot,
      proposer: this.#validators[action.view % this.#validators.length]!,
      txs: [...ordered.txs],
    });
    if (ordered.txs.length > 0)
      this.#remember(hex(blockHash(block.header)), action.height, parent, ordered.result);
    return block;
  }

  /**
   * Runs `txs` on the parent, dropping those taken out of their sender's nonce order until none is.
   * Dropping one changes no other's nonce check (a refused transaction takes no nonce), but the block
   * is run again without it, as the other transactions' positions and so their results may change.
   */
  #runInOrder(
    parent: string,
    parentRoot: Uint8Array,
    header: { height: number; timestamp: number },
    txs: readonly Transaction[],
  ) {
    for (;;) {
      const result = this.#run(parent, parentRoot, header, txs);
      if (!result) return null;
      const dropped = outOfOrder(result.receipts);
      if (dropped.size === 0) return { txs, result };
      txs = txs.filter((_, i) => !dropped.has(i));
    }
  }

  /** Speculatively executes a proposed block; `ok` false when it cannot or must not be executed. */
  execute(block: Block): { ok: boolean; stateRoot: Uint8Array; reason?: string } {
    const hash = hex(blockHash(block.header));
    const known = this.#speculations.get(hash);
    if (known) return { ok: true, stateRoot: known.stateRoot };
    const parent = hex(block.header.prevHash);
    const result = this.#runOn(parent, block.header, block.txs);
    if (!result) return { ok: false, stateRoot: new Uint8Array(32), reason: 'unknown parent' };
    const [gap] = outOfOrder(result.receipts);
    if (gap !== undefined)
      return {
        ok: false,
        stateRoot: new Uint8Array(32),
        reason: `transaction ${gap} is out of its sender's nonce order: ${result.receipts[gap]!.message}`,
      };
    this.#remember(hash, block.header.height, parent, result);
    return { ok: true, stateRoot: result.stateRoot };
  }

  #stateRootOf(hash: string): Uint8Array | null {
    if (hash === hex(this.#store.head.hash)) return this.#store.head.stateRoot;
    return this.#speculations.get(hash)?.stateRoot ?? null;
  }

  /**
   * The state root `txs` would produce in a block at `header` on top of block `parent` (the head or
   * a block executed here), without remembering anything; null when the parent is unknown here.
   */
  stateRootAfter(
    parent: Uint8Array,
    header: { height: number; timestamp: number },
    txs: readonly Transaction[],
  ): Uint8Array | null {
    return this.#runOn(hex(parent), header, txs)?.stateRoot ?? null;
  }

  /** Runs `txs` on top of a block known here (the head or a speculative one); null if unknown. */
  #runOn(parent: string, header: { height: number; timestamp: number }, txs: readonly Transaction[]) {
    const parentRoot = this.#stateRootOf(parent);
    return parentRoot ? this.#run(parent, parentRoot, header, txs) : null;
  }

  /** Applies a committed block: one atomic append to the chain store. */
  async commit(block: Block, certificate: CommitCertificate): Promise<{ receipts: Receipt[] }> {
    const hash = hex(blockHash(block.header));
    let speculation = this.#speculations.get(hash);
    // A certified block is applied whatever its receipts say: a quorum agreed on it.
    if (!speculation) {
      const parent = hex(block.header.prevHash);
      const result = this.#run(parent, this.#store.head.stateRoot, block.header, block.txs);
      if (!result)
        throw new MedledgerError(
          'NODE_COMMIT_GAP',
          `committed block ${block.header.height} does not extend the head`,
        );
      this.#remember(hash, block.header.height, parent, result);
      speculation = this.#speculations.get(hash)!;
    }
    if (!bytesEqual(speculation.stateRoot, block.header.stateRoot)) {
      // A quorum certified a state root this node does not reproduce: its state has diverged, or more
      // than f validators are faulty. Either way continuing would be wrong.
      throw new MedledgerError(
        'NODE_STATE_DIVERGED',
        `block ${block.header.height}: our state root differs from the certified one`,
      );
    }
    await this.#store.append({
      block,
      certificate,
      receipts: speculation.receipts,
      writes: speculation.writes,
    });
    // Everything at or below this height is now either the committed chain or abandoned.
    for (const [id, s] of this.#speculations)
      if (s.height <= block.header.height) this.#speculations.delete(id);
    return { receipts: speculation.receipts };
  }
}
