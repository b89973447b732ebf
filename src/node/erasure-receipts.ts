/**
 * This validator's erasure receipts, and those of the others (`/medledger/erasure-receipts/1.0.0`):
 * once the record service has deleted an erased record's ciphertext and key blob, `issue` signs a
 * receipt (src/ledger/erasure-receipt.ts), stores it and pushes it to every connected validator;
 * `list` gathers the receipts for a record from this node and every connected validator. With
 * n − f receipts, at most f key shares survive, so the record's key cannot be rebuilt.
 *
 * Every receipt taken in, pushed or answered, is checked against the genesis validators and the
 * chain id before it is stored; a peer that sends a malformed frame or a receipt that does not verify
 * is punished (disconnected) and the node carries on. Receipts are kept in their own small LevelDB,
 * one per record and validator (the first one seen stays).
 *
 *   request  push { receipt }  →  (no frames)
 *            query { record }  →  one frame per receipt held for the record (at most n)
 */
import { Level } from 'level';
import { fromHex, hex } from '../bytes.ts';
import { decode, encode, str, struct, union } from '../codec/index.ts';
import { signingPublicKeyFrom } from '../crypto/index.ts';
import { MedledgerError } from '../errors.ts';
import { ErasureReceipt, signErasureReceipt, verifyErasureReceipt } from '../ledger/erasure-receipt.ts';
import type { Logger } from '../logger.ts';
import type { P2PHost, ProtocolSpec } from '../p2p/host.ts';

export { ErasureReceipt, verifyErasureReceipt } from '../ledger/erasure-receipt.ts';

/** Frames are one receipt (under 400 bytes) or one query; a response holds one receipt per frame. */
export const ERASURE_RECEIPTS_PROTOCOL = {
  id: '/medledger/erasure-receipts/1.0.0',
  maxFrameBytes: 1024,
} as const;
const REQUEST_TIMEOUT_MS = 5_000;
const MAX_RECORD_ID_BYTES = 64;

/** Exported for tests that play a lying peer. */
export const ErasureRequest = union('ErasureRequest', {
  push: struct('ErasurePush', { receipt: ErasureReceipt }),
  query: struct('ErasureQuery', { record: str(MAX_RECORD_ID_BYTES) }),
});

/** What of the P2P host the component uses. */
export type ErasureHost = Pick<P2PHost, 'onRequest' | 'request' | 'connectedPeers' | 'punish'>;

/** What of the genesis the component uses: the chain id and the validators, in genesis order. */
export interface ErasureGenesis {
  chainId: string;
  validators: ReadonlyArray<{ name: string; publicKey: Uint8Array }>;
}

export interface ErasureReceiptsOptions {
  host: ErasureHost;
  genesis: ErasureGenesis;
  /** This validator's Ed25519 secret key (32-byte seed); its public key must be a genesis validator's. */
  secretKey: Uint8Array;
  /** The receipts' LevelDB directory (e.g. HOME/data/receipts); created if missing. */
  dir: string;
  log: Logger;
  /** The clock `erased_ms` is read from (default Date.now). */
  now?: () => number;
}

type Db = Level<string, Uint8Array>;
const SEP = '\u0000';
const END = '\u0001';
const recordPrefix = (record: string) => `r${SEP}${record}${SEP}`;
const receiptKey = (record: string, validator: Uint8Array) => `${recordPrefix(record)}${hex(validator)}`;

export class ErasureReceipts {
  readonly #host: ErasureHost;
  readonly #chainId: string;
  readonly #validatorKeys: Uint8Array[];
  /** Genesis index and name by validator key (hex). */
  readonly #validators: Map<string, { index: number; name: string }>;
  readonly #secretKey: Uint8Array;
  readonly #self: string;
  readonly #db: Db;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #protocol: ProtocolSpec;
  /** Issues in flight, by record, so two calls for one record sign once. */
  readonly #issuing = new Map<string, Promise<ErasureReceipt | null>>();
  /** Work touching the database, awaited by `stop` before it closes. */
  readonly #pending = new Set<Promise<unknown>>();
  #stopped = false;

