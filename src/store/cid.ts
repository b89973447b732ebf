/**
 * Content identifiers: IPFS-compatible CIDv1, raw codec (0x55), sha2-256 multihash (0x12, 32 bytes).
 * In binary a CID is 36 bytes (0x01 0x55 0x12 0x20 || digest); as a string it is base32 lower case
 * with the `b` multibase prefix (the multiformats default for v1), e.g. `bafkrei…`. Every blob of the
 * store (record chunks and manifests alike) is named this way, so any IPFS node could serve and
 * verify the same bytes under the same CID.
 */
import { createHash } from 'node:crypto';
import { CID } from 'multiformats/cid';
import * as raw from 'multiformats/codecs/raw';
import * as Digest from 'multiformats/hashes/digest';
import { bytesEqual, plainBytes } from '../bytes.ts';
import { StoreError } from './errors.ts';

export { CID };

export const RAW_CODEC = raw.code; // 0x55
export const SHA2_256_CODE = 0x12;
export const SHA2_256_BYTES = 32;
/** Length of a CIDv1 raw sha2-256 in binary form. */
export const CID_BYTES = 36;

/** A CID object, its string form, or its 36 binary bytes. */
export type CidLike = CID | string | Uint8Array;

/** SHA-256 of `bytes` on node:crypto (OpenSSL; SHA-NI where the CPU has it). */
export function sha256Digest(bytes: Uint8Array): Uint8Array {
  const digest = createHash('sha256').update(bytes).digest();
  return plainBytes(digest);
}

/** The CID of a digest computed elsewhere (e.g. by a streaming hash). */
export function cidFromDigest(digest: Uint8Array): CID {
  if (digest.length !== SHA2_256_BYTES) throw new Error('invariant violated: sha2-256 digest length');
  return CID.createV1(RAW_CODEC, Digest.create(SHA2_256_CODE, digest));
}

/** The CID of the concatenation of `pieces`, hashed piece by piece (nothing is copied). */
export function cidOfPieces(pieces: Uint8Array[]): CID {
  const hash = createHash('sha256');
  for (const piece of pieces) hash.update(piece);
  const digest = hash.digest();
  return cidFromDigest(plainBytes(digest));
}

/** The CID of `bytes`. */
export function cidOf(bytes: Uint8Array): CID {
  return cidFromDigest(sha256Digest(bytes));
}

/** True when `bytes` hash to `cid`'s digest. */
export function cidMatches(cid: CID, bytes: Uint8Array): boolean {
  return bytesEqual(sha256Digest(bytes), cid.multihash.digest);
}

/** Parses and checks a CID: it must be CIDv1, raw codec, sha2-256 with a 32-byte digest. */
export function parseCid(input: CidLike): CID {
  let cid: CID | null;
  try {
    if (typeof input === 'string') cid = CID.parse(input);
    else if (input instanceof Uint8Array) cid = CID.decode(input);
    else cid = CID.asCID(input);
  } catch (cause) {
    throw new StoreError('STORE_BAD_CID', `${describe(input)} is not a valid CID.`, { cause });
  }
  if (cid === null) throw new StoreError('STORE_BAD_CID', `${describe(input)} is not a CID.`);
  if (
    cid.version !== 1 ||
    cid.code !== RAW_CODEC ||
    cid.multihash.code !== SHA2_256_CODE ||
    cid.multihash.size !== SHA2_256_BYTES
  ) {
    throw new StoreError(
      'STORE_BAD_CID',
      `${cid.toString()} is not a CIDv1 with the raw codec and a sha2-256 hash, the only kind this store holds.`,
    );
  }
  return cid;
}

function describe(input: unknown): string {
  if (typeof input === 'string') return JSON.stringify(input.length > 80 ? `${input.slice(0, 80)}…` : input);
  if (input instanceof Uint8Array) return `a ${input.length}-byte value`;
  return 'the value';
}

/** CID equality as a plain boolean (CID.equals is a type guard, which narrows badly when negated). */
export function sameCid(a: CID, b: CID): boolean {
  return a.equals(b);
}
