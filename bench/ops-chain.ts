/**
 * What each block added to a stopped validator's chain store, in exact logical bytes (keys plus
 * values, before LevelDB's compression): the block (header and transactions), its certificate,
 * receipts, the recorded state writes, the hash, transaction and index entries, and the net growth
 * of the live state (a new key adds key and value, an overwrite the difference of the values, a
 * deletion subtracts the old entry). Replays the writes from height 0 to know what each one replaced.
 */
import { join } from 'node:path';
import { hex } from '../src/bytes.ts';
import { encode } from '../src/codec/index.ts';
import { genesisState } from '../src/contracts/index.ts';
import {
  Block,
  ChainStore,
  CommitCertificate,
  indexEntries,
  loadGenesis,
  Receipts,
  StateWrites,
  Transaction,
  TxLocation,
  txHash,
} from '../src/ledger/index.ts';
import { heightBytes, heightKey, indexKey, PREFIX, prefixedKey } from '../src/ledger/keys.ts';

/** Bytes one block added to the chain store. */
export interface BlockBytes {
  height: number;
  txs: number;
  /** Each transaction's encoded, signed form, by hash. */
  tx_bytes: Map<string, number>;
  /** The block's header: the block entry minus its transactions. */
  header_bytes: number;
  certificate_bytes: number;
  receipts_bytes: number;
  /** Keys and values of the state writes (what execution wrote; deletions count their key). */
  state_write_bytes: number;
  /** The W entry that keeps the writes as history (state_write_bytes plus framing). */
  writes_history_bytes: number;
  /** Block-hash, transaction-location and patient/record index entries. */
  index_bytes: number;
  /** Net growth of the live state (S entries): can be negative. */
  state_net_bytes: number;
  /** Everything together: what the chain store grew by, logically. */
  total_bytes: number;
}

const HASH_BYTES = 32;

/** Bytes added by each block at `heights`, read from the chain store of the stopped node at `home`. */
export async function blockBytes(home: string, heights: Set<number>): Promise<BlockBytes[]> {
  const genesis = await loadGenesis(join(home, 'genesis.json'));
  const store = await ChainStore.open(join(home, 'data', 'chain'), genesis, genesisState(genesis));
  try {
    const live = new Map<string, number>();
    const head = store.head.height;
    const out: BlockBytes[] = [];
    const last = Math.max(...heights);
    if (last > head) throw new Error(`the chain store ends at ${head}, before height ${last}`);
    for (let height = 0; height <= last; height++) {
      const writes = (await store.writes(height)) ?? [];
      let state_write_bytes = 0;
      let state_net_bytes = 0;
      for (const { key, value } of writes) {
        const stateKey = prefixedKey(PREFIX.state, key).toString('hex');
        const keyBytes = key.length + 1;
        const before = live.get(stateKey);
        state_write_bytes += key.length + (value?.length ?? 0);
        if (value === null) {
          if (before !== undefined) state_net_bytes -= keyBytes + before;
          live.delete(stateKey);
        } else {
          state_net_bytes += before === undefined ? keyBytes + value.length : value.length - before;
          live.set(stateKey, value.length);
        }
      }
      if (!heights.has(height)) continue;
      const block = (await store.block(height))!;
      const receipts = (await store.receipts(height)) ?? [];
      const certificate = await store.certificate(height);
      const tx_bytes = new Map<string, number>();
      for (const tx of block.txs) tx_bytes.set(hex(txHash(tx)), encode(Transaction, tx).length);
      const entryKey = heightKey(PREFIX.block, height).length;
      const blockEntry = encode(Block, block).length;
      const txsTotal = [...tx_bytes.values()].reduce((a, b) => a + b, 0);
      const certificate_bytes = certificate ? entryKey + encode(CommitCertificate, certificate).length : 0;
      const receipts_bytes = entryKey + encode(Receipts, receipts).length;
      const writes_history_bytes = entryKey + encode(StateWrites, writes).length;
      let index_bytes = 1 + HASH_BYTES + heightBytes(height).length;
      block.txs.forEach((tx, index) => {
        index_bytes +=
          prefixedKey(PREFIX.tx, txHash(tx)).length + encode(TxLocation, { height, index }).length;
      });
      for (const { kind, id, txIndex } of indexEntries(receipts))
        index_bytes += indexKey(kind, id, height, txIndex).length + HASH_BYTES;
      const header_bytes = entryKey + blockEntry - txsTotal;
      out.push({
        height,
        txs: block.txs.length,
        tx_bytes,
        header_bytes,
        certificate_bytes,
        receipts_bytes,
        state_write_bytes,
        writes_history_bytes,
        index_bytes,
        state_net_bytes,
        total_bytes:
          header_bytes +
          txsTotal +
          certificate_bytes +
          receipts_bytes +
          writes_history_bytes +
          index_bytes +
          state_net_bytes,
      });
    }
    return out;
  } finally {
    await store.close();
  }
}
