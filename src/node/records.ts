/**
 * The node's record service: the content-addressed store wired to the chain and the network.
 *
 * - Uploads: a writer's client posts a record's ciphertext before committing record.add; it stays
 *   unreferenced (and collectable after the store's grace period) until the record commits.
 * - On commit of record.add every node references the record's ciphertext and its key blob,
 *   pulling them from peers (verified against their CIDs) when it does not hold them; on
 *   record.erase every node deletes both, then signs an erasure receipt.
 * - Reads: a committed, permitted record.read transaction is the reader's ticket. The node releases
 *   the ciphertext and the key blob, and gathers the key shares: this validator's and every other
 *   validator's (key-shares.ts), each re-sealed to the reader by its holder after checking the permit
 *   on its own chain. Any t = f + 1 of them rebuild the key on the reader's client, so a record stays
 *   readable while its custodian's node is down; no node, the custodian's included, holds the key.
 *   The patient needs no share: the key blob holds the data key sealed to them.
 *
 * A permit is honoured for READ_PERMIT_TTL_MS after its block: a revocation stops every later read
 * transaction, and an old permit cannot be replayed to fetch the key again much later.
 */
import { join } from 'node:path';
import { Level } from 'level';
import { Counter, Gauge } from 'prom-client';
import { concatBytes, hex } from '../bytes.ts';
import {
  createdId,
  decideNow,
  decodeBody,
  getIdentityByKey,
  getRecord,
  type Identity,
  type RecordMeta,
} from '../contracts/index.ts';
import { FAMILY, prefixRange } from '../contracts/keys.ts';
import { RecordMeta as RecordMetaSchema } from '../contracts/model.ts';
import { decodeState } from '../contracts/overlay.ts';
import { encryptionPublicKeyFrom } from '../crypto/index.ts';
import { MedledgerError } from '../errors.ts';
import { RECEIPT_OK, type Receipt, type Transaction, txHash } from '../ledger/index.ts';
import {
  BlobService,
  BlobStore,
  type ByteSource,
  checkKeyBlob,
  decodeKeyBlob,
  type KeyBlob,
  keyThreshold,
  MAX_KEY_BLOB_BYTES,
  openOwnShare,
  provesFalseShare,
  Replicator,
  resealShare,
  type StoredRecord,
  transportOverFrames,
} from '../store/index.ts';
import { FetchSlots } from './fetch-slots.ts';
import { type GatheredShares, KeyShareExchange, type ReleasedShare } from './key-shares.ts';
import { RecentMap } from './recent-map.ts';
import type { NodeLogger, ValidatorNode } from './validator.ts';

export const BLOB_PROTOCOL = {
  id: '/medledger/blobs/1.0.0',
  maxFrameBytes: 2 * 1024 * 1024,
  // The replicator asks for at most 8 chunks of 1 MiB per request (and a manifest is under 1 MiB).
  maxResponseBytes: 12 * 1024 * 1024,
};
export const READ_PERMIT_TTL_MS = 15 * 60_000;
/** How far in the future a permit's block time may be, against this node's clock. */
const MAX_CLOCK_SKEW_MS = 60_000;
const BLOB_REQUEST_TIMEOUT_MS = 15_000;
const REPLICATION_RETRIES = 6;
/** How often unreferenced blobs (uploads that never committed) older than the store's grace go. */
const GC_INTERVAL_MS = 60 * 60_000;
/**
 * How often every committed, live record is checked to be complete on this node (and fetched if
 * not): replications that gave up while every holder was down, or that a restart interrupted.
 */
const SWEEP_INTERVAL_MS = 10 * 60_000;
const FIRST_SWEEP_MS = 15_000;
const SWEEP_PAGE = 256;
/** Replications fetching from peers at once. */
const MAX_CONCURRENT_FETCHES = 4;

/** Under which id the store references a record's key blob (the ciphertext is under the record's id). */
export function keyBlobStoreId(recordId: string): string {
  return `${recordId}#key`;
}

/** Told when this node has deleted an erased record's ciphertext and key blob. */
export interface ErasureListener {
  issue(recordId: string, eraseTx: Uint8Array): unknown;
  /** Whether this validator's receipt for the record is signed. */
  signed(recordId: string): Promise<boolean>;
}

