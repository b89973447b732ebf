/**
 * The on-disk blob store: CIDs, chunking under a manifest, atomic writes (a crash leaves nothing
 * visible), verified reads (corruption detected, quarantined and reported), limits, declared CID
 * and size checks, references, erasure and gc.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bytesEqual, concatBytes } from '../src/bytes.ts';
import { generateEncryptionKeyPair, randomBytes } from '../src/crypto/index.ts';
import {
  BlobStore,
  type BlobStoreOptions,
  CHUNK_BYTES,
  type CorruptionReport,
  cidOf,
  decryptRecord,
  encryptRecord,
  parseCid,
  recordContext,
} from '../src/store/index.ts';

let dir: string;
const stores: BlobStore[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'medledger-blobstore-'));
});

afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
  await rm(dir, { recursive: true, force: true });
});

async function openStore(options: BlobStoreOptions = {}, path = join(dir, 'store')): Promise<BlobStore> {
  const store = await BlobStore.open(path, options);
  stores.push(store);
  return store;
}

async function reopen(store: BlobStore, options: BlobStoreOptions = {}): Promise<BlobStore> {
  await store.close();
  stores.splice(stores.indexOf(store), 1);
  return openStore(options, store.dir);
}

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

/** Every blob file under the store, as CID strings, and any temporary files. */
async function filesOnDisk(store: BlobStore): Promise<{ blobs: string[]; temps: string[] }> {
  const blobs: string[] = [];
  const temps: string[] = [];
  const root = join(store.dir, 'blobs');
  for (const shard of await readdir(root)) {
    for (const name of await readdir(join(root, shard)))
      (name.startsWith('.tmp-') ? temps : blobs).push(name);
  }
  return { blobs: blobs.sort(), temps };
}

const sha256hex = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

describe('blobs and CIDs', () => {
  it('names blobs by CIDv1 raw sha2-256 in base32 and stores them under flatfs next-to-last/2 shards', async () => {
    const store = await openStore();
    const bytes = new TextEncoder().encode('hello world');
    const cid = await store.putBlob(bytes);
    // The CID any IPFS implementation gives these bytes with --raw-leaves --cid-version 1.
    expect(cid.toString()).toBe('bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e');
    expect(cid.bytes.length).toBe(36);
    expect(store.pathOf(cid)).toBe(join(store.dir, 'blobs', 'n5', cid.toString()));
    expect(await readFile(store.pathOf(cid))).toEqual(Buffer.from(bytes));
    expect(await store.getBlob(cid)).toEqual(bytes);
    expect(await store.getBlob(cid.toString())).toEqual(bytes);
    expect(await store.has(cid)).toBe(true);
    expect(await store.putBlob(bytes)).toEqual(cid); // idempotent
  });

  it('refuses other kinds of CIDs and unknown blobs with typed errors', async () => {
    const store = await openStore();
    expect(() => parseCid('QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG')).toThrow(
      expect.objectContaining({ code: 'STORE_BAD_CID' }),
    );
    expect(() => parseCid('not a cid')).toThrow(expect.objectContaining({ code: 'STORE_BAD_CID' }));
    expect(await codeOf(store.getBlob(cidOf(randomBytes(10))))).toBe('STORE_NOT_FOUND');
  });

  it('refuses an upload that does not match its declared CID or size, or is over the limit', async () => {
    const store = await openStore();
    const bytes = randomBytes(1000);
    const other = cidOf(randomBytes(1000));
    expect(await codeOf(store.putBlob(bytes, { cid: other }))).toBe('STORE_CID_MISMATCH');
    expect(await codeOf(store.putBlob(bytes, { size: 999 }))).toBe('STORE_SIZE_MISMATCH');
    expect(await codeOf(store.putBlob(randomBytes(CHUNK_BYTES + 1)))).toBe('STORE_TOO_LARGE');
    expect(await store.has(cidOf(bytes))).toBe(false);
    expect(await store.putBlob(bytes, { cid: cidOf(bytes), size: 1000 })).toEqual(cidOf(bytes));
  });

  it('refuses invalid options', async () => {
    expect(await codeOf(openStore({ maxBlobBytes: 1000 }))).toBe('STORE_CONFIG');
    expect(await codeOf(openStore({ maxRecordBytes: 2 ** 40 }))).toBe('STORE_CONFIG');
  });
});

