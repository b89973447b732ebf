/**
 * Replication over an in-memory transport that uses the real wire encoding: nodes pull a committed
 * record from peers, verify every CID on arrival, skip a peer that serves wrong bytes (and report
 * it), time out slow or silent peers, and store only verified blobs.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bytesEqual, concatBytes } from '../src/bytes.ts';
import { generateEncryptionKeyPair, randomBytes } from '../src/crypto/index.ts';
import {
  BlobService,
  type BlobServiceOptions,
  BlobStore,
  CHUNK_BYTES,
  cidOf,
  decodeBlobRequest,
  decodeBlobResponse,
  decryptRecord,
  encodeBlobRequest,
  encodeBlobResponse,
  encryptRecord,
  MemoryNetwork,
  type MemoryPeerBehaviour,
  type PeerFault,
  Replicator,
  type ReplicatorOptions,
  recordContext,
} from '../src/store/index.ts';

let dir: string;
const stores: BlobStore[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'medledger-replication-'));
});

afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
  await rm(dir, { recursive: true, force: true });
});

async function collect(source: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const part of source) parts.push(part);
  return concatBytes(parts);
}

async function codeOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return (error as { code?: unknown }).code;
  }
  return 'did not throw';
}

/** A network of nodes, each with its own store and service; `holders` get the record. */
async function setup(
  peers: Record<string, MemoryPeerBehaviour & { holds?: boolean }>,
  chunks = 5,
  serviceOptions: BlobServiceOptions = {},
) {
  const network = new MemoryNetwork();
  const nodes: Record<string, { store: BlobStore; service: BlobService }> = {};
  const patient = generateEncryptionKeyPair();
  const custodian = generateEncryptionKeyPair();
  const context = recordContext('chain', 'rec-1');
  const plaintext = randomBytes(chunks * CHUNK_BYTES - 5000);
  const encrypted = encryptRecord(
    [plaintext],
    { patient: patient.publicKey, custodian: custodian.publicKey },
    context,
  );
  const ciphertext = await collect(encrypted.ciphertext);
  const all: Record<string, MemoryPeerBehaviour & { holds?: boolean }> = {
    ...peers,
    local: { holds: false },
  };
  for (const [name, { holds: _, ...behaviour }] of Object.entries(all)) {
    const store = await BlobStore.open(join(dir, name));
    stores.push(store);
    const service = new BlobService(store, serviceOptions);
    nodes[name] = { store, service };
    network.add(name, service, behaviour);
  }
  let recordCid = cidOf(new Uint8Array(0));
  for (const [name, { holds }] of Object.entries(peers)) {
    if (holds === false) continue;
    const put = await nodes[name]!.store.putRecord([ciphertext]);
    await nodes[name]!.store.addReference('rec-1', put.cid);
    recordCid = put.cid;
  }
  const faults: PeerFault[] = [];
  const replicator = (options: ReplicatorOptions = {}) =>
    new Replicator(nodes.local!.store, network.transport('local'), {
      requestTimeoutMs: 300,
      wantTimeoutMs: 300,
      onPeerFault: (fault) => faults.push(fault),
      ...options,
    });
  const readBack = async () =>
    collect(
      decryptRecord(nodes.local!.store.readRecord(recordCid), {
        secretKey: patient.secretKey,
        envelope: encrypted.envelopes.patient,
        context,
        expectedPlaintextSha256: encrypted.summary().plaintextSha256,
      }),
    );
  return { network, nodes, recordCid, faults, replicator, readBack, plaintext };
}

/** Flips a byte of the chunk at `position` of every range response (or of the manifest). */
const lieAbout =
  (target: 'manifest' | 'chunks'): MemoryPeerBehaviour['tamper'] =>
  (bytes, request, position) => {
    const isManifest = request.range === undefined;
    if ((target === 'manifest') !== isManifest || position !== 0) return bytes;
    const copy = Uint8Array.from(bytes);
    copy[copy.length >> 1]! ^= 0xff;
    return copy;
  };

