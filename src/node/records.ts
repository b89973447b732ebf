/**
 * The node's record service: the content-addressed store wired to the chain and the network.
 *
 * - Uploads: a writer's client posts a record's ciphertext before committing record.add; it stays
 *   unreferenced (and collectable after the store's grace period) until the record commits.
 * - On commit of record.add every node references the record, pulling its blobs from peers (verified
 *   against their CIDs) when it does not hold them; on record.erase every node deletes them.
 * - Reads: a committed, permitted record.read transaction is the reader's ticket. The node releases
 *   the ciphertext, and the data key sealed to the reader: by the patient's own envelope when the
 *   reader is the patient, else re-wrapped by the custodian's node (this node, or a peer asked over
 *   the key protocol, which checks the permit against its own copy of the chain).
 *
 * A permit is honoured for READ_PERMIT_TTL_MS after its block: a revocation stops every later read
 * transaction, and an old permit cannot be replayed to fetch the key again much later.
 */
import { join } from 'node:path';
import { Counter, Gauge } from 'prom-client';
import {
  createdId,
  decodeBody,
  getEnvelopes,
  getIdentity,
  getIdentityByKey,
  getOrganisation,
  getRecord,
  type Identity,
  type RecordMeta,
} from '../contracts/index.ts';
import { FAMILY, prefixRange } from '../contracts/keys.ts';
import { RecordMeta as RecordMetaSchema } from '../contracts/model.ts';
import { decodeState } from '../contracts/overlay.ts';
import { encryptionPublicKeyFrom } from '../crypto/index.ts';
import { MedledgerError } from '../errors.ts';
import { RECEIPT_OK, type Receipt, type Transaction } from '../ledger/index.ts';
import {
  BlobService,
  BlobStore,
  type ByteSource,
  Replicator,
  recordContext,
  rewrapForReader,
  type StoredRecord,
  transportOverFrames,
} from '../store/index.ts';
import { RecordKeyExchange } from './record-keys.ts';
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
  readonly #keys: RecordKeyExchange;
  readonly #log: NodeLogger;
  readonly #replicating = new Map<string, Promise<void>>();
  readonly #replications: Counter<'result'>;
  #gcTimer: NodeJS.Timeout | undefined;
  #sweepTimer: NodeJS.Timeout | undefined;
  #sweeping = false;
  #fetching = 0;
  readonly #fetchWaiters: Array<() => void> = [];
  #stopped = false;
  /** Wakes backoff sleeps when the service stops. */
  readonly #stopping = new AbortController();

  private constructor(
    blobs: BlobStore,
    node: ValidatorNode,
    encryptionSecretKey: Uint8Array,
    log: NodeLogger,
  ) {
    this.blobs = blobs;
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
          log.warn({ peer: fault.peer, kind: fault.kind }, 'blob replication: peer fault');
          if (fault.kind === 'wrong-bytes') host.punish(fault.peer, 'wrong-blob-bytes');
        },
      },
    );
    this.#keys = new RecordKeyExchange(node, encryptionSecretKey, (readTx) =>
      this.#rewrapAsCustodian(readTx),
    );
    const registers = [node.metrics.registry];
    new Gauge({
      name: 'medledger_records_stored',
      help: 'Records whose ciphertext this node holds (live, not erased)',
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
  }

  /** Opens the store under `dataDir/blobs` and joins the node's commits and protocols. */
  static async start(options: {
    node: ValidatorNode;
    dataDir: string;
    /** The node's X25519 secret key: the custodian key of the hospital this node serves. */
    encryptionSecretKey: Uint8Array;
    log: NodeLogger;
    /** When the first sweep for incomplete records runs (default 15 s after start). */
    firstSweep_ms?: number;
  }): Promise<RecordService> {
    const blobs = await BlobStore.open(join(options.dataDir, 'blobs'));
    const service = new RecordService(blobs, options.node, options.encryptionSecretKey, options.log);
    const server = new BlobService(blobs);
    await options.node.host.onRequest(BLOB_PROTOCOL, async (peer, frame) => {
      const frames: Uint8Array[] = [];
      for await (const out of server.serveFrames(peer, frame)) frames.push(out);
      return frames;
    });
    await service.#keys.serve();
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

  /** Checks a read transaction: committed, a record.read, permitted, recent, record not erased. */
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
    const reader = getIdentityByKey(state, tx.sender);
    if (!record || !reader)
      throw new MedledgerError('API_INTERNAL', 'a permitted read names no record or reader');
    if (record.erased_ms !== null) throw erased(record.id);
    const decided = receipt.events.find((e) => e.type === 'access.decided');
    return { record, reader, emergency: decided?.attributes.get('emergency') === 'true', readTx };
  }

  /** The record's data key sealed to the reader (see the module comment for who seals it). */
  async envelopeFor(grant: ReadGrant): Promise<Uint8Array> {
    if (grant.reader.id === grant.record.patient) {
      const envelopes = getEnvelopes(this.#state(), grant.record.id);
      if (!envelopes) throw erased(grant.record.id);
      return envelopes.patient;
    }
    const custodianKey = this.#custodianKey(grant.record);
    if (!custodianKey) throw new MedledgerError('API_CUSTODIAN_UNAVAILABLE', 'the custodian has no key');
    if (equal(custodianKey, this.#encryptionPublicKey)) return this.#rewrap(grant);
    const height = (await this.#node.store.transaction(grant.readTx))?.height ?? 0;
    return this.#keys.ask(grant.readTx, height, custodianKey);
  }

  /** The record's ciphertext, fetched from peers first if this node does not hold it yet. */
  async *ciphertext(record: RecordMeta): AsyncGenerator<Uint8Array> {
    if (!(await this.blobs.hasRecord(record.cid))) await this.#replicate(record.id, record.cid, 1);
    yield* this.blobs.readRecord(record.cid);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#stopping.abort();
    clearInterval(this.#gcTimer);
    clearTimeout(this.#sweepTimer);
    await Promise.allSettled(this.#replicating.values());
    await this.blobs.close();
  }

  #state() {
    return this.#node.store.stateReader;
  }

  /** The custodian organisation's X25519 key (its admin identity holds it). */
  #custodianKey(record: RecordMeta): Uint8Array | undefined {
    const org = getOrganisation(this.#state(), record.custodian);
    return org ? getIdentity(this.#state(), org.admin)?.encryptionKey : undefined;
  }

  #rewrap(grant: ReadGrant): Uint8Array {
    const envelopes = getEnvelopes(this.#state(), grant.record.id);
    if (!envelopes) throw erased(grant.record.id);
    const context = recordContext(this.#node.store.genesis.chainId, grant.record.cid);
    return rewrapForReader(
      this.#encryptionSecretKey,
      envelopes.custodian,
      grant.reader.encryptionKey,
      context,
    );
  }

  /** A peer asks this node, as custodian, for a reader's key: the permit is checked here too. */
  async #rewrapAsCustodian(readTx: Uint8Array): Promise<Uint8Array> {
    const grant = await this.grantFor(readTx);
    if (!equal(this.#custodianKey(grant.record), this.#encryptionPublicKey)) {
      throw new MedledgerError('API_NOT_CUSTODIAN', "this node is not the record's custodian");
    }
    return this.#rewrap(grant);
  }

  #onCommit(txs: Transaction[], receipts: Receipt[]): void {
    txs.forEach((tx, i) => {
      const receipt = receipts[i];
      if (!receipt || receipt.code !== RECEIPT_OK) return;
      if (tx.type === 'record.add') {
        const body = decodeBody('record.add', tx.body);
        void this.#replicate(createdId('record', tx), body.cid, REPLICATION_RETRIES).catch(() => {});
      } else if (tx.type === 'record.erase') {
        const { record } = decodeBody('record.erase', tx.body);
        const cid = receipt.events.find((e) => e.type === 'record.erased')?.attributes.get('cid');
        // A replication still fetching this record's chunks finishes first, so none outlive the erase.
        const running = this.#replicating.get(record) ?? Promise.resolve();
        running
          .catch(() => {})
          .then(() => this.blobs.erase(record, cid))
          .then(
            () => this.#log.info({ record }, 'record erased from the store'),
            (error) => this.#log.warn({ record, err: error }, 'erasing a record failed'),
          );
      }
    });
  }

  /**
   * Runs a fetch from peers when one of MAX_CONCURRENT_FETCHES slots is free: a node catching up
   * replays many record.add commits at once, and peers serve a few streams per connection.
   */
  async #fetchSlot<T>(fetch: () => Promise<T>): Promise<T> {
    while (this.#fetching >= MAX_CONCURRENT_FETCHES) {
      await new Promise<void>((resolve) => this.#fetchWaiters.push(resolve));
    }
    this.#fetching++;
    try {
      return await fetch();
    } finally {
      this.#fetching--;
      this.#fetchWaiters.shift()?.();
    }
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
          if (record.erased_ms !== null || (await this.blobs.isErased(record.id))) continue;
          if (await this.blobs.hasRecord(record.cid)) continue;
          await this.#replicate(record.id, record.cid, 1).catch(() => {});
        }
        if (rows.length < SWEEP_PAGE) return;
        from = Buffer.concat([rows[rows.length - 1]![0], Buffer.of(0)]);
      }
    } finally {
      this.#sweeping = false;
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
          const result = await this.#fetchSlot(() => this.#replicator.replicate(recordId, cid, peers));
          this.#replications.inc({ result: 'fetched' });
          this.#log.info({ record: recordId, bytes: result.fetchedBytes }, 'record replicated');
          return;
        } catch (error) {
          if (this.#stopped || attempt >= attempts) {
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

function erased(recordId: string): MedledgerError {
  return new MedledgerError('API_RECORD_ERASED', `record ${recordId} was erased by its patient`);
}

function equal(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a !== undefined && Buffer.from(a).equals(b);
}