/** What a reader's node hands the reader's client: the key blob, and the shares unless the reader is the patient. */
export interface ReadKeys {
  keyBlob: Uint8Array;
  shares: GatheredShares | null;
  threshold: number;
}

/** Reads whose relayed shares are kept for proofs of false shares (each a few hundred bytes). */
const RELAYED_KEPT = 1024;

const METRIC_NAMES = [
  'medledger_records_stored',
  'medledger_blobs_stored',
  'medledger_record_replications_total',
  'medledger_key_shares_released_total',
  'medledger_key_blobs_unusable_total',
];

/** Who a committed transaction's read permit would belong to, and what it concerns (RecordService.permitOf). */
export interface ReadPermitOwner {
  sender: string;
  record: string | null;
  patient: string | null;
}

/** What a committed read permit entitles its reader to. */
export interface ReadGrant {
  record: RecordMeta;
  reader: Identity;
  emergency: boolean;
  /** The committed read transaction. */
  readTx: Uint8Array;
}

export class RecordService {
  readonly blobs: BlobStore;
  readonly #node: ValidatorNode;
  readonly #encryptionSecretKey: Uint8Array;
  readonly #encryptionPublicKey: Uint8Array;
  readonly #replicator: Replicator;
  readonly #shares: KeyShareExchange;
  /** The shares this node relayed to readers, for judging their proofs of false shares. */
  readonly #relayed = new RecentMap<GatheredShares>(RELAYED_KEPT, READ_PERMIT_TTL_MS);
  /** The reads this validator released a share for: read tx (hex) → when (ms, decimal). */
  readonly #releases: Level<string, string>;
  readonly #erasures: ErasureListener | undefined;
  readonly #log: NodeLogger;
  readonly #replicating = new Map<string, Promise<void>>();
  readonly #replications: Counter<'result'>;
  readonly #sharesReleased: Counter;
  readonly #badKeyBlobs: Counter;
  #gcTimer: NodeJS.Timeout | undefined;
  #sweepTimer: NodeJS.Timeout | undefined;
  #sweeping = false;
  /**
   * Fetches from peers at once: a node catching up replays many record.add commits at once, and
   * peers serve a few streams per connection.
   */
  readonly #fetchSlots = new FetchSlots(MAX_CONCURRENT_FETCHES);
  #stopped = false;
  /** Wakes backoff sleeps when the service stops. */
  readonly #stopping = new AbortController();

