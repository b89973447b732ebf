/**
 * Client-side record encryption: chunked AES-256-GCM under a fresh data key sealed to the patient
 * and the custodian; every way of presenting the wrong key or the wrong bytes is a typed error.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { bytesEqual, concatBytes } from '../src/bytes.ts';
import { generateEncryptionKeyPair, randomBytes } from '../src/crypto/index.ts';
import {
  CHUNK_BYTES,
  CIPHERTEXT_HEADER_BYTES,
  decryptRecord,
  decryptStream,
  encryptRecord,
  encryptStream,
  openEnvelope,
  recordContext,
  rewrapForReader,
  SEGMENT_PLAINTEXT_BYTES,
  SEGMENT0_PLAINTEXT_BYTES,
} from '../src/store/index.ts';

const patient = generateEncryptionKeyPair();
const custodian = generateEncryptionKeyPair();
const reader = generateEncryptionKeyPair();
const stranger = generateEncryptionKeyPair();
const recipients = { patient: patient.publicKey, custodian: custodian.publicKey };
const contextA = recordContext('medledger-test', 'record-A');
const contextB = recordContext('medledger-test', 'record-B');

async function collect(source: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const part of source) parts.push(part);
  return concatBytes(parts);
}

/** Yields `bytes` in pieces of `size` (as a file stream would). */
function* pieces(bytes: Uint8Array, size: number): Generator<Uint8Array> {
  for (let offset = 0; offset < bytes.length; offset += size) yield bytes.subarray(offset, offset + size);
}

/** Encrypts and returns the ciphertext cut into 1 MiB store chunks (`parts`). */
async function encrypt(plaintext: Uint8Array, context = contextA, pieceSize = 64 * 1024) {
  const record = encryptRecord(pieces(plaintext, pieceSize), recipients, context);
  const whole = await collect(record.ciphertext);
  const parts = [...pieces(whole, CHUNK_BYTES)];
  return { envelopes: record.envelopes, parts, summary: record.summary() };
}

/** Segments a plaintext of `size` bytes is sealed in. */
const segmentsFor = (size: number) =>
  size <= SEGMENT0_PLAINTEXT_BYTES
    ? 1
    : 1 + Math.ceil((size - SEGMENT0_PLAINTEXT_BYTES) / SEGMENT_PLAINTEXT_BYTES);

async function decryptCode(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return (error as { code?: unknown }).code;
  }
  return 'did not throw';
}

const sha256 = (bytes: Uint8Array) => new Uint8Array(createHash('sha256').update(bytes).digest());

describe('record encryption round trip', () => {
  const sizes = [
    0,
    1,
    1000,
    SEGMENT0_PLAINTEXT_BYTES - 1,
    SEGMENT0_PLAINTEXT_BYTES,
    SEGMENT0_PLAINTEXT_BYTES + 1,
    SEGMENT0_PLAINTEXT_BYTES + 2 * SEGMENT_PLAINTEXT_BYTES,
    3 * CHUNK_BYTES + 12345,
  ];
  for (const size of sizes) {
    it(`round-trips ${size} bytes for the patient and the custodian, in 1 MiB chunks`, async () => {
      const plaintext = randomBytes(size);
      const { envelopes, parts, summary } = await encrypt(plaintext);
      // Header, then one 16-byte tag per segment, and one segment per 1 MiB store chunk.
      const segments = segmentsFor(size);
      expect(summary.ciphertextBytes).toBe(CIPHERTEXT_HEADER_BYTES + size + 16 * segments);
      expect(parts.length).toBe(segments);
      expect(summary.plaintextBytes).toBe(size);
      expect(summary.plaintextSha256).toEqual(sha256(plaintext));
      expect(summary.ciphertextBytes).toBe(parts.reduce((n, p) => n + p.length, 0));
      for (const [key, envelope] of [
        [patient.secretKey, envelopes.patient],
        [custodian.secretKey, envelopes.custodian],
      ] as const) {
        const out = await collect(
          decryptRecord(parts, {
            secretKey: key,
            envelope,
            context: contextA,
            expectedPlaintextSha256: summary.plaintextSha256,
          }),
        );
        expect(bytesEqual(out, plaintext)).toBe(true);
      }
    });
  }

  it('decrypts whatever way the ciphertext is cut into pieces', async () => {
    const plaintext = randomBytes(2 * CHUNK_BYTES + 777);
    const { envelopes, parts } = await encrypt(plaintext);
    const whole = concatBytes(parts);
    for (const size of [7919, CHUNK_BYTES + 5, whole.length]) {
      const source = pieces(whole, size);
      const out = await collect(
        decryptRecord(source, {
          secretKey: patient.secretKey,
          envelope: envelopes.patient,
          context: contextA,
        }),
      );
      expect(bytesEqual(out, plaintext)).toBe(true);
    }
    const tiny = await encrypt(randomBytes(10));
    const bytewise = pieces(concatBytes(tiny.parts), 1);
    const out = await collect(
      decryptRecord(bytewise, {
        secretKey: patient.secretKey,
        envelope: tiny.envelopes.patient,
        context: contextA,
      }),
    );
    expect(out.length).toBe(10);
  });

  it('uses a fresh key and nonce prefix every time: the same plaintext never encrypts the same', async () => {
    const plaintext = randomBytes(100);
    const a = await encrypt(plaintext);
    const b = await encrypt(plaintext);
    expect(Buffer.concat(a.parts).equals(Buffer.concat(b.parts))).toBe(false);
  });
});

