/**
 * Replication of records between nodes: after a record commits, nodes pull its blobs from peers that
 * hold them, verify every CID on arrival, and store them. This module is transport-agnostic; the
 * networking layer (libp2p) carries it by implementing one small function (FrameExchange: send a
 * request frame to a peer, receive its response frames) or the BlobTransport interface directly.
 *
 * ## Protocol (one request per stream; frames are the canonical codec encodings below)
 *
 *     request  want  { cids }               which of these records do you hold completely?
 *              have  { cids }               announcement: I now hold these records (no response)
 *              fetch { cid, first, count }  count = 0: the blob `cid` itself (e.g. a manifest);
 *                                           count > 0: chunks [first, first + count) of the record
 *                                           whose manifest is `cid`, in order
 *     response have     { cids }            answer to want
 *              block    { bytes }           one blob per frame, in request order
 *              notFound { cid }             the server lacks this blob; the stream ends here
 *              busy     { retryAfterMs }    refused by the server's per-peer limits
 *              error    { code, message }   malformed or over-limit request
 *
 * A frame is at most MAX_BLOB_FRAME_BYTES (one 1 MiB chunk plus framing). Servers serve only what
 * their store verified on read, so an honest server never forwards a corrupted chunk.
 *
 * ## Limits
 *
 * Client side (Replicator), per peer and shared by all replications of this node: requests in
 * flight and bytes requested but not yet received; per request a timeout for the next frame. Server
 * side (BlobService), per requesting peer: concurrent requests and chunks per request.
 *
 * ## Faults
 *
 * A peer that serves bytes that do not match the CID (or the manifest's size) is reported
 * (`wrong-bytes`) and not asked again during this replication; the chunk goes to the next peer. A
 * slow peer times out (`timeout`, dropped after maxTimeoutsPerPeer), an unreachable one fails
 * (`unreachable`), a peer without the blob says so (`not-found`), a loaded one asks to back off
 * (`busy`). Replication fails (STORE_REPLICATION_FAILED, listing the faults) only when no candidate
 * is left; chunks already stored stay, and a retry fetches only what is missing.
 */
import {
  bytes,
  decode,
  encode,
  list,
  str,
  struct,
  type UnionOf,
  u32,
  union,
  varBytes,
} from '../codec/index.ts';
import type { BlobStore } from './blob-store.ts';
import { CID, CID_BYTES, type CidLike, cidMatches, parseCid } from './cid.ts';
import { CHUNK_BYTES } from './constants.ts';
import { StoreError } from './errors.ts';
import { decodeManifest, type Manifest } from './manifest.ts';

export type PeerId = string;

/** A fetch: the blob `cid` itself, or chunks [first, first + count) of the record `cid` names. */
export interface FetchRequest {
  cid: CID;
  range?: { first: number; count: number };
}

/**
 * What the networking layer implements (or gets from transportOverFrames). Every call honours
 * `signal`: when it aborts, the call rejects or the iteration ends promptly.
 */
export interface BlobTransport {
  /** Asks `peer` which of the record CIDs it holds completely. */
  want(peer: PeerId, cids: CID[], signal: AbortSignal): Promise<CID[]>;
  /**
   * Fetches a blob or a range of a record's chunks: yields each blob's bytes in request order and
   * ends early if the peer lacks one. Rejects with STORE_PEER_BUSY when the peer's limits refuse it.
   */
  fetch(peer: PeerId, request: FetchRequest, signal: AbortSignal): AsyncIterable<Uint8Array>;
  /** Tells `peer` that this node now holds these records. */
  announce?(peer: PeerId, cids: CID[], signal: AbortSignal): Promise<void>;
}

// ------------------------------------------------------------------------------------ wire format

export const MAX_CIDS_PER_MESSAGE = 1024;
export const MAX_BLOB_FRAME_BYTES = CHUNK_BYTES + 64;
const CidBytes = bytes(CID_BYTES);