describe('replication', () => {
  it('pulls a record from an honest peer, verified, and the reader decrypts it', async () => {
    const { nodes, recordCid, replicator, readBack, plaintext, faults } = await setup({ good: {} });
    const result = await replicator().replicate('rec-1', recordCid, ['good']);
    expect(result.chunks).toBe(5);
    expect(result.fetchedBlobs).toBe(6); // manifest and five chunks
    expect(faults).toEqual([]);
    expect(await nodes.local!.store.hasRecord(recordCid)).toBe(true);
    expect(await nodes.local!.store.recordCid('rec-1')).toEqual(recordCid);
    expect(bytesEqual(await readBack(), plaintext)).toBe(true);
    // Replicating again fetches nothing.
    const again = await replicator().replicate('rec-1', recordCid, ['good']);
    expect(again.fetchedBlobs).toBe(0);
  });

  it('rejects a peer that serves wrong chunk bytes, reports it, and uses the good peer', async () => {
    const { network, nodes, recordCid, replicator, readBack, plaintext, faults } = await setup({
      liar: { tamper: lieAbout('chunks') },
      good: {},
    });
    // The liar answers `want` first in line: it holds the record (it just lies when serving it).
    const result = await replicator({ maxChunksPerRequest: 2 }).replicate('rec-1', recordCid, [
      'liar',
      'good',
    ]);
    const wrong = faults.filter((f) => f.kind === 'wrong-bytes');
    // Each request in flight to the liar (two, by the per-peer limit) is caught; then it is not asked again.
    expect(wrong.length).toBeGreaterThanOrEqual(1);
    expect(wrong.length).toBeLessThanOrEqual(2);
    expect(wrong.every((f) => f.peer === 'liar')).toBe(true);
    expect(result.faults).toEqual(faults);
    expect(result.servedBy.get('good')).toBeGreaterThan(0);
    expect(network.received.get('liar')!.fetch).toBeGreaterThan(0);
    // Only verified bytes were stored: the record reads back and decrypts.
    expect(await nodes.local!.store.hasRecord(recordCid)).toBe(true);
    expect(bytesEqual(await readBack(), plaintext)).toBe(true);
  });

  it('rejects a peer that serves a wrong manifest and takes it from the next one', async () => {
    const { recordCid, replicator, readBack, plaintext, faults } = await setup({
      liar: { tamper: lieAbout('manifest') },
      good: {},
    });
    await replicator().replicate('rec-1', recordCid, ['liar', 'good']);
    expect(faults.map((f) => [f.peer, f.kind])).toEqual([['liar', 'wrong-bytes']]);
    expect(bytesEqual(await readBack(), plaintext)).toBe(true);
  });

  it('gives up on a slow peer after the timeout and on an absent one, and uses the good peer', async () => {
    const { recordCid, replicator, readBack, plaintext, faults } = await setup({
      slow: { delayMs: 5_000 },
      silent: { silent: true },
      down: { down: true },
      good: {},
    });
    const start = performance.now();
    await replicator({ maxTimeoutsPerPeer: 1 }).replicate('rec-1', recordCid, [
      'slow',
      'silent',
      'down',
      'good',
    ]);
    expect(performance.now() - start).toBeLessThan(4_000);
    expect(bytesEqual(await readBack(), plaintext)).toBe(true);
    const byPeer = new Map(faults.map((f) => [f.peer, f.kind]));
    expect(byPeer.get('good')).toBeUndefined();
  });

  it('a replication its caller gives up ends at once and blames no peer', async () => {
    // Only silent peers: without the signal the call would wait a minute per peer.
    const { recordCid, replicator, faults, nodes } = await setup({
      held: { delayMs: 60_000 },
      silent: { silent: true },
    });
    const node = replicator({ requestTimeoutMs: 60_000, wantTimeoutMs: 60_000 });
    const caller = new AbortController();
    const run = node.replicate('rec-1', recordCid, ['held', 'silent'], caller.signal);
    await new Promise((resolve) => setTimeout(resolve, 50));
    caller.abort();
    expect(await codeOf(run)).toBe('STORE_REPLICATION_FAILED');
    expect(faults).toEqual([]);
    // Given up before it started, it asks no peer.
    expect(await codeOf(node.replicate('rec-1', recordCid, ['held'], caller.signal))).toBe(
      'STORE_REPLICATION_FAILED',
    );
    expect(await nodes.local!.store.hasRecord(recordCid)).toBe(false);
  });

  it('spreads chunk requests over several honest peers within the per-peer limits', async () => {
    const { recordCid, replicator, readBack, plaintext } = await setup({ a: {}, b: {}, c: {} }, 12);
    const result = await replicator({
      maxChunksPerRequest: 1,
      maxConcurrentRequestsPerPeer: 1,
      maxBytesInFlightPerPeer: CHUNK_BYTES,
    }).replicate('rec-1', recordCid, ['a', 'b', 'c']);
    expect(result.servedBy.size).toBeGreaterThan(1);
    expect([...result.servedBy.values()].reduce((a, b) => a + b, 0)).toBe(13);
    expect(bytesEqual(await readBack(), plaintext)).toBe(true);
  });

  it('fails with STORE_REPLICATION_FAILED when every candidate lies or is missing, storing nothing bad', async () => {
    const { nodes, recordCid, replicator, faults } = await setup({
      liar: { tamper: lieAbout('chunks') },
      empty: { holds: false },
    });
    expect(await codeOf(replicator().replicate('rec-1', recordCid, ['liar', 'empty']))).toBe(
      'STORE_REPLICATION_FAILED',
    );
    expect(faults.some((f) => f.peer === 'liar' && f.kind === 'wrong-bytes')).toBe(true);
    expect(await nodes.local!.store.hasRecord(recordCid)).toBe(false);
    // The manifest (which the liar served correctly) is kept; no chunk came from the liar.
    expect(await nodes.local!.store.missingChunks(recordCid)).toEqual([0, 1, 2, 3, 4]);
  });

  it('a retry fetches only the missing chunks', async () => {
    const { network, nodes, recordCid, replicator } = await setup({ good: {} });
    network.setBehaviour('good', { tamper: lieAbout('chunks') });
    expect(await codeOf(replicator({ maxChunksPerRequest: 5 }).replicate('rec-1', recordCid, ['good']))).toBe(
      'STORE_REPLICATION_FAILED',
    );
    const missing = await nodes.local!.store.missingChunks(recordCid);
    expect(missing.length).toBe(5);
    network.setBehaviour('good', {});
    const result = await replicator().replicate('rec-1', recordCid, ['good']);
    expect(result.fetchedBlobs).toBe(5); // the manifest was already here
    expect(await nodes.local!.store.hasRecord(recordCid)).toBe(true);
  });

  it("backs off when a peer's per-peer limit answers busy, and still completes", async () => {
    const { recordCid, replicator, readBack, plaintext, faults } = await setup({ good: {} }, 6, {
      maxConcurrentRequestsPerPeer: 1,
      busyRetryAfterMs: 10,
    });
    await replicator({
      maxConcurrentRequestsPerPeer: 3,
      maxChunksPerRequest: 1,
      busyBackoffMs: 10,
    }).replicate('rec-1', recordCid, ['good']);
    expect(faults.some((f) => f.kind === 'busy')).toBe(true);
    expect(faults.every((f) => f.kind === 'busy')).toBe(true);
    expect(bytesEqual(await readBack(), plaintext)).toBe(true);
  });

  it('a chunk found corrupted on disk is reported, and replication fetches a good copy of just that chunk', async () => {
    const { nodes, recordCid, replicator, readBack, plaintext } = await setup({ good: {} });
    const local = nodes.local!.store;
    await replicator().replicate('rec-1', recordCid, ['good']);
    const bad = (await local.readManifest(recordCid)).chunks[3]!;
    const { readFile, writeFile } = await import('node:fs/promises');
    const bytes = await readFile(local.pathOf(bad.cid));
    bytes[0]! ^= 1;
    await writeFile(local.pathOf(bad.cid), bytes);
    // The node's wiring: a corruption report triggers a re-replication of the record.
    const repaired = new Promise<number>((resolve, reject) => {
      local.onCorrupt(() => {
        replicator()
          .replicate('rec-1', recordCid, ['good'])
          .then((result) => resolve(result.fetchedBlobs), reject);
      });
    });
    expect(await codeOf(readBack())).toBe('STORE_CORRUPT_CHUNK');
    expect(await repaired).toBe(1);
    expect(bytesEqual(await readBack(), plaintext)).toBe(true);
  });

  it('refuses to replicate a record erased on this node', async () => {
    const { nodes, recordCid, replicator } = await setup({ good: {} });
    await nodes.local!.store.erase('rec-1');
    expect(await codeOf(replicator().replicate('rec-1', recordCid, ['good']))).toBe('STORE_RECORD_ERASED');
  });
});

