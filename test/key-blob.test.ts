/**
 * The key blob (src/store/key-blob.ts): a record's data key split among the validators with
 * Shamir's secret sharing, each share sealed to one validator with a commitment. Any t shares
 * rebuild the key, fewer do not, a false share is caught by its commitment, and a share re-sealed
 * for one read opens for no other.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bytesEqual } from '../src/bytes.ts';
import { decode, encode } from '../src/codec/index.ts';
import { generateIdentityKeys, type IdentityKeys, randomBytes, seal } from '../src/crypto/index.ts';
import type { MedledgerError } from '../src/errors.ts';
import { decryptStream, encryptStream } from '../src/store/encryption.ts';
import {
  checkKeyBlob,
  combineShares,
  decodeKeyBlob,
  KeyBlob,
  keyThreshold,
  makeKeyBlob,
  openPatientKey,
  openReaderShare,
  readerShareContext,
  resealShare,
} from '../src/store/key-blob.ts';

const CHAIN = 'key-blob-test';
const CID = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy';

function validators(n: number): IdentityKeys[] {
  return Array.from({ length: n }, () => generateIdentityKeys());
}

async function blobFor(holders: IdentityKeys[], patient: IdentityKeys, dataKey = randomBytes(32)) {
  const made = await makeKeyBlob({
    chainId: CHAIN,
    recordCid: CID,
    dataKey,
    validators: holders.map((v) => ({
      publicKey: v.signing.publicKey,
      encryptionKey: v.encryption.publicKey,
    })),
    patientKey: patient.encryption.publicKey,
  });
  return { ...made, dataKey };
}

/** Validator i re-seals its share to the reader for `readTx`; the reader opens and checks it. */
function shareFor(
  blob: KeyBlob,
  holders: IdentityKeys[],
  i: number,
  reader: IdentityKeys,
  readTx: Uint8Array,
) {
  const sealed = resealShare({
    blob,
    chainId: CHAIN,
    index: i,
    validatorSecretKey: holders[i]!.encryption.secretKey,
    readerKey: reader.encryption.publicKey,
    readTx,
  });
  return openReaderShare({
    blob,
    chainId: CHAIN,
    index: i,
    readerSecretKey: reader.encryption.secretKey,
    readTx,
    sealed,
  });
}

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return (error as MedledgerError).code;
  }
  return undefined;
}

describe('the key threshold', () => {
  it('is f + 1 of n = 3f + 1 validators, never below 2, and impossible with one validator', () => {
    expect([2, 3, 4, 5, 6, 7, 10, 13].map(keyThreshold)).toEqual([2, 2, 2, 2, 2, 3, 4, 5]);
    expect(code(() => keyThreshold(1))).toBe('KEY_NO_THRESHOLD');
  });
});

