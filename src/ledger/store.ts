/**
 * The chain store: blocks, certificates, receipts, state writes, indexes and the current state in one
 * LevelDB database. Appending a block writes all of it, and the new head, in ONE atomic, synced batch:
 * after a crash the store holds either the whole block or none of it.
 *
 * The store checks what it can check cheaply (height, hash link, chain id, tx root, state root, the
 * certificate names this block); verifying signatures is the caller's job (consensus or block sync has
 * already done it) and verifyChain's.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type BatchOperation, Level } from 'level';
import { decode, encode, type Schema } from '../codec/index.ts';
import { MedledgerError } from '../errors.ts';
import { hex } from '../hex.ts';
import { blockHash } from './block.ts';
import { type Genesis, genesisBlock, genesisWrites, validatorSet } from './genesis.ts';
import { indexEntries } from './indexes.ts';
import {
  HEAD_KEY,
  heightBytes,
  heightKey,
  type IndexKind,
  indexKey,
  indexRange,
  PREFIX,
  parseHeightKey,
  parseIndexKey,
  prefixedKey,
} from './keys.ts';
import { txHash } from './transaction.ts';
import {
  BLOCK_VERSION,
  Block,
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
import { checkBlock, type Parent } from './validate.ts';

export type ChainDb = Level<Uint8Array, Uint8Array>;
type BatchOp = BatchOperation<ChainDb, Uint8Array, Uint8Array>;

/** A block with everything its execution produced, as appended to the store. */
export interface CommittedBlock {
  block: Block;
  /** Null only at height 0, which the genesis file vouches for. */
  certificate: CommitCertificate | null;
  receipts: Receipt[];
  writes: StateWrite[];
}

function rejected(height: number, why: string): MedledgerError {
  return new MedledgerError('LEDGER_BLOCK_REJECTED', `block ${height} rejected: ${why}`);
}

/**
 * Null when a stored chain's blocks (`version`, as its genesis block's header says) are of this
 * release's format; else why it cannot be opened: LEDGER_OLD_FORMAT for a chain an earlier medledger
 * wrote (format 1 had no validator encryption keys in its genesis), LEDGER_NEWER_FORMAT for a later one.
 */
export function chainFormatError(path: string, version: number): MedledgerError | null {
  if (version === BLOCK_VERSION) return null;
  if (version < BLOCK_VERSION) {
    return new MedledgerError(
      'LEDGER_OLD_FORMAT',
      `${path} holds a chain of format ${version} written by an earlier medledger, which this release ` +
        `(chain format ${BLOCK_VERSION}) cannot continue: start a new chain with a format-${BLOCK_VERSION} ` +
        'genesis in a new home, or run the earlier release to keep this one',
    );
  }
  return new MedledgerError(
    'LEDGER_NEWER_FORMAT',
    `${path} holds a chain of format ${version} written by a later medledger, which this release ` +
      `(chain format ${BLOCK_VERSION}) cannot read: run that release or a later one`,
  );
}

/** Opens a LevelDB database with byte keys and values; `create: false` requires it to exist. */
export async function openChainDb(path: string, options: { create?: boolean } = {}): Promise<ChainDb> {
  const create = options.create ?? true;
  if (!create && !existsSync(join(path, 'CURRENT'))) {
    throw new MedledgerError('LEDGER_NOT_FOUND', `there is no chain database in ${path}`);
  }
  const db: ChainDb = new Level<Uint8Array, Uint8Array>(path, { keyEncoding: 'view', valueEncoding: 'view' });
  try {
    await db.open({ createIfMissing: create });
  } catch (error) {
    const locked = (error as { cause?: { code?: string } }).cause?.code === 'LEVEL_LOCKED';
    throw new MedledgerError(
      locked ? 'LEDGER_LOCKED' : 'LEDGER_OPEN_FAILED',
      locked
        ? `the chain database ${path} is in use by another process`
        : `cannot open the chain database ${path}`,
      { cause: error },
    );
  }
  return db;
}