describe('replication wire protocol and service', () => {
  it('encodes every message canonically and round-trips it', () => {
    const cid = cidOf(randomBytes(10));
    const requests = [
      { kind: 'want' as const, cids: [cid.bytes] },
      { kind: 'have' as const, cids: [cid.bytes, cid.bytes] },
      { kind: 'fetch' as const, cid: cid.bytes, first: 3, count: 4 },
    ];
    for (const request of requests) expect(decodeBlobRequest(encodeBlobRequest(request))).toEqual(request);
    const responses = [
      { kind: 'have' as const, cids: [] },
      { kind: 'block' as const, bytes: randomBytes(CHUNK_BYTES) },
      { kind: 'notFound' as const, cid: cid.bytes },
      { kind: 'busy' as const, retryAfterMs: 100 },
      { kind: 'error' as const, code: 'STORE_BAD_REQUEST', message: 'no' },
    ];
    for (const response of responses)
      expect(decodeBlobResponse(encodeBlobResponse(response))).toEqual(response);
    expect(() =>
      decodeBlobResponse(encodeBlobResponse({ kind: 'block', bytes: randomBytes(10) }).subarray(1)),
    ).toThrow();
  });

  it('answers want with complete records only, serves ranges, and enforces per-peer limits', async () => {
    const store = await BlobStore.open(join(dir, 'server'));
    stores.push(store);
    const service = new BlobService(store, { maxConcurrentRequestsPerPeer: 1, maxChunksPerRequest: 2 });
    const put = await store.putRecord([randomBytes(3 * CHUNK_BYTES)]);
    expect(await service.have([put.cid, cidOf(randomBytes(4))])).toEqual([put.cid]);
    const manifest = await store.readManifest(put.cid);
    const range = await collect(service.serve('p', { cid: put.cid, range: { first: 1, count: 2 } }));
    expect(range.length).toBe(2 * CHUNK_BYTES);
    expect(await codeOf(collect(service.serve('p', { cid: put.cid, range: { first: 0, count: 3 } })))).toBe(
      'STORE_BAD_REQUEST',
    );
    // A second concurrent request from the same peer is refused; another peer is served.
    const open = service.serve('p', { cid: put.cid, range: { first: 0, count: 2 } });
    await open.next();
    expect(await codeOf(collect(service.serve('p', { cid: manifest.chunks[0]!.cid })))).toBe(
      'STORE_PEER_BUSY',
    );
    expect((await collect(service.serve('q', { cid: manifest.chunks[0]!.cid }))).length).toBe(CHUNK_BYTES);
    await open.return(undefined);
    expect((await collect(service.serve('p', { cid: manifest.chunks[0]!.cid }))).length).toBe(CHUNK_BYTES);
    // Over the wire: busy and malformed requests get typed answers.
    const frames: Uint8Array[] = [];
    for await (const frame of service.serveFrames('p', new Uint8Array([1, 2, 3]))) frames.push(frame);
    expect(decodeBlobResponse(frames[0]!)).toMatchObject({ kind: 'error', code: 'STORE_BAD_REQUEST' });
    // A missing chunk ends a range with notFound.
    await store.erase('x', put.cid);
    const missing: Uint8Array[] = [];
    for await (const frame of service.serveFrames(
      'p',
      encodeBlobRequest({ kind: 'fetch', cid: put.cid.bytes, first: 0, count: 1 }),
    )) {
      missing.push(frame);
    }
    expect(decodeBlobResponse(missing.at(-1)!).kind).toBe('notFound');
  });

  it('records have announcements as replication candidates', async () => {
    const network = new MemoryNetwork();
    const store = await BlobStore.open(join(dir, 'announce'));
    stores.push(store);
    const service = new BlobService(store);
    network.add('server', service);
    const cid = cidOf(randomBytes(3));
    await network.transport('client').announce!('server', [cid], new AbortController().signal);
    expect(service.holders(cid)).toEqual(['client']);
  });
});
