/**
 * Client-side record encryption: streaming, chunked AES-256-GCM under a fresh data key, and the data
 * key sealed (src/crypto seal: X25519 + HKDF + AES-GCM) to the patient and the custodian organisation.
 * Nodes only ever hold ciphertext and sealed envelopes; plaintext exists on the writer's and the
 * reader's clients only.
 *
 * ## Ciphertext format, version 1
 *
 *     header   = "MLR" (3) || 0x01 version (1) || 0x00000000 reserved (4) || noncePrefix (8)   16 bytes
 *     segment_i = AES-256-GCM(dataKey, nonce_i, plaintext_i, aad_i) || tag_i (16)
 *     nonce_i  = noncePrefix (8) || uint32be(i) (4)                   noncePrefix: 8 random bytes
 *     aad_i    = header (16) || uint32be(i) (4) || final_i (1: 0x01 on the last segment, else 0x00)
 *     stream   = header || segment_0 || segment_1 || … || segment_last
 *
 * Segment 0 holds SEGMENT0_PLAINTEXT_BYTES of plaintext (1 MiB − 32), every later segment
 * SEGMENT_PLAINTEXT_BYTES (1 MiB − 16); only the last may hold fewer (an empty record is one final,
 * empty segment). So `header || segment_0` and every later segment are exactly one 1 MiB store chunk:
 * chunk i of a record's ciphertext is segment i, and can be checked and decrypted on its own.
 *
 * Why this is safe to stream: each segment is authenticated on its own before any of its plaintext
 * is released. The index in the nonce and the AAD stops reordering and duplication; the final flag in
 * the AAD stops truncation at a segment boundary (the new last segment was sealed as not final) and
 * extension (bytes after the real last segment); the header in the AAD binds the version and prefix.
 * The data key is fresh for every record version and never reused, so nonces never repeat under a
 * key; the random prefix is defence in depth should a key ever be reused by mistake.
 *
 * The data key is sealed with the record's context (see recordContext) as associated data, so an
 * envelope made for one record does not open for another. Data keys are zeroed after use.
 */
import { createCipheriv, createDecipheriv, createHash } from 'node:crypto';
import { plainBytes } from '../bytes.ts';
import { openSealed, randomBytes, seal } from '../crypto/index.ts';
import { MedledgerError } from '../errors.ts';
import { ByteReader, type ByteSource, concatPieces } from './bytes.ts';
import { CHUNK_BYTES } from './constants.ts';
import { StoreError } from './errors.ts';

export const DATA_KEY_BYTES = 32;
export const CIPHERTEXT_HEADER_BYTES = 16;
export const SEGMENT_TAG_BYTES = 16;
export const NONCE_PREFIX_BYTES = 8;
/** Plaintext bytes in segment 0 (it shares its chunk with the header). */
export const SEGMENT0_PLAINTEXT_BYTES = CHUNK_BYTES - CIPHERTEXT_HEADER_BYTES - SEGMENT_TAG_BYTES;
/** Plaintext bytes in every later segment. */
export const SEGMENT_PLAINTEXT_BYTES = CHUNK_BYTES - SEGMENT_TAG_BYTES;
const MAX_SEGMENTS = 0x1_0000_0000;
const MAGIC = [0x4d, 0x4c, 0x52]; // "MLR"
const FORMAT_VERSION = 0x01;

/** The X25519 public keys a record's data key is sealed to. */
export interface RecordRecipients {
  patient: Uint8Array;
  custodian: Uint8Array;
}

/** The data key sealed to each recipient (src/crypto seal envelopes). */
export interface RecordEnvelopes {
  patient: Uint8Array;
  custodian: Uint8Array;
}

/** What the writer's client learns while encrypting, for the record's on-chain metadata. */
export interface EncryptionSummary {
  plaintextBytes: number;
  /** SHA-256 of the plaintext: the reader checks it after decrypting. */
  plaintextSha256: Uint8Array;
  ciphertextBytes: number;
}