describe('record decryption refuses the wrong key or the wrong bytes', () => {
  it('a key that is not a recipient: STORE_ENVELOPE_OPEN_FAILED', async () => {
    const { envelopes, parts } = await encrypt(randomBytes(5000));
    const code = await decryptCode(
      collect(
        decryptRecord(parts, {
          secretKey: stranger.secretKey,
          envelope: envelopes.patient,
          context: contextA,
        }),
      ),
    );
    expect(code).toBe('STORE_ENVELOPE_OPEN_FAILED');
  });

  it("another record's envelope (other context): STORE_ENVELOPE_OPEN_FAILED", async () => {
    const a = await encrypt(randomBytes(5000), contextA);
    const b = await encrypt(randomBytes(5000), contextB);
    const code = await decryptCode(
      collect(
        decryptRecord(a.parts, {
          secretKey: patient.secretKey,
          envelope: b.envelopes.patient,
          context: contextA,
        }),
      ),
    );
    expect(code).toBe('STORE_ENVELOPE_OPEN_FAILED');
  });

  it("another record's envelope with its own context (swapped envelope): STORE_DECRYPT_FAILED", async () => {
    const a = await encrypt(randomBytes(5000), contextA);
    const b = await encrypt(randomBytes(5000), contextB);
    const code = await decryptCode(
      collect(
        decryptRecord(a.parts, {
          secretKey: patient.secretKey,
          envelope: b.envelopes.patient,
          context: contextB,
        }),
      ),
    );
    expect(code).toBe('STORE_DECRYPT_FAILED');
  });

  it('a flipped byte anywhere (header, body, tag, any segment): typed error, no plaintext of that segment', async () => {
    const plaintext = randomBytes(2 * CHUNK_BYTES + 100);
    const { envelopes, parts } = await encrypt(plaintext);
    const whole = concatBytes(parts);
    const positions = [
      0,
      3,
      5,
      9,
      CIPHERTEXT_HEADER_BYTES,
      CHUNK_BYTES - 1,
      CHUNK_BYTES + 10,
      whole.length - 1,
    ];
    for (const position of positions) {
      const tampered = Uint8Array.from(whole);
      tampered[position]! ^= 0x01;
      const received: Uint8Array[] = [];
      let code: unknown = 'did not throw';
      try {
        for await (const piece of decryptRecord(pieces(tampered, CHUNK_BYTES), {
          secretKey: patient.secretKey,
          envelope: envelopes.patient,
          context: contextA,
        })) {
          received.push(piece);
        }
      } catch (error) {
        code = (error as { code?: unknown }).code;
      }
      expect(['STORE_DECRYPT_FAILED', 'STORE_CIPHERTEXT_FORMAT']).toContain(code);
      // Segments before the damaged one may have been released (they verified); none after.
      const damagedSegment = Math.floor(position / CHUNK_BYTES);
      expect(received.length).toBeLessThanOrEqual(damagedSegment);
    }
  });

  it('a truncated ciphertext (at a segment boundary or inside one): STORE_CIPHERTEXT_TRUNCATED or DECRYPT_FAILED', async () => {
    const { envelopes, parts } = await encrypt(randomBytes(2 * CHUNK_BYTES + 100));
    const options = { secretKey: patient.secretKey, envelope: envelopes.patient, context: contextA };
    expect(await decryptCode(collect(decryptRecord(parts.slice(0, 2), options)))).toBe(
      'STORE_CIPHERTEXT_TRUNCATED',
    );
    expect(await decryptCode(collect(decryptRecord(parts.slice(0, 1), options)))).toBe(
      'STORE_CIPHERTEXT_TRUNCATED',
    );
    const cut = [parts[0]!, parts[1]!.subarray(0, 1000)];
    expect(await decryptCode(collect(decryptRecord(cut, options)))).toBe('STORE_DECRYPT_FAILED');
    expect(await decryptCode(collect(decryptRecord([parts[0]!.subarray(0, 10)], options)))).toBe(
      'STORE_CIPHERTEXT_TRUNCATED',
    );
  });

  it('reordered, duplicated or extended segments: STORE_DECRYPT_FAILED', async () => {
    const { envelopes, parts } = await encrypt(randomBytes(3 * CHUNK_BYTES));
    const options = { secretKey: patient.secretKey, envelope: envelopes.patient, context: contextA };
    const [p0, p1, p2, p3] = parts as [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
    expect(await decryptCode(collect(decryptRecord([p0, p2, p1, p3], options)))).toBe('STORE_DECRYPT_FAILED');
    expect(await decryptCode(collect(decryptRecord([p0, p1, p1, p2, p3], options)))).toBe(
      'STORE_DECRYPT_FAILED',
    );
    expect(await decryptCode(collect(decryptRecord([...parts, randomBytes(40)], options)))).toBe(
      'STORE_DECRYPT_FAILED',
    );
  });

  it('not a record ciphertext at all: STORE_CIPHERTEXT_FORMAT', async () => {
    const key = randomBytes(32);
    expect(await decryptCode(collect(decryptStream([randomBytes(100)], key)))).toBe(
      'STORE_CIPHERTEXT_FORMAT',
    );
    expect(await decryptCode(collect(decryptStream([], key)))).toBe('STORE_CIPHERTEXT_FORMAT');
  });

  it('the right key but not the plaintext the metadata names: STORE_PLAINTEXT_HASH_MISMATCH', async () => {
    const { envelopes, parts } = await encrypt(randomBytes(5000));
    const code = await decryptCode(
      collect(
        decryptRecord(parts, {
          secretKey: patient.secretKey,
          envelope: envelopes.patient,
          context: contextA,
          expectedPlaintextSha256: new Uint8Array(32),
        }),
      ),
    );
    expect(code).toBe('STORE_PLAINTEXT_HASH_MISMATCH');
  });

  it('encryptStream and decryptStream agree with a caller-held key', async () => {
    const key = randomBytes(32);
    const plaintext = randomBytes(CHUNK_BYTES + 3);
    const ciphertext = await collect(encryptStream([plaintext], key));
    const out = await collect(decryptStream([ciphertext], key));
    expect(bytesEqual(out, plaintext)).toBe(true);
    expect(await decryptCode(collect(decryptStream([ciphertext], randomBytes(32))))).toBe(
      'STORE_DECRYPT_FAILED',
    );
  });
});

describe('custodian re-wrap', () => {
  it("seals the data key to a reader, who then decrypts; the custodian's key is needed", async () => {
    const plaintext = randomBytes(CHUNK_BYTES + 10);
    const { envelopes, parts, summary } = await encrypt(plaintext);
    const forReader = rewrapForReader(custodian.secretKey, envelopes.custodian, reader.publicKey, contextA);
    const out = await collect(
      decryptRecord(parts, {
        secretKey: reader.secretKey,
        envelope: forReader,
        context: contextA,
        expectedPlaintextSha256: summary.plaintextSha256,
      }),
    );
    expect(bytesEqual(out, plaintext)).toBe(true);
    // The reader's envelope opens for the reader only, and only for this record.
    expect(() => openEnvelope(stranger.secretKey, forReader, contextA)).toThrow(
      expect.objectContaining({ code: 'STORE_ENVELOPE_OPEN_FAILED' }),
    );
    expect(() => openEnvelope(reader.secretKey, forReader, contextB)).toThrow(
      expect.objectContaining({ code: 'STORE_ENVELOPE_OPEN_FAILED' }),
    );
    // Someone else's key (or the patient's envelope with the wrong key) cannot re-wrap.
    expect(() =>
      rewrapForReader(stranger.secretKey, envelopes.custodian, reader.publicKey, contextA),
    ).toThrow(expect.objectContaining({ code: 'STORE_ENVELOPE_OPEN_FAILED' }));
    expect(() =>
      rewrapForReader(custodian.secretKey, envelopes.custodian, reader.publicKey, contextB),
    ).toThrow(expect.objectContaining({ code: 'STORE_ENVELOPE_OPEN_FAILED' }));
  });

  it('the data key is zeroed after the stream ends (encryption side)', async () => {
    // The key is internal; what we can check is that a discarded record can no longer produce
    // ciphertext that its envelopes open: discard() zeroes the key before any segment is sealed.
    const record = encryptRecord([randomBytes(100)], recipients, contextA);
    record.discard();
    const parts = await collect(record.ciphertext);
    const code = await decryptCode(
      collect(
        decryptRecord([parts], {
          secretKey: patient.secretKey,
          envelope: record.envelopes.patient,
          context: contextA,
        }),
      ),
    );
    expect(code).toBe('STORE_DECRYPT_FAILED');
  });
});