  private constructor(
    blobs: BlobStore,
    node: ValidatorNode,
    encryptionSecretKey: Uint8Array,
    log: NodeLogger,
    erasures: ErasureListener | undefined,
    releases: Level<string, string>,
  ) {
    this.blobs = blobs;
    this.#erasures = erasures;
    this.#node = node;
    this.#encryptionSecretKey = encryptionSecretKey;
    this.#encryptionPublicKey = encryptionPublicKeyFrom(encryptionSecretKey);
    this.#log = log;
    const host = node.host;
    this.#replicator = new Replicator(
      blobs,
      transportOverFrames(async function* (peer, request, signal) {
        signal.throwIfAborted();
        yield* await host.request(BLOB_PROTOCOL, peer, request, BLOB_REQUEST_TIMEOUT_MS);
      }),
      {
        onPeerFault: (fault) => {
          // Only wrong bytes are a peer's misbehaviour. A peer that lacks a blob, is busy or slow is
          // ordinary (every peer but the custodian may lack it), and is tried past: at warn level it
          // would flood the log, once per peer, blob and attempt.
          if (fault.kind === 'wrong-bytes') {
            log.warn({ peer: fault.peer, kind: fault.kind }, 'blob replication: a peer sent wrong bytes');
            host.punish(fault.peer, 'wrong-blob-bytes');
          } else log.debug({ peer: fault.peer, kind: fault.kind }, 'blob replication: peer could not serve');
        },
      },
    );
    this.#releases = releases;
    this.#shares = new KeyShareExchange(node, {
      release: (readTx) => this.#releaseShare(readTx),
      released: (readTxs) => this.#released(readTxs),
    });
    const registers = [node.metrics.registry];
    new Gauge({
      name: 'medledger_records_stored',
      help: 'Ciphertexts and key blobs of live (not erased) records held by this node: two per record',
      registers,
      async collect() {
        this.set(await blobs.recordCount().catch(() => Number.NaN));
      },
    });
    new Gauge({
      name: 'medledger_blobs_stored',
      help: 'Blobs (1 MiB ciphertext chunks and record manifests) of live records held by this node',
      registers,
      async collect() {
        this.set(await blobs.blobCount().catch(() => Number.NaN));
      },
    });
    this.#replications = new Counter({
      name: 'medledger_record_replications_total',
      help: 'Committed records made complete on this node: held already, fetched from peers, or failed',
      labelNames: ['result'],
      registers,
    });
    this.#badKeyBlobs = new Counter({
      name: 'medledger_key_blobs_unusable_total',
      help: "Committed records whose key blob this validator cannot use (its share does not open or match): a writer's error or a lie",
      registers,
    });
    this.#sharesReleased = new Counter({
      name: 'medledger_key_shares_released_total',
      help: 'Key shares this validator re-sealed to a reader under a committed, fresh read permit',
      registers,
    });
  }

  /** Opens the store under `dataDir/blobs` and joins the node's commits and protocols. */
  static async start(options: {
    node: ValidatorNode;
    dataDir: string;
    /** The node's X25519 secret key: its key shares are sealed to it (the genesis names its public key). */
    encryptionSecretKey: Uint8Array;
    log: NodeLogger;
    /** Signs and shares this validator's erasure receipts. */
    erasures?: ErasureListener;
    /** When the first sweep for incomplete records runs (default 15 s after start). */
    firstSweep_ms?: number;
  }): Promise<RecordService> {
    const blobs = await BlobStore.open(join(options.dataDir, 'blobs'));
    const releases = new Level<string, string>(join(options.dataDir, 'releases'));
    try {
      await releases.open();
    } catch (error) {
      await blobs.close();
      throw error;
    }
    const service = new RecordService(
      blobs,
      options.node,
      options.encryptionSecretKey,
      options.log,
      options.erasures,
      releases,
    );
    const server = new BlobService(blobs);
    await options.node.host.onRequest(BLOB_PROTOCOL, async (peer, frame) => {
      const frames: Uint8Array[] = [];
      for await (const out of server.serveFrames(peer, frame)) frames.push(out);
      return frames;
    });
    await service.#shares.serve();
    options.node.onCommit((_height, txs, receipts) => service.#onCommit(txs, receipts));
    service.#gcTimer = setInterval(() => {
      blobs.gc().then(
        (result) => options.log.info({ deleted: result.deleted.length }, 'blob store: collected'),
        (error) => options.log.warn({ err: error }, 'blob store: collection failed'),
      );
    }, GC_INTERVAL_MS).unref();
    const sweep = () => {
      service.#sweep().catch((error) => options.log.warn({ err: error }, 'record sweep failed'));
      service.#sweepTimer = setTimeout(sweep, SWEEP_INTERVAL_MS).unref();
    };
    service.#sweepTimer = setTimeout(sweep, options.firstSweep_ms ?? FIRST_SWEEP_MS).unref();
    return service;
  }

  /** This node's X25519 public key: an organisation registered with it has this node as custodian. */
  get encryptionKey(): Uint8Array {
    return this.#encryptionPublicKey;
  }

  /** Stores an uploaded ciphertext (not yet referenced by any record). */
  upload(source: ByteSource): Promise<StoredRecord> {
    return this.blobs.putRecord(source);
  }

  /**
   * Who sent the committed transaction `readTx` (the identity its key belongs to now), and, for a
   * record.read, the record and patient it names; null when it is not committed. The API checks its
   * caller against this before it says anything else of the transaction (grantFor's refusals name
   * its type, its receipt and its record's fate). A key that is no identity's now (its reader rotated
   * it) is refused API_READER_KEY_ROTATED to whoever asks: such a permit releases nothing.
   */
  async permitOf(readTx: Uint8Array): Promise<ReadPermitOwner | null> {
    const found = await this.#node.store.transaction(readTx);
    if (!found) return null;
    const state = this.#node.store.stateReader;
    const { tx } = found;
    const sender = getIdentityByKey(state, tx.sender)?.id;
    if (sender === undefined) throw readerKeyRotated();
    const named = tx.type === 'record.read' ? readRecordOf(tx) : null;
    const record = named === null ? undefined : getRecord(state, named);
    return { sender, record: record?.id ?? null, patient: record?.patient ?? null };
  }

  /**
   * Checks a read transaction: committed, a record.read, permitted, recent, the record not erased,
   * and the read still permitted by the rules now.
   */
  async grantFor(readTx: Uint8Array): Promise<ReadGrant> {
    const store = this.#node.store;
    const found = await store.transaction(readTx);
    if (!found) throw new MedledgerError('API_TX_NOT_FOUND', 'no committed transaction with this hash (yet)');
    const { tx, receipt } = found;
    if (tx.type !== 'record.read') {
      throw new MedledgerError('API_NOT_A_READ', `transaction is a ${tx.type}, not a record.read`);
    }
    const body = decodeBody('record.read', tx.body);
    if (receipt.code === 'RECORD_ERASED') throw erased(body.record);
    if (receipt.code !== RECEIPT_OK) {
      throw new MedledgerError('API_READ_DENIED', `${receipt.message} [${receipt.code}]`);
    }
    const block = await store.block(found.height);
    if (!block) throw new MedledgerError('API_INTERNAL', `block ${found.height} is missing`);
    // Block times come from the proposer: one dated in the future must not make a permit last longer.
    const age_ms = Date.now() - block.header.timestamp;
    if (age_ms > READ_PERMIT_TTL_MS || age_ms < -MAX_CLOCK_SKEW_MS) {
      throw new MedledgerError(
        'API_READ_EXPIRED',
        age_ms < 0
          ? "the read permit's block is dated in the future; submit a new record.read"
          : `the read permit is older than ${READ_PERMIT_TTL_MS / 60_000} minutes; submit a new record.read`,
      );
    }
    const state = store.stateReader;
    const record = getRecord(state, body.record);
    if (!record) throw new MedledgerError('API_INTERNAL', 'a permitted read names no record');
    if (record.erased_ms !== null) throw erased(record.id);
    const reader = getIdentityByKey(state, tx.sender);
    if (!reader) throw readerKeyRotated();
    // Decided at its height, the permit is honoured only while the rules still allow the read: a
    // grant revoked, a forbid added, a window closed or the reader deactivated since stops it now.
    const now = decideNow(state, {
      actor: reader,
      action: 'read',
      patient: record.patient,
      record,
      contentType: record.contentType,
      purpose: body.purpose,
      now_ms: Date.now(),
    });
    if (!now.permit) {
      throw new MedledgerError(
        'API_READ_REVOKED',
        `the read was permitted at its height but is not now: ${now.detail} (rule ${now.rule})`,
      );
    }
    const decided = receipt.events.find((e) => e.type === 'access.decided');
    return { record, reader, emergency: decided?.attributes.get('emergency') === 'true', readTx };
  }

  /**
   * The record's key blob, and the key shares re-sealed to the reader by the validators, unless the
   * reader is the patient. Fewer than the threshold is API_KEY_SHARES_UNAVAILABLE, naming how many
   * validators answered: the permit was decided, but the read could not be served.
   */
  async keysFor(grant: ReadGrant): Promise<ReadKeys> {
    const [{ bytes: keyBlob, blob }, height] = await Promise.all([
      this.#keyBlob(grant.record),
      this.#node.store.transaction(grant.readTx).then((found) => found?.height ?? 0),
    ]);
    const { threshold } = blob;
    if (grant.reader.id === grant.record.patient) return { keyBlob, shares: null, threshold };
    const shares = await this.#shares.gather(grant.readTx, height);
    this.#relayed.remember(hex(grant.readTx), shares);
    if (shares.shares.length < threshold) {
      this.#log.warn(
        { record: grant.record.id, released: shares.shares.length, threshold },
        'a permitted read could not be served: too few key shares',
      );
      throw new MedledgerError('API_KEY_SHARES_UNAVAILABLE', sharesShortfall(shares, threshold));
    }
    return { keyBlob, shares, threshold };
  }

  /**
   * A reader's proofs that validators sent false shares for its read (src/store/key-blob.ts
   * `falseShareProof`), checked against the shares this node relayed: a validator proven to have
   * lied is punished as any lying peer (disconnected, counted). Unproven claims change nothing.
   */
  async reportFalseShares(
    readTx: Uint8Array,
    proofs: Array<{ index: number; opening: Uint8Array }>,
  ): Promise<{ punished: string[]; unproven: number[] }> {
    const grant = await this.grantFor(readTx);
    const relayed = this.#relayed.get(hex(readTx));
    const { blob } = await this.#keyBlob(grant.record);
    const { validators } = this.#node.store.genesis;
    const result = { punished: [] as string[], unproven: [] as number[] };
    for (const { index, opening } of proofs) {
      const share = relayed?.shares.find((s) => s.index === index);
      const proven =
        share !== undefined &&
        provesFalseShare({
          blob,
          chainId: this.#node.store.genesis.chainId,
          index,
          readerKey: grant.reader.encryptionKey,
          readTx,
          sealed: share.sealed,
          opening,
        });
      if (!proven) {
        result.unproven.push(index);
        continue;
      }
      const validator = validators[index]!;
      result.punished.push(validator.name);
      this.#log.warn(
        { validator: validator.name, record: grant.record.id },
        'a validator sent a false key share',
      );
      if (index !== this.#node.validatorIndex)
        this.#node.host.punish(hex(validator.publicKey), 'false-key-share');
    }
    return result;
  }

  /** The record's ciphertext, fetched from peers first if this node does not hold it yet. */
  async *ciphertext(record: RecordMeta): AsyncGenerator<Uint8Array> {
    if (!(await this.blobs.hasRecord(record.cid))) await this.#replicate(record.id, record.cid, 1);
    yield* this.blobs.readRecord(record.cid);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#stopping.abort();
    this.#fetchSlots.close();
    clearInterval(this.#gcTimer);
    clearTimeout(this.#sweepTimer);
    await Promise.allSettled(this.#replicating.values());
    await this.#node.host.offRequest(BLOB_PROTOCOL).catch(() => {});
    await this.#shares.stop();
    await this.blobs.close();
    await this.#releases.close();
    // The node outlives this service (and may start another): its metrics go with it.
    for (const name of METRIC_NAMES) this.#node.metrics.registry.removeSingleMetric(name);
  }

  /**
   * A validator's part in a permitted read: the permit checked on this node's chain, this
   * validator's share opened (and checked against its commitment) and re-sealed to the reader.
   */
  async #releaseShare(readTx: Uint8Array): Promise<ReleasedShare> {
    const grant = await this.grantFor(readTx);
    const { blob } = await this.#keyBlob(grant.record);
    const index = this.#node.validatorIndex;
    const sealed = resealShare({
      blob,
      chainId: this.#node.store.genesis.chainId,
      index,
      validatorSecretKey: this.#encryptionSecretKey,
      readerKey: grant.reader.encryptionKey,
      readTx,
    });
    await this.#releases.put(hex(readTx), String(Date.now()), { sync: true });
    this.#sharesReleased.inc();
    return { index, sealed };
  }

  async #released(readTxs: Uint8Array[]): Promise<Uint8Array[]> {
    const found = await this.#releases.getMany(readTxs.map(hex));
    return readTxs.filter((_, i) => found[i] !== undefined);
  }

  /**
   * For each read transaction, which validators released a key share for it (asked now), and how
   * many are needed: a permitted read with fewer was decided but not served.
   */
  async servedReads(
    readTxs: Uint8Array[],
  ): Promise<{ threshold: number; releasedBy: Map<string, string[]> }> {
    return {
      threshold: keyThreshold(this.#node.store.genesis.validators.length),
      releasedBy: await this.#shares.releasedBy(readTxs),
    };
  }

  /**
   * When a record commits, this validator checks the key blob it now holds: its own share opens
   * and matches its commitment. A writer's client that was given wrong validator keys (by a lying
   * node) is caught here, counted and logged, rather than at the first read.
   */
  async #checkOwnShare(recordId: string, cid: string, keyCid: string): Promise<void> {
    const { chainId } = this.#node.store.genesis;
    try {
      const { blob } = await this.#keyBlob({ id: recordId, cid, keyCid });
      openOwnShare(blob, chainId, this.#node.validatorIndex, this.#encryptionSecretKey).fill(0);
    } catch (error) {
      this.#badKeyBlobs.inc();
      this.#log.warn(
        { record: recordId, err: error },
        "a committed record's key blob is not usable by this validator",
      );
    }
  }

  /** The record's key blob, fetched from peers first if needed, checked against the genesis. */
  async #keyBlob(
    record: Pick<RecordMeta, 'id' | 'cid' | 'keyCid'>,
  ): Promise<{ bytes: Uint8Array; blob: KeyBlob }> {
    const id = keyBlobStoreId(record.id);
    if (!(await this.blobs.hasRecord(record.keyCid))) await this.#replicate(id, record.keyCid, 1);
    const pieces: Uint8Array[] = [];
    let size = 0;
    for await (const piece of this.blobs.readRecord(record.keyCid)) {
      size += piece.length;
      if (size > MAX_KEY_BLOB_BYTES)
        throw new MedledgerError('KEY_BLOB_INVALID', 'the key blob is too large');
      pieces.push(piece);
    }
    const bytes = concatBytes(pieces);
    const blob = decodeKeyBlob(bytes);
    checkKeyBlob(blob, record.cid, this.#node.store.genesis.validators);
    return { bytes, blob };
  }

  #onCommit(txs: Transaction[], receipts: Receipt[]): void {
    txs.forEach((tx, i) => {
      const receipt = receipts[i];
      if (!receipt || receipt.code !== RECEIPT_OK) return;
      if (tx.type === 'record.add') {
        const body = decodeBody('record.add', tx.body);
        const id = createdId('record', tx);
        void this.#replicate(id, body.cid, REPLICATION_RETRIES).catch(() => {});
        void this.#replicate(keyBlobStoreId(id), body.keyCid, REPLICATION_RETRIES)
          .then(() => this.#checkOwnShare(id, body.cid, body.keyCid))
          .catch(() => {});
      } else if (tx.type === 'record.erase') {
        const { record } = decodeBody('record.erase', tx.body);
        const event = receipt.events.find((e) => e.type === 'record.erased');
        void this.#erase(record, event?.attributes.get('cid'), event?.attributes.get('keyCid'), txHash(tx));
      }
    });
  }

  /**
   * Deletes an erased record's ciphertext and key blob from this node, then signs the erasure
   * receipt. A replication still fetching either finishes first, so nothing outlives the erase.
   */
  async #erase(recordId: string, cid: string | undefined, keyCid: string | undefined, eraseTx: Uint8Array) {
    const keyId = keyBlobStoreId(recordId);
    try {
      await Promise.allSettled([this.#replicating.get(recordId), this.#replicating.get(keyId)]);
      const kept = [
        ...(await this.blobs.erase(recordId, cid)).kept,
        ...(await this.blobs.erase(keyId, keyCid)).kept,
      ];
      if (kept.length > 0) {
        // Another live record references a blob (the rule engine refuses shared CIDs, so this is a
        // store out of line with the chain): signing a receipt now would be a lie.
        this.#log.warn(
          { record: recordId, kept: kept.length },
          'erased record: blobs kept, no erasure receipt',
        );
        return;
      }
      this.#log.info({ record: recordId }, 'record erased from the store: ciphertext and key blob');
    } catch (error) {
      this.#log.warn({ record: recordId, err: error }, 'erasing a record failed');
      return;
    }
    this.#erasures?.issue(recordId, eraseTx);
  }

  /** Makes every committed, live record complete on this node, one at a time, page by page. */
  async #sweep(): Promise<void> {
    if (this.#sweeping) return;
    this.#sweeping = true;
    try {
      const { gte, lt } = prefixRange(new TextEncoder().encode(FAMILY.record));
      let from = gte;
      for (;;) {
        const rows = await this.#node.store.stateRange(from, lt, SWEEP_PAGE);
        for (const [, value] of rows) {
          if (this.#stopped) return;
          const record = decodeState(RecordMetaSchema, value);
          if (record.erased_ms !== null) {
            await this.#sweepErased(record);
            continue;
          }
          if (await this.blobs.isErased(record.id)) continue;
          if (!(await this.blobs.hasRecord(record.cid)))
            await this.#replicate(record.id, record.cid, 1).catch(() => {});
          if (!(await this.blobs.hasRecord(record.keyCid)))
            await this.#replicate(keyBlobStoreId(record.id), record.keyCid, 1).catch(() => {});
        }
        if (rows.length < SWEEP_PAGE) return;
        from = Buffer.concat([rows[rows.length - 1]![0], Buffer.of(0)]);
      }
    } finally {
      this.#sweeping = false;
    }
  }

  /**
   * An erased record this node still holds, or holds no receipt for: its erasure event was missed
   * (the service was not listening yet) or interrupted (a crash between the deletion and the
   * receipt). Erases it now, with the record.erase transaction found through the record index.
   */
  async #sweepErased(record: RecordMeta): Promise<void> {
    const done =
      (await this.blobs.isErased(record.id)) &&
      (await this.blobs.isErased(keyBlobStoreId(record.id))) &&
      (this.#erasures === undefined || (await this.#erasures.signed(record.id)));
    if (done) return;
    const txs = await this.#node.store.indexed('record', record.id);
    for (const { txHash: hash } of txs.reverse()) {
      const found = await this.#node.store.transaction(hash);
      if (found?.tx.type === 'record.erase' && found.receipt.code === RECEIPT_OK) {
        await this.#erase(record.id, record.cid, record.keyCid, hash);
        return;
      }
    }
  }

  /** References a committed record, pulling its blobs from peers when missing; retries with backoff. */
  #replicate(recordId: string, cid: string, attempts: number): Promise<void> {
    const running = this.#replicating.get(recordId);
    if (running) return running;
    const run = (async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          if (await this.blobs.hasRecord(cid)) {
            await this.blobs.addReference(recordId, cid);
            this.#replications.inc({ result: 'held' });
            return;
          }
          const peers = this.#node.host.connectedPeers();
          const result = await this.#fetchSlots.run(() =>
            this.#replicator.replicate(recordId, cid, peers, this.#stopping.signal),
          );
          this.#replications.inc({ result: 'fetched' });
          this.#log.info({ record: recordId, bytes: result.fetchedBytes }, 'record replicated');
          return;
        } catch (error) {
          if (this.#stopped) {
            // Not a failure to replicate: the sweep of the next start completes the record.
            throw new MedledgerError(
              'NODE_STOPPED',
              `the node is stopping; record ${recordId} is not replicated yet`,
            );
          }
          if (attempt >= attempts) {
            this.#replications.inc({ result: 'failed' });
            this.#log.warn({ record: recordId, err: error }, 'record replication failed');
            throw new MedledgerError(
              'API_BLOB_UNAVAILABLE',
              `no reachable node holds the ciphertext of record ${recordId}: ${(error as Error).message}`,
            );
          }
          await sleep(Math.min(30_000, 500 * 2 ** attempt), this.#stopping.signal);
        }
      }
    })().finally(() => this.#replicating.delete(recordId));
    this.#replicating.set(recordId, run);
    return run;
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}

/** The record a record.read names; null when its body does not decode (its receipt refused it). */
function readRecordOf(tx: Transaction): string | null {
  try {
    return decodeBody('record.read', tx.body).record;
  } catch {
    return null;
  }
}

function readerKeyRotated(): MedledgerError {
  return new MedledgerError(
    'API_READER_KEY_ROTATED',
    'the reader changed its signing key after this read; submit a new record.read',
  );
}

function erased(recordId: string): MedledgerError {
  return new MedledgerError('API_RECORD_ERASED', `record ${recordId} was erased by its patient`);
}

function sharesShortfall(gathered: GatheredShares, threshold: number): string {
  const answered = gathered.shares.length + gathered.refused.length;
  const total = answered + gathered.unreachable.length;
  const parts = [
    `${gathered.shares.length} of ${total} validators released a key share for this read; ${threshold} are needed`,
  ];
  if (gathered.refused.length > 0)
    parts.push(`refused: ${gathered.refused.map((r) => `${r.validator} (${r.code})`).join(', ')}`);
  if (gathered.unreachable.length > 0) parts.push(`unreachable: ${gathered.unreachable.join(', ')}`);
  return `${parts.join('; ')}. The read permit is on chain, but the record could not be served.`;
}