/** A record being encrypted: its envelopes now, its ciphertext as it is read. */
export interface EncryptedRecord {
  readonly envelopes: RecordEnvelopes;
  /** The ciphertext, as a stream of pieces (for BlobStore.putRecord); can be iterated once. */
  readonly ciphertext: AsyncIterable<Uint8Array>;
  /** Sizes and plaintext hash; only once the ciphertext has been read to its end. */
  summary(): EncryptionSummary;
  /** Zeroes the data key if the ciphertext will not be read (reading it to the end does so too). */
  discard(): void;
}

/**
 * The associated data a record's envelopes are sealed with: binds an envelope to one record of one
 * chain. The writer and every reader (and the custodian's re-wrap) must use the same value.
 */
export function recordContext(chainId: string, recordId: string): Uint8Array {
  return new TextEncoder().encode(`medledger/record/v1\u0000${chainId}\u0000${recordId}`);
}

function checkDataKey(dataKey: Uint8Array): void {
  if (!(dataKey instanceof Uint8Array) || dataKey.length !== DATA_KEY_BYTES) {
    throw new MedledgerError('CRYPTO_KEY_LENGTH', `A record data key must be ${DATA_KEY_BYTES} bytes.`);
  }
}

function makeHeader(noncePrefix: Uint8Array): Uint8Array {
  const header = new Uint8Array(CIPHERTEXT_HEADER_BYTES);
  header.set(MAGIC, 0);
  header[3] = FORMAT_VERSION;
  header.set(noncePrefix, 8);
  return header;
}

function nonceFor(header: Uint8Array, index: number): Uint8Array {
  const nonce = new Uint8Array(12);
  nonce.set(header.subarray(8, 16), 0);
  new DataView(nonce.buffer).setUint32(8, index);
  return nonce;
}

function aadFor(header: Uint8Array, index: number, final: boolean): Uint8Array {
  const aad = new Uint8Array(CIPHERTEXT_HEADER_BYTES + 5);
  aad.set(header, 0);
  const view = new DataView(aad.buffer);
  view.setUint32(CIPHERTEXT_HEADER_BYTES, index);
  aad[CIPHERTEXT_HEADER_BYTES + 4] = final ? 1 : 0;
  return aad;
}

const plaintextCapacity = (index: number) =>
  index === 0 ? SEGMENT0_PLAINTEXT_BYTES : SEGMENT_PLAINTEXT_BYTES;

/** Seals one segment; returns its ciphertext as pieces (header first for segment 0, tag last). */
function encryptSegment(
  dataKey: Uint8Array,
  header: Uint8Array,
  index: number,
  final: boolean,
  pieces: Uint8Array[],
  observe: ((plaintext: Uint8Array) => void) | undefined,
): Uint8Array[] {
  const out: Uint8Array[] = index === 0 ? [header] : [];
  const cipher = createCipheriv('aes-256-gcm', dataKey, nonceFor(header, index), {
    authTagLength: SEGMENT_TAG_BYTES,
  });
  cipher.setAAD(aadFor(header, index, final));
  for (const piece of pieces) {
    observe?.(piece);
    out.push(plainBytes(cipher.update(piece)));
  }
  const rest = cipher.final();
  if (rest.length > 0) out.push(plainBytes(rest));
  out.push(plainBytes(cipher.getAuthTag()));
  return out;
}

/**
 * Encrypts `plaintext` under `dataKey` in the format above, yielding the ciphertext as a stream of
 * pieces (no piece is copied into a bigger one: BlobStore.putRecord cuts chunks from pieces as they
 * come). Memory stays flat: at most one segment of plaintext is buffered. The caller owns (and
 * zeroes) the key. `observe`, when given, sees every plaintext piece (to hash or count it).
 */