/** Every write that storing `entry` at its height makes, as LevelDB batch operations. */
function blockOps(
  entry: CommittedBlock,
  hash: Uint8Array,
  stateRoot: Uint8Array,
  txHashes: Uint8Array[],
): BatchOp[] {
  const { block, certificate, receipts, writes } = entry;
  const height = block.header.height;
  const put = (key: Uint8Array, value: Uint8Array): BatchOp => ({ type: 'put', key, value });
  const ops: BatchOp[] = [
    put(heightKey(PREFIX.block, height), encode(Block, block)),
    put(heightKey(PREFIX.receipts, height), encode(Receipts, receipts)),
    put(heightKey(PREFIX.writes, height), encode(StateWrites, writes)),
    put(prefixedKey(PREFIX.blockHash, hash), heightBytes(height)),
    put(HEAD_KEY, encode(Head, { height, hash, stateRoot })),
  ];
  if (certificate)
    ops.push(put(heightKey(PREFIX.certificate, height), encode(CommitCertificate, certificate)));
  txHashes.forEach((id, index) => {
    ops.push(put(prefixedKey(PREFIX.tx, id), encode(TxLocation, { height, index })));
  });
  for (const { kind, id, txIndex } of indexEntries(receipts)) {
    ops.push(put(indexKey(kind, id, height, txIndex), txHashes[txIndex]!));
  }
  for (const { key, value } of writes) {
    const stateKey = prefixedKey(PREFIX.state, key);
    ops.push(value === null ? { type: 'del', key: stateKey } : put(stateKey, value));
  }
  return ops;
}

export class ChainStore {
  readonly db: ChainDb;
  readonly genesis: Genesis;
  readonly genesisState: StateWrite[];
  /** The last block's header and hash. */
  #tip: Parent;
  readonly #validators: Set<string>;
  /** Appends run one at a time, in call order. */
  #appending: Promise<void> = Promise.resolve();

  private constructor(db: ChainDb, genesis: Genesis, genesisState: StateWrite[], tip: Parent) {
    this.db = db;
    this.genesis = genesis;
    this.genesisState = genesisState;
    this.#tip = tip;
    this.#validators = validatorSet(genesis);
  }

  /** Opens (creating with the genesis block if empty) the chain store at `path`. */
  /** `genesisState` is the state written at height 0 (default: the ledger's own genesis writes). */
  static async open(
    path: string,
    genesis: Genesis,
    genesisState = genesisWrites(genesis),
  ): Promise<ChainStore> {
    const db = await openChainDb(path);
    try {
      const expected = genesisBlock(genesis, genesisState);
      const expectedHash = blockHash(expected.header);
      const stored = await db.get(HEAD_KEY);
      if (stored === undefined) {
        const entry = { block: expected, certificate: null, receipts: [], writes: genesisState };
        await db.batch(blockOps(entry, expectedHash, expected.header.stateRoot, []), { sync: true });
        return new ChainStore(db, genesis, genesisState, { header: expected.header, hash: expectedHash });
      }
      const head = decodeStored(Head, stored, 'head record');
      const storedGenesisBytes = await db.get(heightKey(PREFIX.block, 0));
      const storedGenesis =
        storedGenesisBytes === undefined
          ? undefined
          : decodeStored(Block, storedGenesisBytes, 'genesis block');
      // Before the genesis comparison: an earlier format's genesis block can never match this one's.
      const formatError = storedGenesis && chainFormatError(path, storedGenesis.header.version);
      if (formatError) throw formatError;
      const genesisMatches =
        storedGenesis !== undefined && Buffer.from(blockHash(storedGenesis.header)).equals(expectedHash);
      if (!genesisMatches) {
        throw new MedledgerError(
          'LEDGER_GENESIS_MISMATCH',
          `the chain in ${path} was not created from this genesis file (chain id ${genesis.chainId})`,
        );
      }
      const tip = decodeStored(
        Block,
        (await db.get(heightKey(PREFIX.block, head.height))) ?? new Uint8Array(),
        'head block',
      );
      if (!Buffer.from(blockHash(tip.header)).equals(head.hash))
        throw corrupt('the head record does not name the last block');
      return new ChainStore(db, genesis, genesisState, { header: tip.header, hash: head.hash });
    } catch (error) {
      await db.close();
      throw error;
    }
  }