describe('records: chunks under a manifest', () => {
  it('stores a multi-chunk record as 1 MiB chunks plus a manifest, and reads it back verified', async () => {
    const store = await openStore();
    const data = randomBytes(3 * CHUNK_BYTES + 5000);
    const put = await store.putRecord([data.subarray(0, 1000), data.subarray(1000)]);
    expect(put).toMatchObject({ size: data.length, chunks: 4, newChunks: 4 });
    const manifest = await store.readManifest(put.cid);
    expect(manifest.size).toBe(data.length);
    expect(manifest.chunks.map((c) => c.size)).toEqual([CHUNK_BYTES, CHUNK_BYTES, CHUNK_BYTES, 5000]);
    expect(manifest.chunks[0]!.cid).toEqual(cidOf(data.subarray(0, CHUNK_BYTES)));
    expect(bytesEqual(await collect(store.readRecord(put.cid)), data)).toBe(true);
    // A range of chunks.
    const middle = await collect(store.readRecord(put.cid, { first: 1, count: 2 }));
    expect(bytesEqual(middle, data.subarray(CHUNK_BYTES, 3 * CHUNK_BYTES))).toBe(true);
    // Five files: four chunks and the manifest; no temporary file left.
    const files = await filesOnDisk(store);
    expect(files.blobs.length).toBe(5);
    expect(files.temps).toEqual([]);
    // Chunking is canonical: the same bytes in other pieces give the same record CID, no new chunk.
    const again = await store.putRecord([data]);
    expect(again.cid).toEqual(put.cid);
    expect(again.newChunks).toBe(0);
    expect(await store.hasRecord(put.cid)).toBe(true);
  });

  it('gives the same record CID whatever pieces the bytes arrive in', async () => {
    const store = await openStore();
    const data = randomBytes(2 * CHUNK_BYTES + 3);
    const whole = await store.putRecord([data]);
    const cut = (size: number) =>
      Array.from({ length: Math.ceil(data.length / size) }, (_, i) =>
        data.subarray(i * size, (i + 1) * size),
      );
    for (const size of [1000, 65536, CHUNK_BYTES - 1, CHUNK_BYTES + 1]) {
      await store.erase(`r${size}`, whole.cid); // start from an empty store each time
      const put = await store.putRecord(cut(size));
      expect(put.cid).toEqual(whole.cid);
      expect(bytesEqual(await collect(store.readRecord(put.cid)), data)).toBe(true);
    }
  });

  it('stores an empty record and a one-chunk record', async () => {
    const store = await openStore();
    const empty = await store.putRecord([]);
    expect(empty).toMatchObject({ size: 0, chunks: 0 });
    expect((await collect(store.readRecord(empty.cid))).length).toBe(0);
    const small = await store.putRecord([randomBytes(10)]);
    expect(small.chunks).toBe(1);
  });

  it('a chunk CID is not a record: STORE_BAD_MANIFEST', async () => {
    const store = await openStore();
    const put = await store.putRecord([randomBytes(2 * CHUNK_BYTES)]);
    const chunk = (await store.readManifest(put.cid)).chunks[0]!.cid;
    expect(await codeOf(collect(store.readRecord(chunk)))).toBe('STORE_BAD_MANIFEST');
  });

  it('round-trips an encrypted record through the store', async () => {
    const store = await openStore();
    const patient = generateEncryptionKeyPair();
    const custodian = generateEncryptionKeyPair();
    const context = recordContext('chain', 'r1');
    const plaintext = randomBytes(2 * CHUNK_BYTES + 99);
    const encrypted = encryptRecord(
      [plaintext],
      { patient: patient.publicKey, custodian: custodian.publicKey },
      context,
    );
    const put = await store.putRecord(encrypted.ciphertext);
    expect(put.size).toBe(encrypted.summary().ciphertextBytes);
    const out = await collect(
      decryptRecord(store.readRecord(put.cid), {
        secretKey: custodian.secretKey,
        envelope: encrypted.envelopes.custodian,
        context,
        expectedPlaintextSha256: encrypted.summary().plaintextSha256,
      }),
    );
    expect(sha256hex(out)).toBe(sha256hex(plaintext));
  });

  it('refuses a record over the limit, or not matching its declared size or CID, and removes its chunks', async () => {
    const store = await openStore({ maxRecordBytes: 2 * CHUNK_BYTES });
    const data = randomBytes(3 * CHUNK_BYTES);
    expect(await codeOf(store.putRecord([data]))).toBe('STORE_TOO_LARGE');
    expect(await codeOf(store.putRecord([data.subarray(0, 1000)], { size: 5 * CHUNK_BYTES }))).toBe(
      'STORE_TOO_LARGE',
    );
    expect(await codeOf(store.putRecord([data.subarray(0, CHUNK_BYTES + 10)], { size: CHUNK_BYTES }))).toBe(
      'STORE_SIZE_MISMATCH',
    );
    expect(await codeOf(store.putRecord([data.subarray(0, 1000)], { size: 2000 }))).toBe(
      'STORE_SIZE_MISMATCH',
    );
    const declared = cidOf(randomBytes(50));
    expect(await codeOf(store.putRecord([data.subarray(0, CHUNK_BYTES + 10)], { cid: declared }))).toBe(
      'STORE_CID_MISMATCH',
    );
    expect((await filesOnDisk(store)).blobs).toEqual([]);
    // A stream that stops early does not write past the limit.
    let produced = 0;
    async function* endless() {
      for (;;) {
        produced += CHUNK_BYTES;
        yield randomBytes(CHUNK_BYTES);
      }
    }
    expect(await codeOf(store.putRecord(endless()))).toBe('STORE_TOO_LARGE');
    expect(produced).toBeLessThanOrEqual(4 * CHUNK_BYTES);
    expect((await filesOnDisk(store)).blobs).toEqual([]);
  });
});