export async function* encryptStream(
  plaintext: ByteSource,
  dataKey: Uint8Array,
  options: { noncePrefix?: Uint8Array; observe?: (plaintext: Uint8Array) => void } = {},
): AsyncGenerator<Uint8Array> {
  checkDataKey(dataKey);
  const noncePrefix = options.noncePrefix ?? randomBytes(NONCE_PREFIX_BYTES);
  if (noncePrefix.length !== NONCE_PREFIX_BYTES) throw new Error('invariant violated: nonce prefix length');
  const header = makeHeader(noncePrefix);
  const reader = new ByteReader(plaintext);
  try {
    for (let index = 0; ; index++) {
      if (index >= MAX_SEGMENTS) {
        throw new StoreError('STORE_TOO_LARGE', 'The record is too large for one data key (2^32 segments).');
      }
      const capacity = plaintextCapacity(index);
      // One byte of look-ahead tells whether this segment is the last one.
      const buffered = await reader.fill(capacity + 1);
      const final = buffered <= capacity;
      const length = final ? buffered : capacity;
      yield* encryptSegment(dataKey, header, index, final, reader.take(length), options.observe);
      if (final) return;
    }
  } finally {
    await reader.close();
  }
}

/** Splits the last `n` bytes (the tag) off a segment given as pieces. */
function splitTag(pieces: Uint8Array[], length: number): { body: Uint8Array[]; tag: Uint8Array } {
  const bodyLength = length - SEGMENT_TAG_BYTES;
  const body: Uint8Array[] = [];
  const tagParts: Uint8Array[] = [];
  let offset = 0;
  for (const piece of pieces) {
    const end = offset + piece.length;
    if (end <= bodyLength) body.push(piece);
    else if (offset >= bodyLength) tagParts.push(piece);
    else {
      body.push(piece.subarray(0, bodyLength - offset));
      tagParts.push(piece.subarray(bodyLength - offset));
    }
    offset = end;
  }
  return { body, tag: concatPieces(tagParts, SEGMENT_TAG_BYTES) };
}

/** Opens one segment; its plaintext pieces, or null if it does not authenticate. */
function tryDecrypt(
  dataKey: Uint8Array,
  header: Uint8Array,
  index: number,
  final: boolean,
  segment: { body: Uint8Array[]; tag: Uint8Array },
): Uint8Array[] | null {
  try {
    const decipher = createDecipheriv('aes-256-gcm', dataKey, nonceFor(header, index), {
      authTagLength: SEGMENT_TAG_BYTES,
    });
    decipher.setAAD(aadFor(header, index, final));
    decipher.setAuthTag(segment.tag);
    const out = segment.body.map((piece) => plainBytes(decipher.update(piece)));
    const rest = decipher.final(); // throws unless the tag verifies: nothing is released before
    if (rest.length > 0) out.push(plainBytes(rest));
    return out;
  } catch {
    return null;
  }
}

function readHeader(pieces: Uint8Array[]): Uint8Array {
  const header = new Uint8Array(concatPieces(pieces, CIPHERTEXT_HEADER_BYTES));
  const magicOk = MAGIC.every((byte, i) => header[i] === byte);
  if (!magicOk) {
    throw new StoreError('STORE_CIPHERTEXT_FORMAT', 'The data is not a medledger record ciphertext.');
  }
  if (header[3] !== FORMAT_VERSION) {
    throw new StoreError(
      'STORE_CIPHERTEXT_FORMAT',
      `The record ciphertext has format version ${header[3]}, which this version does not read.`,
    );
  }
  if (header[4] !== 0 || header[5] !== 0 || header[6] !== 0 || header[7] !== 0) {
    throw new StoreError('STORE_CIPHERTEXT_FORMAT', 'The record ciphertext header has unknown flags set.');
  }
  return header;
}

/**
 * Decrypts a ciphertext stream made by encryptStream, yielding each segment's plaintext only after
 * its tag verified. Throws STORE_DECRYPT_FAILED (wrong key, altered or reordered bytes),
 * STORE_CIPHERTEXT_TRUNCATED or STORE_CIPHERTEXT_FORMAT; the caller owns (and zeroes) the key.
 */
