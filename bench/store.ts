/**
 * Blob store benchmark: put and get throughput of encrypted records, and peak memory for a 1 GiB file.
 *
 *   npm run bench:store                      a table
 *   npm run bench:store -- --json            one JSON object
 *   npm run bench:store -- --skip-1gib       without the 1 GiB run (or BENCH_STORE_SKIP_1GIB=1)
 *
 * put = encryptRecord (fresh data key, sealed twice; AES-256-GCM and SHA-256 of the plaintext) piped
 * into BlobStore.putRecord (SHA-256 per 1 MiB chunk for its CID, atomic write: temp file, fdatasync,
 * rename, directory fsync; then the manifest). get = BlobStore.readRecord (every chunk hashed against
 * its CID) piped into decryptRecord (tag checks and the plaintext hash check). Both are measured end
 * to end, in plaintext MB/s (10^6 bytes), the median of three trials. The baselines write and read the same bytes as one plain
 * file in the same run, with and without fsync. Reads come from the page cache in both cases.
 *
 * Helia (@helia/unixfs 8 over blockstore-fs 4, raw leaves, no encryption, no fsync), measured once
 * from a scratch directory on the development machine (it is not a dependency): add about 300 MB/s
 * for 1 MiB and 64 MiB files, cat 90 MB/s (1 MiB) and 215 MB/s (64 MiB).
 */
import { spawnSync } from 'node:child_process';
import { createCipheriv } from 'node:crypto';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateEncryptionKeyPair, randomBytes } from '../src/crypto/index.ts';
import {
  BlobStore,
  CHUNK_BYTES,
  type CID,
  decryptRecord,
  type EncryptionSummary,
  encryptRecord,
  recordContext,
} from '../src/store/index.ts';

const MiB = 1024 * 1024;
const json = process.argv.includes('--json');
const skip1GiB = process.argv.includes('--skip-1gib') || process.env.BENCH_STORE_SKIP_1GIB === '1';

const patient = generateEncryptionKeyPair();
const custodian = generateEncryptionKeyPair();
const recipients = { patient: patient.publicKey, custodian: custodian.publicKey };

const results: Record<string, number> = {};
function report(name: string, value: number, unit: string): void {
  results[name] = Math.round(value * 10) / 10;
  if (!json) console.log(`${name.padEnd(44)} ${value.toFixed(1).padStart(10)} ${unit}`);
}

const mbps = (bytes: number, ms: number) => bytes / 1e6 / (ms / 1000);

const TRIALS = 3;

/**
 * Runs `op` `count` times (after one warm-up), TRIALS times over, and returns the median trial's
 * milliseconds: the machine is shared, and one trial can land on someone else's burst.
 */
async function timed(count: number, op: (i: number) => Promise<void>): Promise<number> {
  await op(-1);
  const trials: number[] = [];
  for (let trial = 0; trial < TRIALS; trial++) {
    const start = performance.now();
    for (let i = 0; i < count; i++) await op(i);
    trials.push(performance.now() - start);
  }
  return trials.sort((a, b) => a - b)[TRIALS >> 1]!;
}

async function drain(source: AsyncIterable<Uint8Array>): Promise<number> {
  let bytes = 0;
  for await (const piece of source) bytes += piece.length;
  return bytes;
}

if (process.argv.includes('--one-gib')) {
  console.log(JSON.stringify(await oneGiB()));
  process.exit(0);
}

/** A 1 GiB plaintext as a stream of 256 KiB pieces of AES-CTR keystream (pseudo-random, no file). */
async function* generate(total: number): AsyncGenerator<Uint8Array> {
  const keystream = createCipheriv('aes-256-ctr', Buffer.alloc(32, 3), Buffer.alloc(16, 9));
  const zeros = Buffer.alloc(256 * 1024);
  for (let left = total; left > 0; left -= zeros.length) yield keystream.update(zeros);
}

/** Run in a child process: put a stream-generated 1 GiB record, sampling RSS; then the baseline. */
async function oneGiB(): Promise<Record<string, number>> {
  const total = 1024 * MiB;
  const where = await mkdtemp(join(tmpdir(), 'medledger-bench-1gib-'));
  try {
    const store = await BlobStore.open(join(where, 'store'), {
      maxRecordBytes: 2 * total,
      createShards: true,
    });
    const rssStart = process.memoryUsage.rss();
    let peak = rssStart;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage.rss());
    }, 5);
    const start = performance.now();
    const record = encryptRecord(generate(total), recipients, recordContext('bench', 'one-gib'));
    const result = await store.putRecord(record.ciphertext);
    const putMs = performance.now() - start;
    clearInterval(sampler);
    peak = Math.max(peak, process.memoryUsage.rss());
    if (result.chunks !== Math.ceil(record.summary().ciphertextBytes / CHUNK_BYTES))
      throw new Error('chunks');
    await store.close();
    const baselineStart = performance.now();
    const handle = await open(join(where, 'plain'), 'w');
    for await (const piece of generate(total)) await handle.write(piece);
    await handle.sync();
    await handle.close();
    const baselineMs = performance.now() - baselineStart;
    return {
      putMBps: mbps(total, putMs),
      baselineMBps: mbps(total, baselineMs),
      rssStartMiB: rssStart / MiB,
      rssPeakMiB: peak / MiB,
    };
  } finally {
    await rm(where, { recursive: true, force: true });
  }
}