describe('verified reads', () => {
  it('detects a corrupted chunk on read, refuses it, quarantines it and reports it', async () => {
    const reports: CorruptionReport[] = [];
    const store = await openStore({ onCorrupt: (report) => reports.push(report) });
    const data = randomBytes(3 * CHUNK_BYTES);
    const put = await store.putRecord([data]);
    const bad = (await store.readManifest(put.cid)).chunks[1]!.cid;
    const path = store.pathOf(bad);
    const onDisk = await readFile(path);
    onDisk[12345]! ^= 0x40; // one flipped bit
    await writeFile(path, onDisk);

    const received: Uint8Array[] = [];
    let error: unknown;
    try {
      for await (const chunk of store.readRecord(put.cid)) received.push(chunk);
    } catch (caught) {
      error = caught;
    }
    expect(error).toMatchObject({ code: 'STORE_CORRUPT_CHUNK' });
    expect((error as Error).message).toContain(bad.toString());
    expect(received.length).toBe(1); // the good chunk before it, never the bad one
    expect(reports.length).toBe(1);
    expect(reports[0]!.cid).toEqual(bad);
    expect(reports[0]!.quarantinedTo).not.toBeNull();
    expect(await stat(reports[0]!.quarantinedTo!)).toBeTruthy();
    // It is gone from the store, so the node can fetch a good copy and the record is whole again.
    expect(await store.has(bad)).toBe(false);
    expect(await store.hasRecord(put.cid)).toBe(false);
    expect(await store.missingChunks(put.cid)).toEqual([1]);
    await store.putBlob(data.subarray(CHUNK_BYTES, 2 * CHUNK_BYTES), { cid: bad });
    expect(bytesEqual(await collect(store.readRecord(put.cid)), data)).toBe(true);
  });

  it('detects a truncated or swapped blob file', async () => {
    const reports: CorruptionReport[] = [];
    const store = await openStore();
    store.onCorrupt((report) => reports.push(report));
    const a = await store.putBlob(randomBytes(5000));
    const b = await store.putBlob(randomBytes(5000));
    await writeFile(store.pathOf(a), (await readFile(store.pathOf(a))).subarray(0, 4000));
    await writeFile(store.pathOf(b), await readFile(join(dirname(store.pathOf(a)), a.toString())));
    expect(await codeOf(store.getBlob(a))).toBe('STORE_CORRUPT_CHUNK');
    expect(await codeOf(store.getBlob(b))).toBe('STORE_CORRUPT_CHUNK');
    expect(reports.map((r) => r.cid.toString()).sort()).toEqual([a.toString(), b.toString()].sort());
  });
});