export async function* decryptStream(
  ciphertext: ByteSource,
  dataKey: Uint8Array,
): AsyncGenerator<Uint8Array> {
  checkDataKey(dataKey);
  const reader = new ByteReader(ciphertext);
  try {
    const headerBytes = await reader.fill(CIPHERTEXT_HEADER_BYTES);
    if (headerBytes < CIPHERTEXT_HEADER_BYTES) {
      const start = concatPieces(reader.take(headerBytes), headerBytes);
      if (headerBytes > 0 && MAGIC.slice(0, headerBytes).every((byte, i) => start[i] === byte)) {
        throw new StoreError('STORE_CIPHERTEXT_TRUNCATED', 'The record ciphertext ends inside its header.');
      }
      throw new StoreError(
        'STORE_CIPHERTEXT_FORMAT',
        `The data (${headerBytes} bytes) is not a medledger record ciphertext.`,
      );
    }
    const header = readHeader(reader.take(CIPHERTEXT_HEADER_BYTES));
    for (let index = 0; ; index++) {
      const full = plaintextCapacity(index) + SEGMENT_TAG_BYTES;
      const buffered = await reader.fill(full + 1);
      const final = buffered <= full;
      const length = final ? buffered : full;
      if (length < SEGMENT_TAG_BYTES) {
        throw new StoreError(
          'STORE_CIPHERTEXT_TRUNCATED',
          `The record ciphertext ends inside segment ${index} (${length} bytes, shorter than its tag).`,
        );
      }
      const segment = splitTag(reader.take(length), length);
      const plaintext = tryDecrypt(dataKey, header, index, final, segment);
      if (plaintext === null) throw diagnose(dataKey, header, index, final, segment);
      for (const piece of plaintext) if (piece.length > 0) yield piece;
      if (final) return;
    }
  } finally {
    await reader.close();
  }
}

/** Explains a failed segment: a probe with the other final flag tells truncation from tampering. */
function diagnose(
  dataKey: Uint8Array,
  header: Uint8Array,
  index: number,
  final: boolean,
  segment: { body: Uint8Array[]; tag: Uint8Array },
): StoreError {
  const other = tryDecrypt(dataKey, header, index, !final, segment);
  if (other !== null) {
    for (const piece of other) piece.fill(0);
    return final
      ? new StoreError(
          'STORE_CIPHERTEXT_TRUNCATED',
          `The record ciphertext ends after segment ${index}, which is not its final segment: it was truncated.`,
        )
      : new StoreError(
          'STORE_DECRYPT_FAILED',
          `Bytes follow the final segment (${index}) of the record ciphertext: it was extended.`,
        );
  }
  return new StoreError(
    'STORE_DECRYPT_FAILED',
    index === 0
      ? 'The record ciphertext does not decrypt with this data key (segment 0 failed authentication): ' +
          'the envelope belongs to another record, or the ciphertext was altered.'
      : `Segment ${index} of the record ciphertext failed authentication: it was altered or reordered.`,
  );
}

/** Opens an envelope to the record's data key; the caller zeroes it after use. */
export function openEnvelope(secretKey: Uint8Array, envelope: Uint8Array, context: Uint8Array): Uint8Array {
  let dataKey: Uint8Array;
  try {
    dataKey = openSealed(secretKey, envelope, context);
  } catch (cause) {
    if (cause instanceof MedledgerError && cause.code === 'CRYPTO_KEY_LENGTH') throw cause;
    throw new StoreError(
      'STORE_ENVELOPE_OPEN_FAILED',
      'The key envelope does not open with this secret key for this record: the key is not the ' +
        "envelope's recipient, the envelope belongs to another record, or it was altered.",
      { cause },
    );
  }
  if (dataKey.length !== DATA_KEY_BYTES) {
    dataKey.fill(0);
    throw new StoreError('STORE_ENVELOPE_OPEN_FAILED', 'The key envelope does not hold a record data key.');
  }
  return dataKey;
}