const requestVariants = {
  want: struct('Want', { cids: list(CidBytes, MAX_CIDS_PER_MESSAGE) }),
  have: struct('Have', { cids: list(CidBytes, MAX_CIDS_PER_MESSAGE) }),
  fetch: struct('Fetch', { cid: CidBytes, first: u32, count: u32 }),
};
export const BlobRequestSchema = union('BlobRequest', requestVariants);
export type BlobRequestMessage = UnionOf<typeof requestVariants>;

const responseVariants = {
  have: struct('Have', { cids: list(CidBytes, MAX_CIDS_PER_MESSAGE) }),
  block: struct('Block', { bytes: varBytes(CHUNK_BYTES) }),
  notFound: struct('NotFound', { cid: CidBytes }),
  busy: struct('Busy', { retryAfterMs: u32 }),
  error: struct('Error', { code: str(64), message: str(512) }),
};
export const BlobResponseSchema = union('BlobResponse', responseVariants);
export type BlobResponseMessage = UnionOf<typeof responseVariants>;

export const encodeBlobRequest = (message: BlobRequestMessage) => encode(BlobRequestSchema, message);
export const decodeBlobRequest = (frame: Uint8Array) =>
  decode(BlobRequestSchema, frame, MAX_BLOB_FRAME_BYTES);
export const encodeBlobResponse = (message: BlobResponseMessage) => encode(BlobResponseSchema, message);
export const decodeBlobResponse = (frame: Uint8Array) =>
  decode(BlobResponseSchema, frame, MAX_BLOB_FRAME_BYTES);

/** What the networking layer provides: one request frame to `peer`, its response frames back. */
export type FrameExchange = (
  peer: PeerId,
  request: Uint8Array,
  signal: AbortSignal,
) => AsyncIterable<Uint8Array>;

function remoteError(peer: PeerId, message: BlobResponseMessage): StoreError {
  if (message.kind === 'busy') {
    return new StoreError('STORE_PEER_BUSY', `Peer ${peer} is busy; retry after ${message.retryAfterMs} ms.`);
  }
  if (message.kind === 'error') {
    return new StoreError(
      'STORE_BAD_REQUEST',
      `Peer ${peer} refused the request: ${message.code}: ${message.message}`,
    );
  }
  return new StoreError(
    'STORE_BAD_REQUEST',
    `Peer ${peer} answered with an unexpected ${message.kind} message.`,
  );
}

/** A BlobTransport over a frame exchange: the client half of the protocol. */
export function transportOverFrames(exchange: FrameExchange): BlobTransport {
  return {
    async want(peer, cids, signal) {
      const request = encodeBlobRequest({ kind: 'want', cids: cids.map((cid) => cid.bytes) });
      for await (const frame of exchange(peer, request, signal)) {
        const message = decodeBlobResponse(frame);
        if (message.kind !== 'have') throw remoteError(peer, message);
        return message.cids.map((cid) => CID.decode(cid));
      }
      return [];
    },
    async *fetch(peer, request, signal) {
      const frame = encodeBlobRequest({
        kind: 'fetch',
        cid: request.cid.bytes,
        first: request.range?.first ?? 0,
        count: request.range?.count ?? 0,
      });
      for await (const response of exchange(peer, frame, signal)) {
        const message = decodeBlobResponse(response);
        if (message.kind === 'block') yield message.bytes;
        else if (message.kind === 'notFound') return;
        else throw remoteError(peer, message);
      }
    },
    async announce(peer, cids, signal) {
      const request = encodeBlobRequest({ kind: 'have', cids: cids.map((cid) => cid.bytes) });
      for await (const _ of exchange(peer, request, signal)) break;
    },
  };
}

// ----------------------------------------------------------------------------------- server side

export interface BlobServiceOptions {
  /** Requests one peer may have open at once; more are answered busy. Default 8. */
  maxConcurrentRequestsPerPeer?: number;
  /** Chunks one fetch may ask for. Default 16. */
  maxChunksPerRequest?: number;
  /** The retry hint sent with busy. Default 100 ms. */
  busyRetryAfterMs?: number;
}