const dir = await mkdtemp(join(tmpdir(), 'medledger-bench-store-'));
try {
  // A node's store has all its shard directories after its first few thousand blobs; create them up
  // front so the numbers are the steady state, not a fresh directory's first mkdirs.
  const store = await BlobStore.open(join(dir, 'store'), {
    maxRecordBytes: 2 * 1024 * MiB,
    createShards: true,
  });
  if (!json) {
    console.log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}`);
    console.log(`${'measure'.padEnd(44)} ${'value'.padStart(10)} unit`);
  }

  for (const [label, size, count] of [
    ['1 MiB', MiB, 64],
    ['64 MiB', 64 * MiB, 4],
  ] as const) {
    const plaintexts = Array.from({ length: 2 }, () => randomBytes(size));
    const totalBytes = size * count;

    // Baselines: the same bytes to one plain file each, without and with fsync, then read back.
    const plainNoSync = await timed(count, async (i) => {
      await writeFile(join(dir, `plain-${label}-${i}`), plaintexts[Math.abs(i) % 2]!);
    });
    const plainSync = await timed(count, async (i) => {
      const handle = await open(join(dir, `plain-sync-${label}-${i}`), 'w');
      await handle.writeFile(plaintexts[Math.abs(i) % 2]!);
      await handle.sync();
      await handle.close();
    });
    const plainRead = await timed(count, async (i) => {
      await readFile(join(dir, `plain-sync-${label}-${Math.max(i, 0)}`));
    });

    // Encryption alone, and the store alone (ciphertext already in memory).
    const encryptOnly = await timed(count, async (i) => {
      const record = encryptRecord(
        [plaintexts[Math.abs(i) % 2]!],
        recipients,
        recordContext('bench', `e${i}`),
      );
      await drain(record.ciphertext);
    });

    // End to end: put.
    const stored: { cid: CID; summary: EncryptionSummary; envelope: Uint8Array; id: string }[] = [];
    const put = await timed(count, async (i) => {
      // A fresh plaintext prefix per record, so no chunk is deduplicated against an earlier one.
      const plaintext = plaintexts[Math.abs(i) % 2]!;
      plaintext.set(randomBytes(16), 0);
      const id = `${label}-${i}`;
      const record = encryptRecord([plaintext], recipients, recordContext('bench', id));
      const result = await store.putRecord(record.ciphertext);
      if (i >= 0)
        stored.push({ cid: result.cid, summary: record.summary(), envelope: record.envelopes.patient, id });
    });

    // End to end: get (verified read, decrypt, plaintext hash check).
    const get = await timed(count, async (i) => {
      const entry = stored[Math.max(i, 0)]!;
      const bytes = await drain(
        decryptRecord(store.readRecord(entry.cid), {
          secretKey: patient.secretKey,
          envelope: entry.envelope,
          context: recordContext('bench', entry.id),
          expectedPlaintextSha256: entry.summary.plaintextSha256,
        }),
      );
      if (bytes !== size) throw new Error('short read');
    });

    // The store alone: verified read of ciphertext.
    const readOnly = await timed(count, async (i) => {
      await drain(store.readRecord(stored[Math.max(i, 0)]!.cid));
    });

    report(`${label} put (encrypt + hash + atomic write)`, mbps(totalBytes, put), 'MB/s');
    report(`${label} get (verified read + decrypt)`, mbps(totalBytes, get), 'MB/s');
    report(`${label} encrypt only`, mbps(totalBytes, encryptOnly), 'MB/s');
    report(`${label} store read only (hash-verified)`, mbps(totalBytes, readOnly), 'MB/s');
    report(`${label} baseline plain file write`, mbps(totalBytes, plainNoSync), 'MB/s');
    report(`${label} baseline plain file write + fsync`, mbps(totalBytes, plainSync), 'MB/s');
    report(`${label} baseline plain file read`, mbps(totalBytes, plainRead), 'MB/s');
    report(`${label} put speed / baseline write+fsync speed`, plainSync / put, '×');
  }

  await store.close();
} finally {
  await rm(dir, { recursive: true, force: true });
}

// Peak RSS while storing a 1 GiB file: in a fresh process, so nothing measured above is counted.
if (!skip1GiB) {
  const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--one-gib'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (child.status !== 0) throw new Error(`the 1 GiB run failed (${child.status})`);
  const one = JSON.parse(child.stdout) as Record<string, number>;
  report('1 GiB put (stream-generated plaintext)', one.putMBps!, 'MB/s');
  report('1 GiB baseline: same stream to a plain file + fsync', one.baselineMBps!, 'MB/s');
  report('1 GiB put: RSS at start', one.rssStartMiB!, 'MiB');
  report('1 GiB put: peak RSS', one.rssPeakMiB!, 'MiB');
  report('1 GiB put: peak RSS growth', one.rssPeakMiB! - one.rssStartMiB!, 'MiB');
} else if (!json) {
  console.log('1 GiB peak-RSS run skipped (--skip-1gib / BENCH_STORE_SKIP_1GIB=1)');
}

if (json) console.log(JSON.stringify({ machine: { cpus: cpus().length, node: process.version }, results }));
