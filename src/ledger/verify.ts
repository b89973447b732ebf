/**
 * verifyChain: check a stored chain against its genesis file, trusting nothing else in the database.
 *
 * Block by block from height 0 it checks the block records (genesis equality, hash links, chain id,
 * timestamps, proposer, Merkle root, every transaction's signature and uniqueness, the commit
 * certificate, receipts, state writes and the state root) and stops at the first bad height. It then
 * rebuilds every derived record (hash and tx indexes, patient and record indexes, the current state,
 * the head) from the verified blocks and compares the database with it key by key, so an edited,
 * missing or extra record anywhere is found and attributed to the height it belongs to.
 */
import { bytesEqual, hex } from '../bytes.ts';
import { decode, encode, type Schema } from '../codec/index.ts';
import { blockHash } from './block.ts';
import { checkCertificate } from './certificate.ts';
import { type Genesis, genesisBlock, genesisWrites, validatorSet } from './genesis.ts';
import { indexEntries } from './indexes.ts';
import {
  HEAD_KEY,
  heightBytes,
  heightKey,
  indexKey,
  PREFIX,
  parseHeightKey,
  parseIndexKey,
  prefixedKey,
} from './keys.ts';
import type { ChainDb } from './store.ts';
import { type ChainStore, openChainDb } from './store.ts';
import { txHash, verifyTransactionSignature } from './transaction.ts';
import {
  BLOCK_VERSION,
  Block,
  type BlockHeader,
  CommitCertificate,
  Head,
  LIMITS,
  type Receipt,
  Receipts,
  type StateWrite,
  StateWrites,
  type Transaction,
  TxLocation,
} from './types.ts';
import { checkBlock } from './validate.ts';

export type ChainProblemCode =
  | 'CHAIN_MISSING_RECORD' // a record the chain needs is absent
  | 'CHAIN_UNDECODABLE' // a record's bytes are not a valid encoding
  | 'CHAIN_BAD_GENESIS' // height 0 differs from what the genesis file produces
  | 'CHAIN_OLD_FORMAT' // an earlier medledger wrote the chain, in a format this one does not verify
  | 'CHAIN_BAD_HEADER' // height, version, chain id, timestamp or proposer is wrong
  | 'CHAIN_BAD_LINK' // prevHash is not the hash of the previous header
  | 'CHAIN_BAD_TX_ROOT' // the Merkle root does not match the transactions
  | 'CHAIN_BAD_TX' // a transaction's signature, chain id or uniqueness is wrong
  | 'CHAIN_BAD_CERTIFICATE' // the commit certificate does not prove the block committed
  | 'CHAIN_BAD_RECEIPTS' // receipts do not correspond to the transactions
  | 'CHAIN_BAD_WRITES' // state writes are not sorted and unique
  | 'CHAIN_BAD_STATE_ROOT' // writes or receipts do not hash to the header's state root
  | 'CHAIN_BAD_INDEX' // a derived index entry is wrong
  | 'CHAIN_BAD_STATE' // the current state differs from replaying every block's writes
  | 'CHAIN_BAD_HEAD' // the head record does not name the last block
  | 'CHAIN_UNEXPECTED_RECORD'; // a record that no verified block accounts for

export interface ChainProblem {
  /** The first height found bad, or null when a stray record cannot be tied to any height. */
  height: number | null;
  code: ChainProblemCode;
  detail: string;
}

export interface ChainReport {
  ok: boolean;
  /** Height of the last block that verified (-1 if not even genesis did). */
  verifiedHeight: number;
  blocks: number;
  txs: number;
  problem: ChainProblem | null;
}

class Problem extends Error {
  readonly problem: ChainProblem;
  constructor(height: number | null, code: ChainProblemCode, detail: string) {
    super(detail);
    this.problem = { height, code, detail };
  }
}