describe('a key blob', () => {
  it('holds no key in the clear, round-trips its canonical form and follows the genesis validators', async () => {
    const holders = validators(4);
    const patient = generateIdentityKeys();
    const { blob, bytes, dataKey } = await blobFor(holders, patient);
    expect(Buffer.from(bytes).includes(Buffer.from(dataKey))).toBe(false);
    expect(decodeKeyBlob(bytes)).toEqual(blob);
    expect(blob.threshold).toBe(2);
    expect(blob.shares).toHaveLength(4);
    expect(() =>
      checkKeyBlob(
        blob,
        CID,
        holders.map((h) => ({ publicKey: h.signing.publicKey })),
      ),
    ).not.toThrow();
    const reordered = [holders[1]!, holders[0]!, holders[2]!, holders[3]!];
    expect(
      code(() =>
        checkKeyBlob(
          blob,
          CID,
          reordered.map((h) => ({ publicKey: h.signing.publicKey })),
        ),
      ),
    ).toBe('KEY_BLOB_INVALID');
    expect(code(() => checkKeyBlob(blob, `${CID}x`, []))).toBe('KEY_BLOB_INVALID');
    expect(code(() => decodeKeyBlob(bytes.subarray(0, bytes.length - 3)))).toBe('KEY_BLOB_INVALID');
    expect(code(() => decodeKeyBlob(encode(KeyBlob, { ...blob, threshold: 1 })))).toBe('KEY_BLOB_INVALID');
    expect(code(() => decodeKeyBlob(encode(KeyBlob, { ...blob, version: 2 })))).toBe('KEY_BLOB_INVALID');
    // The patient opens the key directly.
    expect(bytesEqual(openPatientKey(blob, CHAIN, patient.encryption.secretKey), dataKey)).toBe(true);
    expect(code(() => openPatientKey(blob, CHAIN, holders[0]!.encryption.secretKey))).toBe('KEY_NOT_PATIENT');
  });

  it('any t of n validators rebuild the key, which decrypts the record; t − 1 do not (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 4, max: 10 }),
        fc.infiniteStream(fc.integer({ min: 0, max: 1_000_000 })),
        async (n, picks) => {
          const holders = validators(n);
          const reader = generateIdentityKeys();
          const plaintext = randomBytes(300);
          const { blob, dataKey } = await blobFor(holders, generateIdentityKeys());
          const ciphertext: Uint8Array[] = [];
          for await (const piece of encryptStream([plaintext], dataKey)) ciphertext.push(piece);
          const readTx = randomBytes(32);
          // A random choice of validators: the first t of a random permutation.
          const order = [...holders.keys()];
          for (let i = order.length - 1; i > 0; i--) {
            const j = picks.next().value % (i + 1);
            [order[i], order[j]] = [order[j]!, order[i]!];
          }
          const t = blob.threshold;
          const shares = order.slice(0, t).map((i) => shareFor(blob, holders, i, reader, readTx));
          const key = await combineShares(shares, t);
          expect(bytesEqual(key, dataKey)).toBe(true);
          const out: Uint8Array[] = [];
          for await (const piece of decryptStream(ciphertext, key)) out.push(piece);
          expect(Buffer.concat(out).equals(plaintext)).toBe(true);

          // t − 1 shares: too few to combine; where t − 1 ≥ 2 the library would still interpolate,
          // and what it yields is not the key and does not decrypt.
          const fewer = shares.slice(0, t - 1);
          await expect(combineShares(fewer, t)).rejects.toMatchObject({ code: 'KEY_SHARES_TOO_FEW' });
          if (fewer.length >= 2) {
            const wrong = await combineShares(fewer, fewer.length);
            expect(bytesEqual(wrong, dataKey)).toBe(false);
            const attempt = (async () => {
              for await (const _ of decryptStream(ciphertext, wrong));
            })();
            await expect(attempt).rejects.toThrow();
          }
        },
      ),
      { numRuns: 12 },
    );
  });

  it('one share (f = 1 of 4 validators) says nothing of the key: its bytes spread over every value', async () => {
    // Shamir over GF(256), byte by byte: with t = 2 a share's byte is the key's byte plus a uniform
    // random coefficient times x, so across splits of one fixed key each share byte takes ~all values.
    const holders = validators(4);
    const seen = Array.from({ length: 33 }, () => new Set<number>());
    const reader = generateIdentityKeys();
    const readTx = randomBytes(32);
    const fixedKey = new Uint8Array(32).fill(7);
    for (let run = 0; run < 600; run++) {
      const { blob } = await blobFor(holders, generateIdentityKeys(), fixedKey.slice());
      const share = shareFor(blob, holders, 0, reader, readTx);
      for (let b = 0; b < 32; b++) seen[b]!.add(share[b]!);
    }
    for (let b = 0; b < 32; b++) expect(seen[b]!.size).toBeGreaterThan(200);
  });

  it('a false share is caught by its commitment; a share opens only for its reader, read and index', async () => {
    const holders = validators(4);
    const reader = generateIdentityKeys();
    const other = generateIdentityKeys();
    const { blob, dataKey } = await blobFor(holders, generateIdentityKeys());
    const readTx = randomBytes(32);
    const open = (index: number, sealed: Uint8Array, who = reader, tx = readTx) =>
      openReaderShare({
        blob,
        chainId: CHAIN,
        index,
        readerSecretKey: who.encryption.secretKey,
        readTx: tx,
        sealed,
      });
    const reseal = (index: number, to = reader) =>
      resealShare({
        blob,
        chainId: CHAIN,
        index,
        validatorSecretKey: holders[index]!.encryption.secretKey,
        readerKey: to.encryption.publicKey,
        readTx,
      });
    // A liar seals a random 49 bytes to the reader under the right context: it opens, but fails the commitment.
    const lie = seal(reader.encryption.publicKey, randomBytes(49), readerShareContext(CHAIN, readTx, 1));
    expect(code(() => open(1, lie))).toBe('KEY_SHARE_FALSE');
    // Validator 2's true share presented as share 1, for another read, to another reader.
    expect(code(() => open(1, reseal(2)))).toBe('KEY_SHARE_FALSE');
    expect(code(() => open(2, reseal(2), reader, randomBytes(32)))).toBe('KEY_SHARE_FALSE');
    expect(code(() => open(2, reseal(2), other))).toBe('KEY_SHARE_FALSE');
    // The read still succeeds from true shares.
    const key = await combineShares([open(0, reseal(0)), open(3, reseal(3))], blob.threshold);
    expect(bytesEqual(key, dataKey)).toBe(true);
    // A validator cannot open another's share, and an altered blob is named, not relayed.
    expect(
      code(() =>
        resealShare({
          blob,
          chainId: CHAIN,
          index: 0,
          validatorSecretKey: holders[1]!.encryption.secretKey,
          readerKey: reader.encryption.publicKey,
          readTx,
        }),
      ),
    ).toBe('KEY_BLOB_INVALID');
    const tampered = decode(KeyBlob, encode(KeyBlob, blob));
    tampered.shares[0]!.commitment = randomBytes(32);
    expect(
      code(() =>
        resealShare({
          blob: tampered,
          chainId: CHAIN,
          index: 0,
          validatorSecretKey: holders[0]!.encryption.secretKey,
          readerKey: reader.encryption.publicKey,
          readTx,
        }),
      ),
    ).toBe('KEY_BLOB_INVALID');
  });
});