describe('atomic writes', () => {
  it('an interrupted write (temporary file left behind) is invisible, and removed on restart', async () => {
    const store = await openStore();
    const bytes = randomBytes(4096);
    const cid = cidOf(bytes);
    const path = store.pathOf(cid);
    // What a crash between write and rename leaves: a partial temporary file next to the target.
    await mkdir(dirname(path), { recursive: true });
    const temp = join(dirname(path), `.tmp-${cid.toString()}-deadbeef0000`);
    await writeFile(temp, bytes.subarray(0, 1000));
    expect(await store.has(cid)).toBe(false);
    expect(await codeOf(store.getBlob(cid))).toBe('STORE_NOT_FOUND');
    const reopened = await reopen(store);
    expect((await filesOnDisk(reopened)).temps).toEqual([]);
    expect(await reopened.has(cid)).toBe(false);
    await reopened.putBlob(bytes);
    expect(await reopened.getBlob(cid)).toEqual(bytes);
  });

  it('a process killed (SIGKILL) while storing records leaves only whole, verifiable blobs', async () => {
    const path = join(dir, 'killed');
    const script = `
      import { BlobStore } from ${JSON.stringify(new URL('../src/store/index.ts', import.meta.url).href)};
      import { randomBytes } from 'node:crypto';
      const store = await BlobStore.open(${JSON.stringify(path)});
      for (let i = 0; ; i++) {
        const put = await store.putRecord([randomBytes(3 * 1024 * 1024 + 17)]);
        process.stdout.write('stored ' + put.cid.toString() + '\\n');
      }
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const acknowledged: string[] = [];
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (data: Buffer) => {
        for (const match of data.toString().matchAll(/stored (\S+)/g)) acknowledged.push(match[1]!);
        if (acknowledged.length >= 3) {
          // Kill it mid-write of a later record.
          setTimeout(() => child.kill('SIGKILL'), 7);
          resolve();
        }
      });
      child.on('exit', (code) =>
        code === 0 || code === null ? undefined : reject(new Error(`exit ${code}`)),
      );
    });
    await new Promise((resolve) => child.once('close', resolve));
    const store = await openStore({}, path);
    const { blobs, temps } = await filesOnDisk(store);
    expect(temps).toEqual([]);
    for (const name of blobs) await store.getBlob(name); // every visible blob verifies
    for (const cid of acknowledged) expect(await store.hasRecord(cid)).toBe(true);
  });
});

describe('references, erasure and gc', () => {
  async function twoRecordsSharingAChunk(store: BlobStore) {
    const shared = randomBytes(CHUNK_BYTES);
    const onlyA = randomBytes(CHUNK_BYTES + 10);
    const onlyB = randomBytes(500);
    const a = await store.putRecord([shared, onlyA]);
    const b = await store.putRecord([shared, onlyB]);
    await store.addReference('record-A', a.cid);
    await store.addReference('record-B', b.cid);
    return { a, b, sharedCid: cidOf(shared) };
  }

  it("erasure deletes the record's manifest and chunks from disk, but keeps a blob another live record uses", async () => {
    const store = await openStore();
    const { a, b, sharedCid } = await twoRecordsSharingAChunk(store);
    const aBlobs = [a.cid, ...(await store.readManifest(a.cid)).chunks.map((c) => c.cid)];
    const envelopeKey = generateEncryptionKeyPair().publicKey;
    await store.putEnvelope('record-A', envelopeKey, randomBytes(80));
    expect(await store.getEnvelope('record-A', envelopeKey)).toBeDefined();

    const result = await store.erase('record-A', a.cid);
    expect(result.kept.map(String)).toEqual([sharedCid.toString()]);
    expect(result.deleted.map(String).sort()).toEqual(
      aBlobs
        .filter((cid) => !cid.equals(sharedCid))
        .map(String)
        .sort(),
    );
    for (const cid of aBlobs) {
      const onDisk = await stat(store.pathOf(cid)).then(
        () => true,
        () => false,
      );
      expect(onDisk).toBe(cid.equals(sharedCid));
    }
    expect((await filesOnDisk(store)).blobs).not.toContain(a.cid.toString());
    expect(await store.getEnvelope('record-A', envelopeKey)).toBeUndefined();
    expect(await store.hasRecord(b.cid)).toBe(true);
    expect(await store.isErased('record-A')).toBe(true);
    // The erased record is never taken again; its envelopes neither.
    expect(await codeOf(store.addReference('record-A', b.cid))).toBe('STORE_RECORD_ERASED');
    expect(await codeOf(store.putEnvelope('record-A', envelopeKey, randomBytes(80)))).toBe(
      'STORE_RECORD_ERASED',
    );

    // Erasing the second record removes the shared chunk too; nothing is left.
    const second = await store.erase('record-B', b.cid);
    expect(second.kept).toEqual([]);
    expect((await filesOnDisk(store)).blobs).toEqual([]);
  });

  it('references survive a restart (persisted in the index)', async () => {
    const store = await openStore();
    const { a, sharedCid } = await twoRecordsSharingAChunk(store);
    const reopened = await reopen(store);
    expect(await reopened.recordCid('record-A')).toEqual(a.cid);
    await reopened.erase('record-A');
    expect(await reopened.has(sharedCid)).toBe(true);
    expect(await reopened.has(a.cid)).toBe(false);
  });

  it('gc removes unreferenced blobs older than the grace period and keeps referenced ones', async () => {
    const store = await openStore();
    const { a, b } = await twoRecordsSharingAChunk(store);
    const orphan = await store.putRecord([randomBytes(CHUNK_BYTES + 1)]); // uploaded, never committed
    const fresh = await store.gc();
    expect(fresh.deleted).toEqual([]); // within the default 24 h grace
    const old = await store.gc({ now: Date.now() + 25 * 60 * 60 * 1000 });
    expect(old.deleted.length).toBe(3); // orphan manifest and its two chunks
    expect(await store.has(orphan.cid)).toBe(false);
    expect(await store.hasRecord(a.cid)).toBe(true);
    expect(await store.hasRecord(b.cid)).toBe(true);
  });

  it('an erasure interrupted after its index batch is finished on the next open', async () => {
    const store = await openStore();
    const { a } = await twoRecordsSharingAChunk(store);
    const chunkPaths = (await store.readManifest(a.cid)).chunks.map((c) => store.pathOf(c.cid));
    // Simulate the crash: the index says "erased, delete these" but the files are still there.
    const index = (store as unknown as { dir: string }).dir;
    await store.close();
    stores.splice(stores.indexOf(store), 1);
    const { Level } = await import('level');
    const db = new Level<string, Uint8Array>(join(index, 'index'), {
      keyEncoding: 'utf8',
      valueEncoding: 'view',
    });
    const aBlobs = new Uint8Array((await db.get(`r\u0000record-A`))!);
    const ops: { type: 'put' | 'del'; key: string; value?: Uint8Array }[] = [
      { type: 'del', key: 'r\u0000record-A' },
    ];
    for (let i = 0; i < aBlobs.length; i += 36) {
      const cid = parseCid(aBlobs.slice(i, i + 36)).toString();
      ops.push({ type: 'del', key: `c\u0000${cid}\u0000record-A` });
      ops.push({ type: 'put', key: `d\u0000${cid}`, value: new Uint8Array(0) });
    }
    ops.push({ type: 'put', key: 't\u0000record-A', value: new Uint8Array(8) });
    await db.batch(ops as never);
    await db.close();
    const reopened = await openStore({}, index);
    expect(await reopened.has(a.cid)).toBe(false);
    const stillThere = await Promise.all(
      chunkPaths.map((p) =>
        stat(p).then(
          () => true,
          () => false,
        ),
      ),
    );
    expect(stillThere).toEqual([true, false, false]); // the shared chunk stays, A's own chunks are gone
  });

  it('gc never deletes a blob a put is writing, and the put never loses a chunk to a concurrent erase', async () => {
    const store = await openStore({ gcGraceMs: 0 });
    const shared = randomBytes(CHUNK_BYTES);
    const a = await store.putRecord([shared, randomBytes(10)]);
    await store.addReference('A', a.cid);
    // Erase A while B, which shares its first chunk, is being put.
    const putB = store.putRecord([shared, randomBytes(CHUNK_BYTES), randomBytes(CHUNK_BYTES)]);
    const erase = store.erase('A', a.cid);
    const [b] = await Promise.all([putB, erase]);
    await store.addReference('B', b.cid);
    await store.gc({ graceMs: 0 });
    expect(await store.hasRecord(b.cid)).toBe(true);
  });

  it('refuses bad record ids', async () => {
    const store = await openStore();
    const put = await store.putRecord([randomBytes(10)]);
    expect(await codeOf(store.addReference('', put.cid))).toBe('STORE_BAD_RECORD_ID');
    expect(await codeOf(store.addReference('a\u0000b', put.cid))).toBe('STORE_BAD_RECORD_ID');
    expect(await codeOf(store.addReference('x', cidOf(randomBytes(3))))).toBe('STORE_NOT_FOUND');
  });

  it('a second process cannot open the same store', async () => {
    await openStore();
    expect(await codeOf(BlobStore.open(join(dir, 'store')))).toBe('STORE_LOCKED');
  });
});