function decodeRecord<T>(schema: Schema<T>, bytes: Uint8Array | undefined, height: number, what: string): T {
  if (bytes === undefined) throw new Problem(height, 'CHAIN_MISSING_RECORD', `${what} is missing`);
  try {
    return decode(schema, bytes, LIMITS.blockBytes);
  } catch (error) {
    throw new Problem(height, 'CHAIN_UNDECODABLE', `${what} does not decode: ${(error as Error).message}`);
  }
}

/** A genesis block of another chain format than this release's: named as such, not as a bad genesis. */
function formatProblem(version: number): Problem {
  if (version < BLOCK_VERSION) {
    return new Problem(
      0,
      'CHAIN_OLD_FORMAT',
      `the chain is of format ${version}, written by an earlier medledger; this release verifies chain ` +
        `format ${BLOCK_VERSION} only (verify it with the release that wrote it)`,
    );
  }
  return new Problem(
    0,
    'CHAIN_BAD_HEADER',
    `block version ${version}: the chain is of format ${version}, later than this release's ${BLOCK_VERSION}`,
  );
}

/** A record the verified chain says must exist; value null means "checked directly, any bytes". */
interface Expected {
  height: number;
  value: Uint8Array | null;
  code: ChainProblemCode;
}

interface Walk {
  verifiedHeight: number;
  txs: number;
  firstProblem: ChainProblem | null;
  expected: Map<string, Expected>;
  /** State keys deleted along the way, with the height that deleted them. */
  deletedAt: Map<string, number>;
  lastHeader: BlockHeader | null;
}

/**
 * What the rule engine's format requires of a committed transaction, beyond its signature (the
 * ledger does not know the bodies): a sentence when it does not fit, else null.
 */
export type TxCheck = (tx: Transaction, receipt: Receipt) => string | null;

