/** Block hashes and assembling a block from its parts. */
import { encode } from '../codec/index.ts';
import { sha256 } from '../crypto/index.ts';
import { merkleRoot } from './merkle.ts';
import { txHash } from './transaction.ts';
import { BLOCK_VERSION, type Block, BlockHeader, type Transaction } from './types.ts';

/** A block's id: SHA-256 of its header's canonical encoding. */
export function blockHash(header: BlockHeader): Uint8Array {
  return sha256(encode(BlockHeader, header));
}

export function txRootOf(txs: readonly Transaction[]): Uint8Array {
  return merkleRoot(txs.map(txHash));
}

export interface BlockParts {
  chainId: string;
  height: number;
  view: number;
  timestamp: number;
  prevHash: Uint8Array;
  stateRoot: Uint8Array;
  proposer: Uint8Array;
  txs: Transaction[];
  nonce?: number;
}

export function assembleBlock(parts: BlockParts): Block {
  const { txs, nonce = 0, ...rest } = parts;
  return { header: { version: BLOCK_VERSION, nonce, ...rest, txRoot: txRootOf(txs) }, txs };
}
