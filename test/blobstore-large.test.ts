/**
 * A 100 MiB file goes from disk through encryption into the store and back through decryption, with
 * flat memory: the process's resident set grows by far less than the file's size.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateEncryptionKeyPair } from '../src/crypto/index.ts';
import { BlobStore, CHUNK_BYTES, decryptRecord, encryptRecord, recordContext } from '../src/store/index.ts';

const FILE_BYTES = 100 * 1024 * 1024;
const MAX_RSS_GROWTH = 64 * 1024 * 1024;

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'medledger-large-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Streams `bytes` pseudo-random bytes (an AES-CTR keystream) to `path`; returns their SHA-256. */
async function writePseudoRandomFile(path: string, bytes: number): Promise<string> {
  const keystream = createCipheriv('aes-256-ctr', Buffer.alloc(32, 7), Buffer.alloc(16, 1));
  const zeros = Buffer.alloc(256 * 1024);
  const hash = createHash('sha256');
  async function* generate() {
    for (let left = bytes; left > 0; left -= zeros.length) {
      const piece = keystream.update(zeros.subarray(0, Math.min(zeros.length, left)));
      hash.update(piece);
      yield piece;
    }
  }
  await pipeline(Readable.from(generate()), createWriteStream(path));
  return hash.digest('hex');
}

/** Samples the resident set size every few milliseconds while `task` runs; returns the peak. */
async function peakRss<T>(task: () => Promise<T>): Promise<{ result: T; peak: number }> {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 5);
  try {
    const result = await task();
    peak = Math.max(peak, process.memoryUsage.rss());
    return { result, peak };
  } finally {
    clearInterval(timer);
  }
}

describe('a 100 MiB record', () => {
  it('round-trips file → encrypt → store → read → decrypt with flat memory', async () => {
    const source = join(dir, 'scan.dcm');
    const expectedHash = await writePseudoRandomFile(source, FILE_BYTES);
    const store = await BlobStore.open(join(dir, 'store'));
    try {
      const patient = generateEncryptionKeyPair();
      const custodian = generateEncryptionKeyPair();
      const context = recordContext('chain', 'large-1');
      const baseline = process.memoryUsage.rss();

      const { result: put, peak: putPeak } = await peakRss(async () => {
        const encrypted = encryptRecord(
          createReadStream(source, { highWaterMark: 256 * 1024 }),
          { patient: patient.publicKey, custodian: custodian.publicKey },
          context,
        );
        const stored = await store.putRecord(encrypted.ciphertext);
        return { stored, encrypted };
      });
      expect(put.stored.chunks).toBe(Math.ceil(put.encrypted.summary().ciphertextBytes / CHUNK_BYTES));
      expect(put.encrypted.summary().plaintextBytes).toBe(FILE_BYTES);

      const output = join(dir, 'scan.out');
      const { result: outHash, peak: getPeak } = await peakRss(async () => {
        const hash = createHash('sha256');
        const plaintext = decryptRecord(store.readRecord(put.stored.cid), {
          secretKey: patient.secretKey,
          envelope: put.encrypted.envelopes.patient,
          context,
          expectedPlaintextSha256: put.encrypted.summary().plaintextSha256,
        });
        async function* tap(source: AsyncIterable<Uint8Array>) {
          for await (const piece of source) {
            hash.update(piece);
            yield piece;
          }
        }
        await pipeline(Readable.from(tap(plaintext)), createWriteStream(output));
        return hash.digest('hex');
      });

      expect(outHash).toBe(expectedHash);
      expect((await stat(output)).size).toBe(FILE_BYTES);
      const growth = Math.max(putPeak, getPeak) - baseline;
      console.log(
        `100 MiB round trip: RSS baseline ${(baseline / 2 ** 20).toFixed(0)} MiB, growth put ` +
          `${((putPeak - baseline) / 2 ** 20).toFixed(1)} MiB, get ${((getPeak - baseline) / 2 ** 20).toFixed(1)} MiB`,
      );
      expect(growth).toBeLessThan(MAX_RSS_GROWTH);
    } finally {
      await store.close();
    }
  });
});