async function walkBlocks(
  db: ChainDb,
  genesis: Genesis,
  genesisState: StateWrite[],
  checkTx: TxCheck | undefined,
): Promise<Walk> {
  const validators = validatorSet(genesis);
  const expectedGenesis = encode(Block, genesisBlock(genesis, genesisState));
  const expected = new Map<string, Expected>();
  const expect = (key: Uint8Array, height: number, value: Uint8Array | null, code: ChainProblemCode) =>
    expected.set(hex(key), { height, value, code });
  const seenTxs = new Set<string>();
  const deletedAt = new Map<string, number>();
  let prev: { header: BlockHeader; hash: Uint8Array } | null = null;
  let txs = 0;

  for (let height = 0; ; height++) {
    const blockBytes = await db.get(heightKey(PREFIX.block, height));
    if (blockBytes === undefined)
      return {
        verifiedHeight: height - 1,
        txs,
        firstProblem: null,
        expected,
        deletedAt,
        lastHeader: prev?.header ?? null,
      };
    try {
      const block = decodeRecord(Block, blockBytes, height, `block ${height}`);
      const { header } = block;
      const hash = blockHash(header);
      if (header.height !== height)
        throw new Problem(height, 'CHAIN_BAD_HEADER', `block ${height} says height ${header.height}`);
      if (height === 0 && header.version !== BLOCK_VERSION) throw formatProblem(header.version);
      const receipts = decodeRecord(
        Receipts,
        await db.get(heightKey(PREFIX.receipts, height)),
        height,
        `receipts ${height}`,
      );
      const writes = decodeRecord(
        StateWrites,
        await db.get(heightKey(PREFIX.writes, height)),
        height,
        `state writes ${height}`,
      );
      const txHashes = block.txs.map(txHash);

      if (prev === null) {
        if (!bytesEqual(blockBytes, expectedGenesis))
          throw new Problem(0, 'CHAIN_BAD_GENESIS', "block 0 is not the genesis file's block");
        if (
          receipts.length !== 0 ||
          !bytesEqual(encode(StateWrites, writes), encode(StateWrites, genesisState))
        ) {
          throw new Problem(
            0,
            'CHAIN_BAD_GENESIS',
            'genesis receipts or state writes differ from the genesis file',
          );
        }
      } else {
        // Signatures first: a tampered transaction is reported as such, not as a root mismatch.
        block.txs.forEach((tx, i) => {
          if (!verifyTransactionSignature(tx))
            throw new Problem(height, 'CHAIN_BAD_TX', `tx ${i} has an invalid signature`);
          const id = hex(txHashes[i]!);
          if (seenTxs.has(id)) throw new Problem(height, 'CHAIN_BAD_TX', `tx ${i} was already committed`);
          seenTxs.add(id);
        });
        const problem = checkBlock(block, txHashes, receipts, writes, prev, genesis, validators);
        if (problem) throw new Problem(height, problem.code, problem.detail);
        block.txs.forEach((tx, i) => {
          const why = checkTx?.(tx, receipts[i]!);
          if (why) throw new Problem(height, 'CHAIN_BAD_TX', `tx ${i} (${tx.type}): ${why}`);
        });
        const cert = decodeRecord(
          CommitCertificate,
          await db.get(heightKey(PREFIX.certificate, height)),
          height,
          `certificate ${height}`,
        );
        const why = checkCertificate(cert, {
          chainId: genesis.chainId,
          validators,
          height,
          blockHash: hash,
          proposedInView: header.view,
        });
        if (why) throw new Problem(height, 'CHAIN_BAD_CERTIFICATE', why);
        expect(heightKey(PREFIX.certificate, height), height, null, 'CHAIN_MISSING_RECORD');
      }

      // Everything this height accounts for in the database.
      for (const family of [PREFIX.block, PREFIX.receipts, PREFIX.writes])
        expect(heightKey(family, height), height, null, 'CHAIN_MISSING_RECORD');
      expect(prefixedKey(PREFIX.blockHash, hash), height, heightBytes(height), 'CHAIN_BAD_INDEX');
      txHashes.forEach((h, index) => {
        expect(prefixedKey(PREFIX.tx, h), height, encode(TxLocation, { height, index }), 'CHAIN_BAD_INDEX');
      });
      for (const { kind, id, txIndex } of indexEntries(receipts)) {
        expect(indexKey(kind, id, height, txIndex), height, txHashes[txIndex]!, 'CHAIN_BAD_INDEX');
      }
      for (const { key, value } of writes) {
        const stateKey = prefixedKey(PREFIX.state, key);
        if (value === null) {
          expected.delete(hex(stateKey));
          deletedAt.set(hex(stateKey), height);
        } else {
          expect(stateKey, height, value, 'CHAIN_BAD_STATE');
          deletedAt.delete(hex(stateKey));
        }
      }
      txs += block.txs.length;
      prev = { header, hash };
    } catch (error) {
      if (!(error instanceof Problem)) throw error;
      return {
        verifiedHeight: height - 1,
        txs,
        firstProblem: error.problem,
        expected,
        deletedAt,
        lastHeader: prev?.header ?? null,
      };
    }
  }
}

/** The height a stray record claims to belong to, from its key or value; null if it names none. */
function claimedHeight(key: Uint8Array, value: Uint8Array): number | null {
  switch (key[0]) {
    case PREFIX.block:
    case PREFIX.certificate:
    case PREFIX.receipts:
    case PREFIX.writes:
      return parseHeightKey(key);
    case PREFIX.patient:
    case PREFIX.record:
      return parseIndexKey(key)?.height ?? null;
    case PREFIX.blockHash:
      return value.length === 8 ? parseHeightKey(Buffer.concat([Buffer.of(PREFIX.blockHash), value])) : null;
    case PREFIX.tx:
      try {
        return decode(TxLocation, value).height;
      } catch {
        return null;
      }
    default:
      return null;
  }
}