  private constructor(options: ErasureReceiptsOptions, db: Db, self: string) {
    this.#host = options.host;
    this.#chainId = options.genesis.chainId;
    this.#validatorKeys = options.genesis.validators.map((v) => v.publicKey);
    this.#validators = new Map(
      options.genesis.validators.map((v, index) => [hex(v.publicKey), { index, name: v.name }]),
    );
    this.#secretKey = options.secretKey;
    this.#self = self;
    this.#db = db;
    this.#log = options.log;
    this.#now = options.now ?? Date.now;
    const n = options.genesis.validators.length;
    this.#protocol = {
      ...ERASURE_RECEIPTS_PROTOCOL,
      maxResponseBytes: n * (ERASURE_RECEIPTS_PROTOCOL.maxFrameBytes + 4),
    };
  }

  /** Opens the receipts database and serves the protocol. */
  static async start(options: ErasureReceiptsOptions): Promise<ErasureReceipts> {
    const self = hex(signingPublicKeyFrom(options.secretKey));
    if (!options.genesis.validators.some((v) => hex(v.publicKey) === self)) {
      throw new MedledgerError(
        'NODE_NOT_A_VALIDATOR',
        'erasure receipts: this key is not a genesis validator',
      );
    }
    const db: Db = new Level<string, Uint8Array>(options.dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
    try {
      await db.open({ createIfMissing: true });
    } catch (error) {
      const locked = (error as { cause?: { code?: string } }).cause?.code === 'LEVEL_LOCKED';
      throw new MedledgerError(
        locked ? 'NODE_RECEIPTS_LOCKED' : 'NODE_RECEIPTS_OPEN_FAILED',
        locked
          ? `the erasure receipts database ${options.dir} is in use by another process`
          : `cannot open the erasure receipts database ${options.dir}`,
        { cause: error },
      );
    }
    const receipts = new ErasureReceipts(options, db, self);
    try {
      await options.host.onRequest(receipts.#protocol, (peer, frame) =>
        receipts.#track(receipts.#serve(peer, frame)),
      );
    } catch (error) {
      await db.close();
      throw error;
    }
    return receipts;
  }

  /** Stops answering and taking receipts, waits for database work in flight, closes the database. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    await Promise.allSettled([...this.#pending]);
    await this.#db.close();
  }

  /**
   * Signs this validator's receipt for an erased record (once: a second call returns the stored one),
   * stores it durably, then pushes it to every connected validator without waiting for them.
   * Never rejects: a failure is logged and resolves to null.
   */
  issue(recordId: string, eraseTx: Uint8Array): Promise<ErasureReceipt | null> {
    const running = this.#issuing.get(recordId);
    if (running) return running;
    const issuing = this.#track(this.#issue(recordId, eraseTx))
      .catch((error) => {
        this.#log.warn({ record: recordId, err: error }, 'signing an erasure receipt failed');
        return null;
      })
      .finally(() => this.#issuing.delete(recordId));
    this.#issuing.set(recordId, issuing);
    return issuing;
  }

  /** Whether this validator has signed its receipt for the record. */
  async signed(recordId: string): Promise<boolean> {
    return (await this.#get(recordId, fromHex(this.#self))) !== undefined;
  }

  async #issue(recordId: string, eraseTx: Uint8Array): Promise<ErasureReceipt> {
    if (this.#stopped) throw new MedledgerError('NODE_STOPPED', 'the erasure receipts are stopped');
    const selfKey = fromHex(this.#self);
    let receipt = await this.#get(recordId, selfKey);
    if (receipt === undefined) {
      receipt = signErasureReceipt(
        { chainId: this.#chainId, record: recordId, eraseTx, erased_ms: this.#now() },
        this.#secretKey,
      );
      await this.#db.put(receiptKey(recordId, receipt.validator), encode(ErasureReceipt, receipt), {
        sync: true,
      });
      this.#log.info({ record: recordId }, 'signed the erasure receipt');
    }
    this.#push(receipt);
    return receipt;
  }

  /** Sends a receipt to every connected validator; failures are logged at debug, never thrown. */
  #push(receipt: ErasureReceipt): void {
    const frame = encode(ErasureRequest, { kind: 'push', receipt });
    for (const peer of this.#host.connectedPeers()) {
      if (!this.#validators.has(peer)) continue;
      this.#host.request(this.#protocol, peer, frame, REQUEST_TIMEOUT_MS).catch((error) => {
        this.#log.debug(
          {
            record: receipt.record,
            peer: this.#validators.get(peer)?.name,
            reason: String(error?.message ?? error),
          },
          'pushing an erasure receipt failed',
        );
      });
    }
  }

  /**
   * The receipts for a record: those held here and those every connected validator answers (each
   * checked, and stored), one per validator, in genesis order.
   */
  async list(recordId: string): Promise<ErasureReceipt[]> {
    if (this.#stopped) throw new MedledgerError('NODE_STOPPED', 'the erasure receipts are stopped');
    let frame: Uint8Array;
    try {
      frame = encode(ErasureRequest, { kind: 'query', record: recordId });
    } catch {
      throw new MedledgerError('BAD_ARGUMENT', 'not a record id');
    }
    const byValidator = new Map<string, ErasureReceipt>();
    for (const receipt of await this.#track(this.#held(recordId)))
      byValidator.set(hex(receipt.validator), receipt);
    const peers = this.#host.connectedPeers().filter((peer) => this.#validators.has(peer));
    const answers = await Promise.all(peers.map((peer) => this.#query(peer, recordId, frame)));
    const fresh: ErasureReceipt[] = [];
    for (const receipt of answers.flat()) {
      const key = hex(receipt.validator);
      if (byValidator.has(key)) continue;
      byValidator.set(key, receipt);
      fresh.push(receipt);
    }
    if (fresh.length > 0 && !this.#stopped) {
      await this.#track(Promise.all(fresh.map((receipt) => this.#store(receipt)))).catch((error) =>
        this.#log.warn({ record: recordId, err: error }, 'storing gathered erasure receipts failed'),
      );
    }
    return [...byValidator.values()].sort(
      (a, b) => this.#validators.get(hex(a.validator))!.index - this.#validators.get(hex(b.validator))!.index,
    );
  }

  /** A peer's receipts for a record, each checked; a peer that answers with anything else is punished. */
  async #query(peer: string, recordId: string, frame: Uint8Array): Promise<ErasureReceipt[]> {
    let frames: Uint8Array[];
    try {
      frames = await this.#host.request(this.#protocol, peer, frame, REQUEST_TIMEOUT_MS);
    } catch (error) {
      this.#log.debug(
        {
          record: recordId,
          peer: this.#validators.get(peer)?.name,
          reason: String((error as Error)?.message),
        },
        'asking a validator for erasure receipts failed',
      );
      return [];
    }
    const out: ErasureReceipt[] = [];
    for (const bytes of frames.slice(0, this.#validators.size + 1)) {
      let receipt: ErasureReceipt;
      try {
        receipt = decode(ErasureReceipt, bytes, ERASURE_RECEIPTS_PROTOCOL.maxFrameBytes);
      } catch {
        this.#punish(peer, 'malformed-erasure-response', recordId);
        return out;
      }
      if (receipt.record !== recordId || !this.#verify(receipt)) {
        this.#punish(peer, 'forged-erasure-receipt', recordId);
        return out;
      }
      out.push(receipt);
    }
    if (frames.length > this.#validators.size) this.#punish(peer, 'too-many-erasure-receipts', recordId);
    return out;
  }

  async #serve(peer: string, frame: Uint8Array): Promise<Uint8Array[]> {
    if (this.#stopped) return [];
    let request: ReturnType<typeof decodeRequest>;
    try {
      request = decodeRequest(frame);
    } catch {
      this.#punish(peer, 'malformed-erasure-request');
      return [];
    }
    if (request.kind === 'query') {
      return (await this.#held(request.record)).map((receipt) => encode(ErasureReceipt, receipt));
    }
    const { receipt } = request;
    if (!this.#verify(receipt)) {
      this.#punish(peer, 'forged-erasure-receipt', receipt.record);
      return [];
    }
    if ((await this.#get(receipt.record, receipt.validator)) === undefined) {
      await this.#store(receipt);
      this.#log.debug(
        { record: receipt.record, validator: this.#validators.get(hex(receipt.validator))!.name },
        'took an erasure receipt',
      );
    }
    return [];
  }

  #verify(receipt: ErasureReceipt): boolean {
    return verifyErasureReceipt(receipt, this.#chainId, this.#validatorKeys);
  }

  #punish(peer: string, reason: string, record?: string): void {
    this.#log.warn({ peer: this.#validators.get(peer)?.name ?? peer, reason, record }, 'punished a peer');
    this.#host.punish(peer, reason);
  }

  /** Keeps the first receipt per record and validator (a validator signs once per record). */
  async #store(receipt: ErasureReceipt): Promise<void> {
    if (this.#stopped) return;
    const key = receiptKey(receipt.record, receipt.validator);
    if ((await this.#db.get(key)) !== undefined) return;
    await this.#db.put(key, encode(ErasureReceipt, receipt));
  }

  async #get(recordId: string, validator: Uint8Array): Promise<ErasureReceipt | undefined> {
    const value = await this.#db.get(receiptKey(recordId, validator));
    return value === undefined
      ? undefined
      : decode(ErasureReceipt, value, ERASURE_RECEIPTS_PROTOCOL.maxFrameBytes);
  }

  /** The receipts stored for a record, in genesis order, those of validators no longer listed skipped. */
  async #held(recordId: string): Promise<ErasureReceipt[]> {
    if (this.#stopped) return [];
    const prefix = recordPrefix(recordId);
    const out: ErasureReceipt[] = [];
    for await (const value of this.#db.values({ gte: prefix, lt: `${prefix.slice(0, -1)}${END}` })) {
      const receipt = decode(ErasureReceipt, value, ERASURE_RECEIPTS_PROTOCOL.maxFrameBytes);
      // A record id may itself contain the separator: the prefix then spans others' receipts too.
      if (receipt.record === recordId && this.#verify(receipt)) out.push(receipt);
    }
    return out.sort(
      (a, b) => this.#validators.get(hex(a.validator))!.index - this.#validators.get(hex(b.validator))!.index,
    );
  }

  #track<T>(work: Promise<T>): Promise<T> {
    this.#pending.add(work);
    const untrack = () => this.#pending.delete(work);
    work.then(untrack, untrack);
    return work;
  }
}

function decodeRequest(frame: Uint8Array) {
  return decode(ErasureRequest, frame, ERASURE_RECEIPTS_PROTOCOL.maxFrameBytes);
}
