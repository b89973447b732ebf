/**
 * What a made-up block's state root would be: the rule engine run on top of a parent block that a
 * simulated replica committed, its state replayed from genesis. The adversaries (byzantine.ts) use it
 * so that a block they forge is refused only by the check it targets, not by a wrong state root.
 *
 * The replayed state is kept and extended forward; asking for an older parent replays from genesis.
 * Simulated chains are short, and adversaries mostly build on recent blocks.
 */

import { hex } from '../bytes.ts';
import { executeBlock, genesisState } from '../contracts/index.ts';
import { type Genesis, nextStateRoot, type Transaction } from '../ledger/index.ts';
import type { CommittedChain } from './committed-chain.ts';

export class StateOracle {
  readonly #genesis: Genesis;
  readonly #chain: CommittedChain;
  #state = new Map<string, Uint8Array>();
  /** The height whose state #state holds (-1: none yet). */
  #height = -1;

  constructor(genesis: Genesis, chain: CommittedChain) {
    this.#genesis = genesis;
    this.#chain = chain;
  }

  /** The state root `txs` produce at `header` on top of committed block `parent`, or undefined. */
  stateRootAfter(
    parent: Uint8Array,
    header: { height: number; timestamp: number },
    txs: readonly Transaction[],
  ): Uint8Array | undefined {
    const height = this.#chain.heightOf(parent);
    if (height === undefined) return undefined;
    this.#replayTo(height);
    const { receipts, writes } = executeBlock(this.#reader(), this.#context(header), txs);
    return nextStateRoot(this.#chain.at(height)!.block.header.stateRoot, writes, receipts);
  }

  #reader() {
    return { get: (key: Uint8Array) => this.#state.get(hex(key)) };
  }

  #context(header: { height: number; timestamp: number }) {
    return {
      chainId: this.#genesis.chainId,
      height: header.height,
      timestamp_ms: header.timestamp,
      genesis: this.#genesis,
    };
  }

  #replayTo(height: number): void {
    if (height < this.#height || this.#height < 0) {
      this.#state = new Map();
      for (const write of genesisState(this.#genesis)) this.#apply(write);
      this.#height = 0;
    }
    for (let h = this.#height + 1; h <= height; h++) {
      const { header, txs } = this.#chain.at(h)!.block;
      for (const write of executeBlock(this.#reader(), this.#context(header), txs).writes) this.#apply(write);
      this.#height = h;
    }
  }

  #apply(write: { key: Uint8Array; value: Uint8Array | null }): void {
    if (write.value === null) this.#state.delete(hex(write.key));
    else this.#state.set(hex(write.key), write.value);
  }
}