/** Verifies the chain in an open database. Reads only; never changes anything. */
export async function verifyChainDb(
  db: ChainDb,
  genesis: Genesis,
  genesisState: StateWrite[] = genesisWrites(genesis),
  checkTx?: TxCheck,
): Promise<ChainReport> {
  const walk = await walkBlocks(db, genesis, genesisState, checkTx);
  const problems: ChainProblem[] = walk.firstProblem ? [walk.firstProblem] : [];
  // Records of heights at or above `limit` are not accounted for by any verified block.
  const limit = walk.verifiedHeight + 1;
  const complete = walk.firstProblem === null;

  if (complete && walk.lastHeader) {
    const last = walk.verifiedHeight;
    const expectedHead = encode(Head, {
      height: last,
      hash: blockHash(walk.lastHeader),
      stateRoot: walk.lastHeader.stateRoot,
    });
    const storedHead = await db.get(HEAD_KEY);
    let headHeight: number | null = null;
    try {
      headHeight = storedHead ? decode(Head, storedHead).height : null;
    } catch {}
    if (headHeight !== null && headHeight > last) {
      problems.push({
        height: last + 1,
        code: 'CHAIN_MISSING_RECORD',
        detail: `block ${last + 1} is missing (the head is at ${headHeight})`,
      });
    }
    walk.expected.set(hex(HEAD_KEY), { height: last, value: expectedHead, code: 'CHAIN_BAD_HEAD' });
  }

  for await (const [key, value] of db.iterator()) {
    const isDerivedWithoutHeight = key[0] === PREFIX.state || key[0] === PREFIX.head;
    if (isDerivedWithoutHeight && !complete) continue; // only meaningful once every block verified
    const id = hex(key);
    const want = walk.expected.get(id);
    if (want) {
      walk.expected.delete(id);
      if (want.value !== null && !bytesEqual(want.value, value)) {
        problems.push({
          height: want.height,
          code: want.code,
          detail: `record ${id.slice(0, 20)}… differs from what block ${want.height} implies`,
        });
      }
      continue;
    }
    const height = key[0] === PREFIX.state ? (walk.deletedAt.get(id) ?? null) : claimedHeight(key, value);
    // Records above a bad block belong to the unverified tail; above a good chain they are forgeries.
    if (!complete && height !== null && height >= limit) continue;
    problems.push({
      height,
      code: 'CHAIN_UNEXPECTED_RECORD',
      detail: `record ${id.slice(0, 20)}… is not accounted for by any block`,
    });
  }
  for (const [id, want] of walk.expected) {
    if (want.code === 'CHAIN_BAD_STATE' && !complete) continue;
    problems.push({
      height: want.height,
      code: want.code === 'CHAIN_BAD_HEAD' ? want.code : 'CHAIN_MISSING_RECORD',
      detail: `record ${id.slice(0, 20)}… is missing`,
    });
  }

  problems.sort((a, b) => (a.height ?? Number.POSITIVE_INFINITY) - (b.height ?? Number.POSITIVE_INFINITY));
  const problem =
    problems[0] ??
    (limit === 0
      ? ({ height: 0, code: 'CHAIN_MISSING_RECORD', detail: 'no genesis block' } as ChainProblem)
      : null);
  return { ok: problem === null, verifiedHeight: walk.verifiedHeight, blocks: limit, txs: walk.txs, problem };
}

/** Verifies the chain stored at `path` (the node must not have it open). */
export async function verifyChain(
  path: string,
  genesis: Genesis,
  genesisState: StateWrite[] = genesisWrites(genesis),
  checkTx?: TxCheck,
): Promise<ChainReport> {
  const db = await openChainDb(path, { create: false });
  try {
    return await verifyChainDb(db, genesis, genesisState, checkTx);
  } finally {
    await db.close();
  }
}

/** Verifies the chain of an open store (online, while the node runs). */
export function verifyStore(store: ChainStore, checkTx?: TxCheck): Promise<ChainReport> {
  return verifyChainDb(store.db, store.genesis, store.genesisState, checkTx);
}