/** Serves this node's store to peers, within per-peer limits, and remembers their announcements. */
/** A local read, or null when this node lacks the blob or holds only a corrupt copy (to be refetched). */
async function readOrNull<T>(read: () => Promise<T>): Promise<T | null> {
  try {
    return await read();
  } catch (error) {
    const missing =
      error instanceof StoreError &&
      (error.code === 'STORE_NOT_FOUND' || error.code === 'STORE_CORRUPT_CHUNK');
    if (missing) return null;
    throw error;
  }
}

export class BlobService {
  readonly #store: BlobStore;
  readonly #options: Required<BlobServiceOptions>;
  readonly #active = new Map<PeerId, number>();
  readonly #holders = new Map<string, Set<PeerId>>();

  constructor(store: BlobStore, options: BlobServiceOptions = {}) {
    this.#store = store;
    this.#options = {
      maxConcurrentRequestsPerPeer: options.maxConcurrentRequestsPerPeer ?? 8,
      maxChunksPerRequest: options.maxChunksPerRequest ?? 16,
      busyRetryAfterMs: options.busyRetryAfterMs ?? 100,
    };
  }

  /** Which of `cids` this node holds completely (a record: manifest and every chunk; else the blob). */
  async have(cids: CID[]): Promise<CID[]> {
    const held: CID[] = [];
    for (const cid of cids) {
      try {
        if (await this.#store.hasRecord(cid)) held.push(cid);
      } catch (error) {
        if (!(error instanceof StoreError && error.code === 'STORE_BAD_MANIFEST')) throw error;
        if (await this.#store.has(cid)) held.push(cid); // a plain blob, not a record
      }
    }
    return held;
  }

  /** Records that `peer` announced these records. */
  noteHave(peer: PeerId, cids: CID[]): void {
    for (const cid of cids) {
      const key = cid.toString();
      let peers = this.#holders.get(key);
      if (peers === undefined) {
        peers = new Set();
        this.#holders.set(key, peers);
      }
      peers.add(peer);
    }
  }

  /** Peers that announced holding `cid`: candidates for the Replicator. */
  holders(cid: CidLike): PeerId[] {
    return [...(this.#holders.get(parseCid(cid).toString()) ?? [])];
  }

  /**
   * Serves one fetch from `peer`: yields verified blobs in order and ends early at the first one
   * this node lacks (or finds corrupted: it is quarantined and reported, never served).
   */
  async *serve(peer: PeerId, request: FetchRequest): AsyncGenerator<Uint8Array> {
    const count = request.range?.count ?? 0;
    if (count > this.#options.maxChunksPerRequest) {
      throw new StoreError(
        'STORE_BAD_REQUEST',
        `A fetch may ask for at most ${this.#options.maxChunksPerRequest} chunks, not ${count}.`,
      );
    }
    const active = this.#active.get(peer) ?? 0;
    if (active >= this.#options.maxConcurrentRequestsPerPeer) {
      throw new StoreError('STORE_PEER_BUSY', `Peer ${peer} has ${active} requests open already.`);
    }
    this.#active.set(peer, active + 1);
    try {
      if (count === 0) {
        const blob = await readOrNull(() => this.#store.getBlob(request.cid));
        if (blob !== null) yield blob;
        return;
      }
      const manifest = await readOrNull(() => this.#store.readManifest(request.cid));
      if (manifest === null) return;
      const first = request.range!.first;
      const end = Math.min(manifest.chunks.length, first + count);
      for (let i = first; i < end; i++) {
        const chunk = await readOrNull(() => this.#store.readChunk(manifest.chunks[i]!));
        if (chunk === null) return;
        yield chunk;
      }
    } finally {
      const left = (this.#active.get(peer) ?? 1) - 1;
      if (left === 0) this.#active.delete(peer);
      else this.#active.set(peer, left);
    }
  }

  /** The server half of the protocol: one request frame in, response frames out. */
  async *serveFrames(peer: PeerId, frame: Uint8Array): AsyncGenerator<Uint8Array> {
    let request: BlobRequestMessage;
    try {
      request = decodeBlobRequest(frame);
    } catch (error) {
      yield encodeBlobResponse({
        kind: 'error',
        code: 'STORE_BAD_REQUEST',
        message: `malformed request: ${(error as Error).message}`.slice(0, 500),
      });
      return;
    }
    try {
      if (request.kind === 'want') {
        const held = await this.have(request.cids.map((cid) => parseCid(cid)));
        yield encodeBlobResponse({ kind: 'have', cids: held.map((cid) => cid.bytes) });
        return;
      }
      if (request.kind === 'have') {
        this.noteHave(
          peer,
          request.cids.map((cid) => parseCid(cid)),
        );
        return;
      }
      const cid = parseCid(request.cid);
      const range = request.count === 0 ? undefined : { first: request.first, count: request.count };
      let served = 0;
      for await (const blob of this.serve(peer, range ? { cid, range } : { cid })) {
        served++;
        yield encodeBlobResponse({ kind: 'block', bytes: blob });
      }
      if (served < Math.max(1, request.count)) yield encodeBlobResponse({ kind: 'notFound', cid: cid.bytes });
    } catch (error) {
      if (error instanceof StoreError && error.code === 'STORE_PEER_BUSY') {
        yield encodeBlobResponse({ kind: 'busy', retryAfterMs: this.#options.busyRetryAfterMs });
      } else if (
        error instanceof StoreError &&
        (error.code === 'STORE_BAD_REQUEST' || error.code === 'STORE_BAD_CID')
      ) {
        yield encodeBlobResponse({ kind: 'error', code: error.code, message: error.message.slice(0, 500) });
      } else {
        yield encodeBlobResponse({
          kind: 'error',
          code: 'STORE_IO',
          message: 'the server failed to read its store',
        });
      }
    }
  }
}

// ----------------------------------------------------------------------------------- client side

export type PeerFaultKind = 'wrong-bytes' | 'timeout' | 'unreachable' | 'not-found' | 'busy';

export interface PeerFault {
  peer: PeerId;
  /** The blob (manifest or chunk) concerned. */
  cid: CID;
  kind: PeerFaultKind;
  detail: string;
}

export interface ReplicatorOptions {
  /** Requests in flight to one peer, over all replications. Default 2. */
  maxConcurrentRequestsPerPeer?: number;
  /** Bytes requested from one peer and not yet received, over all replications. Default 8 MiB. */
  maxBytesInFlightPerPeer?: number;
  /** Chunks asked for in one request. Default 8. */
  maxChunksPerRequest?: number;
  /** Longest wait for the next frame of a response. Default 10 s. */
  requestTimeoutMs?: number;
  /** Longest wait for the answers to the initial want. Default 2 s. */
  wantTimeoutMs?: number;
  /** A peer that timed out or failed this often is not asked again in this replication. Default 2. */
  maxTimeoutsPerPeer?: number;
  /** Pause before asking a busy peer again. Default 100 ms. */
  busyBackoffMs?: number;
  /** Every fault, as it happens: `wrong-bytes` is misbehaviour the node may act on. */
  onPeerFault?: (fault: PeerFault) => void;
}

export interface ReplicationResult {
  recordId: string;
  cid: CID;
  chunks: number;
  /** Blobs fetched from peers (manifest included) and their bytes. */
  fetchedBlobs: number;
  fetchedBytes: number;
  /** Blobs each peer served correctly. */
  servedBy: Map<PeerId, number>;
  faults: PeerFault[];
}

interface PeerLoad {
  active: number;
  bytesInFlight: number;
  busyUntil: number;
}

/** One replication's view of its candidates. */
class Run {
  readonly faults: PeerFault[] = [];
  readonly servedBy = new Map<PeerId, number>();
  readonly excluded = new Set<PeerId>();
  readonly failures = new Map<PeerId, number>();
  readonly busy = new Map<PeerId, number>();
  fetchedBlobs = 0;
  fetchedBytes = 0;
  readonly #report: ((fault: PeerFault) => void) | undefined;
  readonly #maxFailures: number;
  /** The record being replicated. */
  readonly cid: CID;
  /** Aborted when the caller gives the replication up (its node stopping). */
  readonly signal: AbortSignal | undefined;

  constructor(
    report: ((fault: PeerFault) => void) | undefined,
    maxFailures: number,
    cid: CID,
    signal?: AbortSignal,
  ) {
    this.#report = report;
    this.#maxFailures = maxFailures;
    this.cid = cid;
    this.signal = signal;
  }

  /** The error of a replication its caller gave up. */
  abandoned(): StoreError {
    return new StoreError(
      'STORE_REPLICATION_FAILED',
      `Replication of ${this.cid.toString()} was given up by its caller.`,
    );
  }

  /** Throws when the caller gave the replication up. */
  checkGoing(): void {
    if (this.signal?.aborted) throw this.abandoned();
  }

  fault(peer: PeerId, cid: CID, kind: PeerFaultKind, detail: string): void {
    const fault = { peer, cid, kind, detail };
    this.faults.push(fault);
    if (kind === 'wrong-bytes' || kind === 'not-found') this.excluded.add(peer);
    if (kind === 'timeout' || kind === 'unreachable') {
      const count = (this.failures.get(peer) ?? 0) + 1;
      this.failures.set(peer, count);
      if (count >= this.#maxFailures) this.excluded.add(peer);
    }
    if (kind === 'busy') {
      const count = (this.busy.get(peer) ?? 0) + 1;
      this.busy.set(peer, count);
      if (count >= MAX_BUSY_PER_PEER) this.excluded.add(peer);
    }
    try {
      this.#report?.(fault);
    } catch {
      // a failing observer does not stop replication
    }
  }

  served(peer: PeerId, bytes: number): void {
    this.servedBy.set(peer, (this.servedBy.get(peer) ?? 0) + 1);
    this.fetchedBlobs++;
    this.fetchedBytes += bytes;
  }
}

function timeoutError(peer: PeerId, ms: number): StoreError {
  return new StoreError('STORE_TIMEOUT', `Peer ${peer} sent nothing for ${ms} ms.`);
}

/**
 * Resolves like `promise`, or rejects with STORE_TIMEOUT after `ms`, or as abandoned as soon as the
 * run's caller gives up; either way `controller` is aborted, which ends the request.
 */
function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
  controller: AbortController,
  peer: PeerId,
  run: Run,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const settle = (done: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      run.signal?.removeEventListener('abort', giveUp);
      done();
    };
    const stop = (error: StoreError) => {
      controller.abort();
      settle(() => reject(error));
    };
    const timer = setTimeout(() => stop(timeoutError(peer, ms)), ms);
    const giveUp = () => stop(run.abandoned());
    promise.then(
      (value) => settle(() => resolve(value)),
      (error) => settle(() => reject(error)),
    );
    // The caller's signal lives long: the listener goes once this request settles.
    if (run.signal?.aborted) giveUp();
    else run.signal?.addEventListener('abort', giveUp, { once: true });
  });
}

const WRONG_BYTES = new Set(['STORE_CID_MISMATCH', 'STORE_SIZE_MISMATCH', 'STORE_TOO_LARGE']);
/** Busy answers tolerated from one peer in one replication before it is no longer asked. */
const MAX_BUSY_PER_PEER = 50;

const describeError = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** Pulls records from peers into the local store, verifying every blob on arrival. */
export class Replicator {
  readonly #store: BlobStore;
  readonly #transport: BlobTransport;
  readonly #options: Required<Omit<ReplicatorOptions, 'onPeerFault'>> &
    Pick<ReplicatorOptions, 'onPeerFault'>;
  readonly #load = new Map<PeerId, PeerLoad>();
  readonly #wakers = new Set<() => void>();

  constructor(store: BlobStore, transport: BlobTransport, options: ReplicatorOptions = {}) {
    this.#store = store;
    this.#transport = transport;
    this.#options = {
      maxConcurrentRequestsPerPeer: options.maxConcurrentRequestsPerPeer ?? 2,
      maxBytesInFlightPerPeer: options.maxBytesInFlightPerPeer ?? 8 * CHUNK_BYTES,
      maxChunksPerRequest: options.maxChunksPerRequest ?? 8,
      requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
      wantTimeoutMs: options.wantTimeoutMs ?? 2_000,
      maxTimeoutsPerPeer: options.maxTimeoutsPerPeer ?? 2,
      busyBackoffMs: options.busyBackoffMs ?? 100,
      onPeerFault: options.onPeerFault,
    };
  }

  /**
   * Makes the committed record `recordId` (record CID `recordCid`) complete on this node: pulls its
   * manifest and missing chunks from `candidates`, verifies each against its CID, stores them and
   * references the record. Refused for a record erased here (STORE_RECORD_ERASED). When `signal`
   * aborts, the requests under way end and the call rejects at once (STORE_REPLICATION_FAILED): the
   * chunks already stored stay.
   */
  async replicate(
    recordId: string,
    recordCid: CidLike,
    candidates: PeerId[],
    signal?: AbortSignal,
  ): Promise<ReplicationResult> {
    const cid = parseCid(recordCid);
    if (await this.#store.isErased(recordId)) {
      throw new StoreError(
        'STORE_RECORD_ERASED',
        `Record ${recordId} was erased on this node; not replicating it.`,
      );
    }
    const run = new Run(this.#options.onPeerFault, this.#options.maxTimeoutsPerPeer, cid, signal);
    run.checkGoing();
    let manifest = await readOrNull(() => this.#store.readManifest(cid));
    let order = [...new Set(candidates)];
    if (manifest === null || (await this.#store.missingChunks(cid)).length > 0) {
      order = await this.#rank(cid, order, run);
    }
    manifest ??= await this.#fetchManifest(cid, order, run);
    await this.#store.addReference(recordId, cid);
    const missing = await this.#store.missingChunks(cid);
    if (missing.length > 0) await this.#fetchChunks(cid, manifest, missing, order, run);
    return {
      recordId,
      cid,
      chunks: manifest.chunks.length,
      fetchedBlobs: run.fetchedBlobs,
      fetchedBytes: run.fetchedBytes,
      servedBy: run.servedBy,
      faults: run.faults,
    };
  }

  /** Asks every candidate (want) at once: holders first, then peers that did not answer in time. */
  async #rank(cid: CID, candidates: PeerId[], run: Run): Promise<PeerId[]> {
    if (candidates.length <= 1) return candidates;
    const answers = await Promise.all(
      candidates.map(async (peer) => {
        const controller = new AbortController();
        try {
          const held = await withTimeout(
            this.#transport.want(peer, [cid], controller.signal),
            this.#options.wantTimeoutMs,
            controller,
            peer,
            run,
          );
          return held.some((c) => c.equals(cid)) ? 0 : 2;
        } catch {
          return 1;
        }
      }),
    );
    return candidates
      .map((peer, i) => ({ peer, rank: answers[i]! }))
      .sort((a, b) => a.rank - b.rank)
      .map((entry) => entry.peer);
  }

  #peerLoad(peer: PeerId): PeerLoad {
    let load = this.#load.get(peer);
    if (load === undefined) {
      load = { active: 0, bytesInFlight: 0, busyUntil: 0 };
      this.#load.set(peer, load);
    }
    return load;
  }

  async #fetchManifest(cid: CID, order: PeerId[], run: Run): Promise<Manifest> {
    for (const peer of order) {
      run.checkGoing();
      if (run.excluded.has(peer)) continue;
      const load = this.#peerLoad(peer);
      load.active++;
      const controller = new AbortController();
      let bytes: Uint8Array | null = null;
      try {
        const iterator = this.#transport.fetch(peer, { cid }, controller.signal)[Symbol.asyncIterator]();
        const next = await withTimeout(
          iterator.next(),
          this.#options.requestTimeoutMs,
          controller,
          peer,
          run,
        );
        iterator.return?.()?.catch(() => {});
        if (next.done) {
          run.fault(peer, cid, 'not-found', 'the peer does not hold the manifest');
          continue;
        }
        bytes = next.value;
      } catch (error) {
        this.#transportFault(run, peer, cid, error);
        continue;
      } finally {
        controller.abort();
        load.active--;
        this.#wake();
      }
      if (bytes === null) continue;
      if (bytes.length > this.#store.limits.maxBlobBytes || !cidMatches(cid, bytes)) {
        run.fault(
          peer,
          cid,
          'wrong-bytes',
          `served ${bytes.length} bytes that do not hash to the manifest's CID`,
        );
        continue;
      }
      const manifest = decodeManifest(bytes); // the CID names these bytes: no other peer can do better
      if (manifest.size > this.#store.limits.maxRecordBytes) {
        throw new StoreError(
          'STORE_TOO_LARGE',
          `Record ${cid.toString()} is ${manifest.size} bytes, over the limit of ${this.#store.limits.maxRecordBytes}.`,
        );
      }
      await this.#store.putBlob(bytes, { cid });
      run.served(peer, bytes.length);
      return manifest;
    }
    run.checkGoing();
    throw this.#failed(cid, run, 'no candidate peer served its manifest');
  }

  #transportFault(run: Run, peer: PeerId, cid: CID, error: unknown): void {
    if (run.signal?.aborted) return; // given up here: not the peer's fault
    if (error instanceof StoreError && error.code === 'STORE_TIMEOUT') {
      run.fault(peer, cid, 'timeout', describeError(error));
    } else if (error instanceof StoreError && error.code === 'STORE_PEER_BUSY') {
      this.#peerLoad(peer).busyUntil = Date.now() + this.#options.busyBackoffMs;
      run.fault(peer, cid, 'busy', describeError(error));
    } else {
      run.fault(peer, cid, 'unreachable', describeError(error));
    }
  }

  #failed(cid: CID, run: Run, why: string): StoreError {
    const faults = run.faults.map((f) => `${f.peer}: ${f.kind}`).join(', ');
    return new StoreError(
      'STORE_REPLICATION_FAILED',
      `Cannot replicate record ${cid.toString()}: ${why}${faults ? ` (${faults})` : ''}.`,
    );
  }

  #wake(): void {
    for (const wake of this.#wakers) wake();
  }

  /** Fetches the missing chunks from the candidates in parallel, within the per-peer limits. */
  #fetchChunks(cid: CID, manifest: Manifest, missing: number[], order: PeerId[], run: Run): Promise<void> {
    const options = this.#options;
    const queue = [...missing];
    let active = 0;
    let fatal: unknown;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const sizeOf = (index: number) => manifest.chunks[index]!.size;

    const takeRange = (load: PeerLoad): number[] => {
      const free = options.maxBytesInFlightPerPeer - load.bytesInFlight;
      const first = queue[0]!;
      if (sizeOf(first) > free && load.active > 0) return [];
      const range = [first];
      let bytes = sizeOf(first);
      while (
        range.length < options.maxChunksPerRequest &&
        queue[range.length] === first + range.length &&
        bytes + sizeOf(first + range.length) <= free
      ) {
        bytes += sizeOf(first + range.length);
        range.push(first + range.length);
      }
      queue.splice(0, range.length);
      return range;
    };

    return new Promise<void>((resolve, reject) => {
      let finished = false;
      const finish = (error?: unknown) => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        this.#wakers.delete(pump);
        run.signal?.removeEventListener('abort', pump);
        if (error === undefined) resolve();
        else reject(error);
      };
      const pump = () => {
        if (finished) return;
        if (run.signal?.aborted) fatal ??= run.abandoned();
        if (fatal !== undefined && active === 0) return finish(fatal);
        if (fatal !== undefined) return;
        if (queue.length === 0 && active === 0) return finish();
        const now = Date.now();
        let waitUntil = Number.POSITIVE_INFINITY;
        let heldElsewhere = false;
        for (const peer of order) {
          if (run.excluded.has(peer)) continue;
          const load = this.#peerLoad(peer);
          if (load.busyUntil > now) {
            waitUntil = Math.min(waitUntil, load.busyUntil);
            continue;
          }
          while (
            queue.length > 0 &&
            load.active < options.maxConcurrentRequestsPerPeer &&
            load.bytesInFlight < options.maxBytesInFlightPerPeer
          ) {
            const range = takeRange(load);
            if (range.length === 0) break;
            active++;
            this.#fetchRange(cid, manifest, peer, range, run, load)
              .then(
                (leftover) => {
                  if (leftover.length > 0) {
                    queue.push(...leftover);
                    queue.sort((a, b) => a - b);
                  }
                },
                (error) => {
                  fatal ??= error;
                },
              )
              .finally(() => {
                active--;
                this.#wake();
                pump();
              });
          }
          if (queue.length > 0 && load.active > 0) heldElsewhere = true;
        }
        if (active === 0 && queue.length > 0) {
          if (waitUntil !== Number.POSITIVE_INFINITY) {
            // Waiting for a busy peer's back-off.
            clearTimeout(timer);
            timer = setTimeout(pump, Math.max(1, waitUntil - now));
          } else if (!heldElsewhere) {
            // No candidate left (capacity other replications hold comes back through #wake).
            finish(this.#failed(cid, run, `${queue.length} chunks could not be fetched from any candidate`));
          }
        }
      };
      this.#wakers.add(pump);
      run.signal?.addEventListener('abort', pump, { once: true }); // also while waiting for a busy peer
      pump();
    });
  }

  /**
   * One range request to one peer. Returns the indexes it did not deliver (to requeue); rejects only
   * when the local store fails, which no other peer can fix.
   */
  async #fetchRange(
    cid: CID,
    manifest: Manifest,
    peer: PeerId,
    indices: number[],
    run: Run,
    load: PeerLoad,
  ): Promise<number[]> {
    const sizes = indices.map((i) => manifest.chunks[i]!.size);
    let reserved = sizes.reduce((a, b) => a + b, 0);
    load.active++;
    load.bytesInFlight += reserved;
    const controller = new AbortController();
    let delivered = 0;
    let iterator: AsyncIterator<Uint8Array> | undefined;
    try {
      iterator = this.#transport
        .fetch(peer, { cid, range: { first: indices[0]!, count: indices.length } }, controller.signal)
        [Symbol.asyncIterator]();
      while (delivered < indices.length) {
        const chunk = manifest.chunks[indices[delivered]!]!;
        let next: IteratorResult<Uint8Array>;
        try {
          next = await withTimeout(iterator.next(), this.#options.requestTimeoutMs, controller, peer, run);
        } catch (error) {
          this.#transportFault(run, peer, chunk.cid, error);
          break;
        }
        if (next.done) {
          run.fault(peer, chunk.cid, 'not-found', `the peer does not hold chunk ${indices[delivered]}`);
          break;
        }
        load.bytesInFlight -= sizes[delivered]!;
        reserved -= sizes[delivered]!;
        const bytes = next.value;
        try {
          // putBlob hashes the bytes once and refuses them unless they match the CID and size.
          await this.#store.putBlob(bytes, { cid: chunk.cid, size: chunk.size });
        } catch (error) {
          if (!(error instanceof StoreError && WRONG_BYTES.has(error.code))) throw error;
          run.fault(
            peer,
            chunk.cid,
            'wrong-bytes',
            `served ${bytes.length} bytes for chunk ${indices[delivered]} that do not match its CID`,
          );
          break;
        }
        run.served(peer, bytes.length);
        delivered++;
      }
    } finally {
      controller.abort();
      iterator?.return?.()?.catch(() => {});
      load.bytesInFlight -= reserved;
      load.active--;
    }
    return indices.slice(delivered);
  }
}