/**
 * Encrypts a record on the writer's client: a fresh data key, sealed to the patient and the
 * custodian with `context` (recordContext), and the plaintext streamed through encryptStream. The
 * data key is zeroed when the ciphertext has been read to its end, fails, is abandoned, or on
 * discard().
 */
export function encryptRecord(
  plaintext: ByteSource,
  recipients: RecordRecipients,
  context: Uint8Array,
): EncryptedRecord {
  const dataKey = randomBytes(DATA_KEY_BYTES);
  let envelopes: RecordEnvelopes;
  try {
    envelopes = {
      patient: seal(recipients.patient, dataKey, context),
      custodian: seal(recipients.custodian, dataKey, context),
    };
  } catch (error) {
    dataKey.fill(0);
    throw error;
  }
  const hash = createHash('sha256');
  let summary: EncryptionSummary | null = null;
  let started = false;
  async function* ciphertext(): AsyncGenerator<Uint8Array> {
    if (started) throw new Error('the ciphertext of an EncryptedRecord can be read only once');
    started = true;
    try {
      let plaintextBytes = 0;
      let ciphertextBytes = 0;
      const observe = (piece: Uint8Array) => {
        hash.update(piece);
        plaintextBytes += piece.length;
      };
      for await (const piece of encryptStream(plaintext, dataKey, { observe })) {
        ciphertextBytes += piece.length;
        yield piece;
      }
      summary = { plaintextBytes, plaintextSha256: plainBytes(hash.digest()), ciphertextBytes };
    } finally {
      dataKey.fill(0);
    }
  }
  return {
    envelopes,
    ciphertext: ciphertext(),
    summary() {
      if (summary === null) throw new Error('the ciphertext has not been read to its end yet');
      return summary;
    },
    discard() {
      dataKey.fill(0);
    },
  };
}

export interface DecryptRecordOptions {
  /** The reader's X25519 secret key (patient, custodian, or a reader the custodian re-wrapped for). */
  secretKey: Uint8Array;
  /** The envelope sealed to that key. */
  envelope: Uint8Array;
  /** The record's context, as the envelope was sealed with. */
  context: Uint8Array;
  /** The plaintext SHA-256 from the record's metadata: checked at the end of the stream. */
  expectedPlaintextSha256?: Uint8Array;
}

/**
 * Decrypts a record on the reader's client: opens the envelope, streams the ciphertext through
 * decryptStream and, when given, checks the plaintext hash at the end (STORE_PLAINTEXT_HASH_MISMATCH;
 * the caller must discard what it received). The data key is zeroed when the stream ends or fails.
 */
export async function* decryptRecord(
  ciphertext: ByteSource,
  options: DecryptRecordOptions,
): AsyncGenerator<Uint8Array> {
  const dataKey = openEnvelope(options.secretKey, options.envelope, options.context);
  try {
    const hash = options.expectedPlaintextSha256 ? createHash('sha256') : undefined;
    for await (const piece of decryptStream(ciphertext, dataKey)) {
      hash?.update(piece);
      yield piece;
    }
    if (hash && !hash.digest().equals(options.expectedPlaintextSha256!)) {
      throw new StoreError(
        'STORE_PLAINTEXT_HASH_MISMATCH',
        "The decrypted record does not match the plaintext hash in the record's metadata.",
      );
    }
  } finally {
    dataKey.fill(0);
  }
}

/**
 * Custodian re-wrap, run by the custodian's node for a committed read permit: opens the custodian's
 * envelope with the organisation's X25519 secret key and seals the data key to the reader's public
 * key with the same context. Only the 32-byte data key passes through memory (never any plaintext),
 * and it is zeroed before returning.
 */
export function rewrapForReader(
  custodianSecretKey: Uint8Array,
  custodianEnvelope: Uint8Array,
  readerPublicKey: Uint8Array,
  context: Uint8Array,
): Uint8Array {
  const dataKey = openEnvelope(custodianSecretKey, custodianEnvelope, context);
  try {
    return seal(readerPublicKey, dataKey, context);
  } finally {
    dataKey.fill(0);
  }
}