  get head(): Head {
    return { height: this.#tip.header.height, hash: this.#tip.hash, stateRoot: this.#tip.header.stateRoot };
  }

  /** Appends the next block atomically. Rejects (LEDGER_BLOCK_REJECTED) anything that does not fit. */
  append(entry: CommittedBlock): Promise<void> {
    const result = this.#appending.then(() => this.#append(entry));
    this.#appending = result.catch(() => {});
    return result;
  }

  async #append(entry: CommittedBlock): Promise<void> {
    const { block, certificate, receipts, writes } = entry;
    const height = block.header.height;
    const txHashes = block.txs.map(txHash);
    const problem = checkBlock(block, txHashes, receipts, writes, this.#tip, this.genesis, this.#validators);
    if (problem) throw rejected(height, problem.detail);
    const hash = blockHash(block.header);
    if (!certificate || certificate.height !== height || !Buffer.from(certificate.blockHash).equals(hash)) {
      throw rejected(height, 'the commit certificate is missing or certifies another block');
    }
    await this.db.batch(blockOps(entry, hash, block.header.stateRoot, txHashes), { sync: true });
    this.#tip = { header: block.header, hash };
  }

  async block(height: number): Promise<Block | undefined> {
    return this.#read(heightKey(PREFIX.block, height), Block, `block ${height}`);
  }

  async certificate(height: number): Promise<CommitCertificate | undefined> {
    return this.#read(heightKey(PREFIX.certificate, height), CommitCertificate, `certificate ${height}`);
  }

  async receipts(height: number): Promise<Receipt[] | undefined> {
    return this.#read(heightKey(PREFIX.receipts, height), Receipts, `receipts ${height}`);
  }

  async writes(height: number): Promise<StateWrite[] | undefined> {
    return this.#read(heightKey(PREFIX.writes, height), StateWrites, `state writes ${height}`);
  }

  async heightOf(hash: Uint8Array): Promise<number | undefined> {
    const value = await this.db.get(prefixedKey(PREFIX.blockHash, hash));
    if (value === undefined) return undefined;
    const height = parseHeightKey(Buffer.concat([Buffer.of(PREFIX.blockHash), value]));
    if (height === null) throw corrupt('malformed block hash index entry');
    return height;
  }

  /** A committed transaction with its receipt and location, by transaction hash. */
  async transaction(
    hash: Uint8Array,
  ): Promise<{ tx: Transaction; receipt: Receipt; height: number; index: number } | undefined> {
    const location = await this.#read(prefixedKey(PREFIX.tx, hash), TxLocation, 'tx index');
    if (!location) return undefined;
    const [block, receipts] = await Promise.all([
      this.block(location.height),
      this.receipts(location.height),
    ]);
    const tx = block?.txs[location.index];
    const receipt = receipts?.[location.index];
    if (!tx || !receipt) throw corrupt(`tx index points at a missing tx ${hex(hash)}`);
    return { tx, receipt, height: location.height, index: location.index };
  }

  /** Whether a transaction is committed, read synchronously from the tx index. */
  hasTxSync(hash: Uint8Array): boolean {
    return this.db.getSync(prefixedKey(PREFIX.tx, hash)) !== undefined;
  }

  /** The committed state as a synchronous reader (what the rule engine's queries take). */
  readonly stateReader = { get: (key: Uint8Array) => this.stateSync(key) };

  /** The current value of a state key, read synchronously (the rule engine's reads are synchronous). */
  stateSync(key: Uint8Array): Uint8Array | undefined {
    return this.db.getSync(prefixedKey(PREFIX.state, key));
  }

  /** The current value of a state key, or undefined if unset. */
  async state(key: Uint8Array): Promise<Uint8Array | undefined> {
    return this.db.get(prefixedKey(PREFIX.state, key));
  }

  /**
   * Current state entries with keys in [gte, lt), ascending (descending when `reverse`), at most
   * `limit`; keys are returned without the store's state prefix.
   */
  async stateRange(
    gte: Uint8Array,
    lt: Uint8Array,
    limit: number,
    reverse = false,
  ): Promise<Array<[Uint8Array, Uint8Array]>> {
    const out: Array<[Uint8Array, Uint8Array]> = [];
    const range = { gte: prefixedKey(PREFIX.state, gte), lt: prefixedKey(PREFIX.state, lt), limit, reverse };
    for await (const [key, value] of this.db.iterator(range)) out.push([key.subarray(1), value]);
    return out;
  }

  /** Hashes of the transactions indexed under a patient or record id, in chain order. */
  async indexed(
    kind: IndexKind,
    id: string,
    limit = 1000,
  ): Promise<Array<{ height: number; txHash: Uint8Array }>> {
    const out: Array<{ height: number; txHash: Uint8Array }> = [];
    for await (const [key, value] of this.db.iterator({ ...indexRange(kind, id), limit })) {
      const parsed = parseIndexKey(key);
      if (!parsed) throw corrupt(`malformed ${kind} index key`);
      out.push({ height: parsed.height, txHash: value });
    }
    return out;
  }

  async close(): Promise<void> {
    await this.#appending;
    await this.db.close();
  }

  async #read<T>(key: Uint8Array, schema: Schema<T>, what: string): Promise<T | undefined> {
    const bytes = await this.db.get(key);
    return bytes === undefined ? undefined : decodeStored(schema, bytes, what);
  }
}

function corrupt(why: string): MedledgerError {
  return new MedledgerError('LEDGER_CORRUPT', `the chain database is corrupt: ${why} (run chain verify)`);
}

function decodeStored<T>(schema: Schema<T>, bytes: Uint8Array, what: string): T {
  try {
    return decode(schema, bytes, LIMITS.blockBytes);
  } catch (error) {
    throw corrupt(`${what} does not decode: ${(error as Error).message}`);
  }
}
