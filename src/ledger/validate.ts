/**
 * The checks a block must pass to follow its parent, shared by the chain store (before appending)
 * and verifyChain (when auditing), so the store can never accept a block that verification rejects.
 *
 * Signatures (transactions and certificate) are not checked here: the store's callers have checked
 * them, and verifyChain checks them itself.
 */
import { bytesEqual, hex } from '../bytes.ts';
import type { Genesis } from './genesis.ts';
import { merkleRoot } from './merkle.ts';
import { checkWritesOrder, nextStateRoot } from './state-root.ts';
import { BLOCK_VERSION, type Block, type BlockHeader, type Receipt, type StateWrite } from './types.ts';

export type BlockProblemCode =
  | 'CHAIN_BAD_HEADER'
  | 'CHAIN_BAD_LINK'
  | 'CHAIN_BAD_TX'
  | 'CHAIN_BAD_TX_ROOT'
  | 'CHAIN_BAD_RECEIPTS'
  | 'CHAIN_BAD_WRITES'
  | 'CHAIN_BAD_STATE_ROOT';

export interface BlockProblem {
  code: BlockProblemCode;
  detail: string;
}

export interface Parent {
  header: BlockHeader;
  hash: Uint8Array;
}

/**
 * Null when `block`, with its transaction hashes, receipts and state writes, validly follows
 * `parent` under `genesis`; otherwise the first problem found.
 */
export function checkBlock(
  block: Block,
  txHashes: readonly Uint8Array[],
  receipts: readonly Receipt[],
  writes: readonly StateWrite[],
  parent: Parent,
  genesis: Genesis,
  validators: ReadonlySet<string>,
): BlockProblem | null {
  const { header, txs } = block;
  const fail = (code: BlockProblemCode, detail: string): BlockProblem => ({ code, detail });
  if (header.height !== parent.header.height + 1)
    return fail('CHAIN_BAD_HEADER', `height ${header.height} does not follow ${parent.header.height}`);
  if (header.version !== BLOCK_VERSION)
    return fail('CHAIN_BAD_HEADER', `block version ${header.version}, expected ${BLOCK_VERSION}`);
  if (header.chainId !== genesis.chainId) return fail('CHAIN_BAD_HEADER', `chain id ${header.chainId}`);
  if (!bytesEqual(header.prevHash, parent.hash))
    return fail('CHAIN_BAD_LINK', `prevHash is not the hash of block ${parent.header.height}`);
  if (header.timestamp < parent.header.timestamp) return fail('CHAIN_BAD_HEADER', 'timestamp goes backwards');
  if (!validators.has(hex(header.proposer))) return fail('CHAIN_BAD_HEADER', 'proposer is not a validator');
  if (txs.length > genesis.params.maxBlockTxs)
    return fail('CHAIN_BAD_HEADER', `${txs.length} txs, at most ${genesis.params.maxBlockTxs}`);
  const seen = new Set<string>();
  for (let i = 0; i < txs.length; i++) {
    if (txs[i]!.chainId !== genesis.chainId)
      return fail('CHAIN_BAD_TX', `tx ${i} is for chain ${txs[i]!.chainId}`);
    const id = hex(txHashes[i]!);
    if (seen.has(id)) return fail('CHAIN_BAD_TX', `tx ${i} appears twice in the block`);
    seen.add(id);
  }
  if (!bytesEqual(header.txRoot, merkleRoot(txHashes)))
    return fail('CHAIN_BAD_TX_ROOT', 'txRoot does not match the transactions');
  if (receipts.length !== txs.length)
    return fail('CHAIN_BAD_RECEIPTS', `${receipts.length} receipts for ${txs.length} txs`);
  for (let i = 0; i < receipts.length; i++) {
    if (!bytesEqual(receipts[i]!.txHash, txHashes[i]!))
      return fail('CHAIN_BAD_RECEIPTS', `receipt ${i} is for another tx`);
  }
  const order = checkWritesOrder(writes);
  if (order) return fail('CHAIN_BAD_WRITES', order);
  if (!bytesEqual(nextStateRoot(parent.header.stateRoot, writes, receipts), header.stateRoot)) {
    return fail('CHAIN_BAD_STATE_ROOT', "state writes and receipts do not produce the header's state root");
  }
  return null;
}
