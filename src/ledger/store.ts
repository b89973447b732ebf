/**
 * The chain store: blocks, certificates, receipts, state writes, indexes and the current state in one
 * LevelDB database. Appending a block writes all of it, and the new head, in ONE atomic, synced batch:
 * after a crash the store holds either the whole block or none of it.
 *
 * The store checks what it can check cheaply (height, hash link, chain id, tx root, state root, the
 * certificate names this block); verifying signatures is the caller's job (consensus or block sync has
 * already done it) and verifyChain's.
 *
 * Every block read is checked against what the chain says it must be (its header hash against the
 * hash index, the head or the genesis file; its transactions against the header's tx root): a block
 * altered on disk is never returned, but reported (CHAIN_BLOCK_CORRUPT, with its height), counted and
 * announced to `onCorruptBlock` listeners. `repairBlock` writes back a copy from a peer once it proves
 * to be the block the chain links expect; `repairState` rewrites state and per-block records that
 * node/state-repair.ts recomputed from the verified blocks.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type BatchOperation, Level } from 'level';
import { MemoryLevel } from 'memory-level';
import { bytesEqual, hex } from '../bytes.ts';
import { decode, encode, type Schema } from '../codec/index.ts';
import { sha256 } from '../crypto/index.ts';
import { MedledgerError } from '../errors.ts';
import { blockHash, txRootOf } from './block.ts';
import { checkCertificate } from './certificate.ts';
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
import { encodeReceipts, encodeWrites } from './state-root.ts';
import { txHash } from './transaction.ts';
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
import { checkBlock, type Parent } from './validate.ts';

/** A LevelDB with byte keys and values: on disk in the node, in memory in the simulator. */
export type ChainDb = Level<Uint8Array, Uint8Array>;

/** Blocks whose checked bytes' digest is remembered (32 bytes each). */
const PASSED_CACHE_BLOCKS = 4096;
/**
 * The newest appended blocks kept in memory, with their certificates and receipts, for API clients
 * that follow the chain's head (waiting for the next block): they are served what was appended
 * instead of decoding and checking it again from disk. Block sync reads the disk, so that a peer is
 * never served a block whose stored copy is damaged (the scrubber repairs it first).
 */
const RECENT_BLOCKS = 16;
type BatchOp = BatchOperation<ChainDb, Uint8Array, Uint8Array>;

/** A block with everything its execution produced, as appended to the store. */
export interface CommittedBlock {
  block: Block;
  /** Null only at height 0, which the genesis file vouches for. */
  certificate: CommitCertificate | null;
  receipts: Receipt[];
  writes: StateWrite[];
}

/** A stored block that is not the one the chain says belongs at `height` (CHAIN_BLOCK_CORRUPT). */
export class CorruptBlockError extends MedledgerError {
  readonly height: number;
  constructor(height: number, why: string) {
    super(
      'CHAIN_BLOCK_CORRUPT',
      `the stored block ${height} is corrupt (${why}); it is not served until repaired from a peer`,
    );
    this.height = height;
  }
}

/** Counts of what the read checks found and what was repaired, since the store was opened. */
export interface StoreHealth {
  /** Distinct heights found corrupt (a height found again after its repair counts again). */
  corruptBlocks: number;
  /** Heights found corrupt and not repaired since. */
  unrepairedBlocks: number;
  blocksRepaired: number;
}

/** A repair the store refused: the copy offered is not provably the block the chain expects. */
function refusedRepair(height: number, why: string): MedledgerError {
  return new MedledgerError('CHAIN_REPAIR_REFUSED', `the copy of block ${height} was refused: ${why}`);
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

/**
 * An in-memory database with the on-disk one's interface (memory-level): a simulated node's disk. It
 * outlives the stores opened on it, as a disk outlives a crashed process.
 */
export async function memoryChainDb(): Promise<ChainDb> {
  const db = new MemoryLevel<Uint8Array, Uint8Array>({ keyEncoding: 'view', valueEncoding: 'view' });
  await db.open();
  // Both implement abstract-level's interface; Level's type only adds options (`sync`) memory ignores.
  return db as unknown as ChainDb;
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
    put(heightKey(PREFIX.receipts, height), encodeReceipts(receipts)),
    put(heightKey(PREFIX.writes, height), encodeWrites(writes)),
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
  /** Appends (and repairs) run one at a time, in call order. */
  #appending: Promise<void> = Promise.resolve();
  readonly #genesisHash: Uint8Array;
  /** Heights found corrupt and not repaired since. */
  readonly #corrupt = new Set<number>();
  readonly #corruptListeners = new Set<(height: number) => void>();
  /** SHA-256 of the stored bytes of recently read blocks that passed the check, least recent first. */
  readonly #passed = new Map<number, Uint8Array>();
  #counts = { corruptBlocks: 0, blocksRepaired: 0 };
  /** The last RECENT_BLOCKS appended entries, by height, oldest first. */
  readonly #recent = new Map<number, CommittedBlock>();

  private constructor(
    db: ChainDb,
    genesis: Genesis,
    genesisState: StateWrite[],
    tip: Parent,
    genesisHash: Uint8Array,
  ) {
    this.db = db;
    this.genesis = genesis;
    this.genesisState = genesisState;
    this.#tip = tip;
    this.#validators = validatorSet(genesis);
    this.#genesisHash = genesisHash;
  }

  /** Opens (creating with the genesis block if empty) the chain store at `path`. */
  /** `genesisState` is the state written at height 0 (default: the ledger's own genesis writes). */
  static async open(
    path: string,
    genesis: Genesis,
    genesisState = genesisWrites(genesis),
  ): Promise<ChainStore> {
    return ChainStore.openOn(await openChainDb(path), genesis, genesisState, path);
  }

  /**
   * Opens the chain store on an open database (`path` names it in errors); closes it on a failure.
   * A simulated node reopens its in-memory database so after a crash.
   */
  static async openOn(
    db: ChainDb,
    genesis: Genesis,
    genesisState = genesisWrites(genesis),
    path = 'memory',
  ): Promise<ChainStore> {
    try {
      const expected = genesisBlock(genesis, genesisState);
      const expectedHash = blockHash(expected.header);
      const stored = await db.get(HEAD_KEY);
      if (stored === undefined) {
        const entry = { block: expected, certificate: null, receipts: [], writes: genesisState };
        await db.batch(blockOps(entry, expectedHash, expected.header.stateRoot, []), { sync: true });
        const tip = { header: expected.header, hash: expectedHash };
        return new ChainStore(db, genesis, genesisState, tip, expectedHash);
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
        storedGenesis !== undefined && bytesEqual(blockHash(storedGenesis.header), expectedHash);
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
      if (!bytesEqual(blockHash(tip.header), head.hash))
        throw corrupt('the head record does not name the last block');
      return new ChainStore(db, genesis, genesisState, { header: tip.header, hash: head.hash }, expectedHash);
    } catch (error) {
      await db.close();
      throw error;
    }
  }

  get head(): Head {
    return { height: this.#tip.header.height, hash: this.#tip.hash, stateRoot: this.#tip.header.stateRoot };
  }

  /** The head block's header (its hash was checked against the head record on open). */
  get tipHeader(): BlockHeader {
    return this.#tip.header;
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
    if (!certificate || certificate.height !== height || !bytesEqual(certificate.blockHash, hash)) {
      throw rejected(height, 'the commit certificate is missing or certifies another block');
    }
    await this.db.batch(blockOps(entry, hash, block.header.stateRoot, txHashes), { sync: true });
    this.#tip = { header: block.header, hash };
    this.#recent.set(height, entry);
    if (this.#recent.size > RECENT_BLOCKS) this.#recent.delete(this.#recent.keys().next().value!);
  }

  /**
   * One of the newest appended blocks with its certificate and receipts, as appended (not read back:
   * what checks the disk, the scrubber and repairs, reads with block()). Undefined for older heights.
   * The entry is shared: callers must not change it.
   */
  recent(height: number): Readonly<CommittedBlock> | undefined {
    return this.#recent.get(height);
  }

  /**
   * The block at `height`, checked: its header hash is the one the chain indexes for that height and
   * its transactions hash to the header's tx root. Throws CorruptBlockError (CHAIN_BLOCK_CORRUPT)
   * rather than return a block that fails.
   */
  async block(height: number): Promise<Block | undefined> {
    const bytes = await this.db.get(heightKey(PREFIX.block, height));
    if (bytes === undefined) return undefined;
    // Bytes equal to bytes that passed are the same block: one hash instead of one per transaction.
    const digest = sha256(bytes);
    const passed = this.#passed.get(height);
    if (passed && bytesEqual(passed, digest)) {
      this.#passed.delete(height); // most recently used last
      this.#passed.set(height, passed);
      return decode(Block, bytes, LIMITS.blockBytes);
    }
    const checked = await this.#checkBlock(height, bytes);
    if (typeof checked === 'string') {
      // A repair may have replaced the block while these bytes were checked: read it again.
      const now = await this.db.get(heightKey(PREFIX.block, height));
      if (now !== undefined && !bytesEqual(now, bytes)) return this.block(height);
      throw this.#foundCorrupt(height, checked);
    }
    this.#passed.set(height, digest);
    if (this.#passed.size > PASSED_CACHE_BLOCKS) this.#passed.delete(this.#passed.keys().next().value!);
    return checked;
  }

  /** The checked block, or why it is not the block the chain holds at `height`. */
  async #checkBlock(height: number, bytes: Uint8Array): Promise<Block | string> {
    let block: Block;
    try {
      block = decode(Block, bytes, LIMITS.blockBytes);
    } catch {
      return 'it does not decode';
    }
    if (block.header.height !== height) return `it says height ${block.header.height}`;
    const hash = blockHash(block.header);
    if (!bytesEqual(hash, await this.#indexedHash(height, hash)))
      return 'its header hash is not the one the chain links name';
    if (!bytesEqual(txRootOf(block.txs), block.header.txRoot))
      return "its transactions do not hash to the header's tx root";
    return block;
  }

  /**
   * The hash the chain names for `height`, given the hash a stored block has: the head's and the
   * genesis block's are known; others are named by the hash index (written with the block, so a
   * block altered on disk hashes to a key the index does not hold). Returns `hash` when it is indexed
   * at `height`, else something unequal to it.
   */
  async #indexedHash(height: number, hash: Uint8Array): Promise<Uint8Array> {
    if (height === this.#tip.header.height) return this.#tip.hash;
    if (height === 0) return this.#genesisHash;
    const indexed = await this.db.get(prefixedKey(PREFIX.blockHash, hash));
    return indexed !== undefined && bytesEqual(indexed, heightBytes(height)) ? hash : new Uint8Array(0);
  }

  #foundCorrupt(height: number, why: string): CorruptBlockError {
    if (!this.#corrupt.has(height)) {
      this.#corrupt.add(height);
      this.#counts.corruptBlocks++;
      for (const listener of this.#corruptListeners) {
        try {
          listener(height);
        } catch {
          // A listener (the scrubber queueing a repair) must never turn a read into another error.
        }
      }
    }
    return new CorruptBlockError(height, why);
  }

  /** Calls `listener` with each height newly found corrupt; returns the unsubscribe function. */
  onCorruptBlock(listener: (height: number) => void): () => void {
    this.#corruptListeners.add(listener);
    return () => this.#corruptListeners.delete(listener);
  }

  get health(): StoreHealth {
    return { ...this.#counts, unrepairedBlocks: this.#corrupt.size };
  }

  /**
   * The hash the chain expects at `height`, from records other than the block itself: the head's,
   * the genesis block's, the next block's prevHash (when that block reads sound), else the stored
   * certificate's block hash (when its quorum of signatures verifies). Null when nothing vouches.
   */
  async expectedBlockHash(height: number): Promise<Uint8Array | null> {
    if (height === this.#tip.header.height) return this.#tip.hash;
    if (height === 0) return this.#genesisHash;
    if (height > this.#tip.header.height) return null;
    try {
      const next = await this.block(height + 1);
      if (next) return next.header.prevHash;
    } catch (error) {
      if (!(error instanceof MedledgerError)) throw error;
    }
    let cert: CommitCertificate | undefined;
    try {
      cert = await this.certificate(height);
    } catch {
      return null;
    }
    if (!cert) return null;
    const ctx = { chainId: this.genesis.chainId, validators: this.#validators, height };
    const why = checkCertificate(cert, { ...ctx, blockHash: cert.blockHash, proposedInView: 0 });
    return why === null ? cert.blockHash : null;
  }

  /**
   * Replaces the stored block at `height` (and its certificate) with a copy from a peer, once the
   * copy proves to be the block the chain expects there: its hash equals `expectedBlockHash`, its
   * transactions hash to its tx root, and `certificate` is a quorum of valid validator signatures
   * over its hash. Refuses (CHAIN_REPAIR_REFUSED) anything else; the genesis block is rewritten from
   * the genesis file, never from a peer.
   */
  repairBlock(entry: { block: Block; certificate: CommitCertificate }): Promise<void> {
    const result = this.#appending.then(() => this.#repairBlock(entry));
    this.#appending = result.catch(() => {});
    return result;
  }

  async #repairBlock({
    block,
    certificate,
  }: {
    block: Block;
    certificate: CommitCertificate;
  }): Promise<void> {
    const { height } = block.header;
    if (height === 0 || height > this.#tip.header.height)
      throw refusedRepair(height, 'it is not a committed height above the genesis');
    const expected = await this.expectedBlockHash(height);
    if (!expected) throw refusedRepair(height, 'no sound record of the chain names its hash');
    const hash = blockHash(block.header);
    if (!bytesEqual(hash, expected))
      throw refusedRepair(height, 'its hash is not the one the chain links expect');
    if (!bytesEqual(txRootOf(block.txs), block.header.txRoot))
      throw refusedRepair(height, "its transactions do not hash to the header's tx root");
    const why = checkCertificate(certificate, {
      chainId: this.genesis.chainId,
      validators: this.#validators,
      height,
      blockHash: hash,
      proposedInView: block.header.view,
    });
    if (why) throw refusedRepair(height, why);
    const put = (key: Uint8Array, value: Uint8Array): BatchOp => ({ type: 'put', key, value });
    await this.db.batch(
      [
        put(heightKey(PREFIX.block, height), encode(Block, block)),
        put(heightKey(PREFIX.certificate, height), encode(CommitCertificate, certificate)),
        put(prefixedKey(PREFIX.blockHash, hash), heightBytes(height)),
      ],
      { sync: true },
    );
    this.#corrupt.delete(height);
    this.#counts.blocksRepaired++;
  }

  /** Rewrites the genesis block from the genesis file (the only copy that vouches for it). */
  repairGenesis(): Promise<void> {
    const result = this.#appending.then(async () => {
      const block = genesisBlock(this.genesis, this.genesisState);
      await this.db.batch([{ type: 'put', key: heightKey(PREFIX.block, 0), value: encode(Block, block) }], {
        sync: true,
      });
      if (this.#corrupt.delete(0)) this.#counts.blocksRepaired++;
    });
    this.#appending = result.catch(() => {});
    return result;
  }

  /** Rewrites the tx index entries of a sound block (a damaged entry makes its tx unfindable). */
  rewriteTxIndex(block: Block): Promise<void> {
    const result = this.#appending.then(async () => {
      const { height } = block.header;
      const ops: BatchOp[] = block.txs.map((tx, index) => ({
        type: 'put',
        key: prefixedKey(PREFIX.tx, txHash(tx)),
        value: encode(TxLocation, { height, index }),
      }));
      if (ops.length > 0) await this.db.batch(ops, { sync: true });
    });
    this.#appending = result.catch(() => {});
    return result;
  }

  /**
   * Writes what node/state-repair.ts recomputed from the verified blocks, in one synced batch: the
   * state keys to set or delete, and per height the receipts and state writes to put back. Only for
   * a store no node is running on (the node's start does this before consensus opens).
   */
  async repairState(fix: {
    state: StateWrite[];
    records: Array<{ height: number; receipts: Receipt[]; writes: StateWrite[] }>;
  }): Promise<void> {
    const ops: BatchOp[] = fix.state.map(({ key, value }) =>
      value === null
        ? { type: 'del', key: prefixedKey(PREFIX.state, key) }
        : { type: 'put', key: prefixedKey(PREFIX.state, key), value },
    );
    for (const { height, receipts, writes } of fix.records) {
      ops.push({ type: 'put', key: heightKey(PREFIX.receipts, height), value: encode(Receipts, receipts) });
      ops.push({ type: 'put', key: heightKey(PREFIX.writes, height), value: encode(StateWrites, writes) });
    }
    await this.#appending;
    if (ops.length > 0) await this.db.batch(ops, { sync: true });
  }

  /** Every current state entry, in key order, keys without the store's state prefix. */
  async *stateEntries(): AsyncGenerator<[Uint8Array, Uint8Array]> {
    const range = { gte: Buffer.of(PREFIX.state), lt: Buffer.of(PREFIX.state + 1) };
    for await (const [key, value] of this.db.iterator(range)) yield [key.subarray(1), value];
  }

  /**
   * The stored tx index entries of `hashes` in one LevelDB read, unchecked (the scrubber compares
   * them with the block); an entry that does not decode is null.
   */
  async txLocations(hashes: readonly Uint8Array[]): Promise<Array<TxLocation | undefined | null>> {
    const values = await this.db.getMany(hashes.map((hash) => prefixedKey(PREFIX.tx, hash)));
    return values.map((value) => {
      if (value === undefined) return undefined;
      try {
        return decode(TxLocation, value);
      } catch {
        return null;
      }
    });
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
    // The block was checked; a damaged index entry or receipt must not pass another tx off as this one.
    if (!bytesEqual(txHash(tx), hash) || !bytesEqual(receipt.txHash, hash))
      throw corrupt(`the tx index or receipts of block ${location.height} do not match tx ${hex(hash)}`);
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
