/**
 * Erasure receipts: a validator's signed statement that it deleted an erased record's ciphertext and
 * key blob. Anyone who knows the genesis validators can check one offline; with n − f of them, at
 * most f key shares can survive anywhere, fewer than the f + 1 that rebuild the record's key.
 *
 * This module holds only the canonical form and the signature (codec and crypto), so clients can
 * check receipts without loading the node; src/node/erasure-receipts.ts signs, stores and shares them.
 *
 * The signature is over DOMAIN ‖ encode(UnsignedErasureReceipt), the domain tag keeping it from ever
 * being taken for a transaction, a vote or anything else a validator key signs.
 */
import { bytesEqual } from '../bytes.ts';
import { bytes, encode, type Infer, str, struct, u64 } from '../codec/index.ts';
import { sign, signingPublicKeyFrom, verify } from '../crypto/index.ts';
import { HASH_BYTES, LIMITS, PUBLIC_KEY_BYTES, SIGNATURE_BYTES } from './types.ts';

/** The domain-separation tag every erasure receipt signature is made over. */
export const ERASURE_RECEIPT_DOMAIN = new TextEncoder().encode('medledger/erasure-receipt/v1\0');

/** The longest record id (contracts/ids.ts MAX_ID_BYTES; the ledger does not import contracts). */
const MAX_RECORD_ID_BYTES = 64;

const unsignedFields = {
  chainId: str(LIMITS.chainIdBytes),
  /** The erased record's id. */
  record: str(MAX_RECORD_ID_BYTES),
  /** The hash of the committed record.erase transaction. */
  eraseTx: bytes(HASH_BYTES),
  /** The signing validator's Ed25519 public key. */
  validator: bytes(PUBLIC_KEY_BYTES),
  /** Milliseconds since the epoch, on the validator's clock, when both blobs were gone. */
  erased_ms: u64,
};

export const UnsignedErasureReceipt = struct('UnsignedErasureReceipt', unsignedFields);
export type UnsignedErasureReceipt = Infer<typeof UnsignedErasureReceipt>;

export const ErasureReceipt = struct('ErasureReceipt', {
  ...unsignedFields,
  signature: bytes(SIGNATURE_BYTES),
});
export type ErasureReceipt = Infer<typeof ErasureReceipt>;

/** The bytes a receipt's signature covers. Throws a CodecError for a value outside the schema. */
export function erasureReceiptPayload(receipt: UnsignedErasureReceipt): Uint8Array {
  const { chainId, record, eraseTx, validator, erased_ms } = receipt;
  return Buffer.concat([
    ERASURE_RECEIPT_DOMAIN,
    encode(UnsignedErasureReceipt, { chainId, record, eraseTx, validator, erased_ms }),
  ]);
}

/** Signs a receipt as the validator whose Ed25519 secret key (32-byte seed) is `secretKey`. */
export function signErasureReceipt(
  unsigned: Omit<UnsignedErasureReceipt, 'validator'>,
  secretKey: Uint8Array,
): ErasureReceipt {
  const body: UnsignedErasureReceipt = { ...unsigned, validator: signingPublicKeyFrom(secretKey) };
  return { ...body, signature: sign(secretKey, erasureReceiptPayload(body)) };
}

/**
 * True only when `receipt` is for `chainId`, signed by one of `validatorKeys` (the genesis
 * validators' Ed25519 public keys), with a valid signature. Anything malformed gives false, never an
 * exception: receipts come from the network. Which record it is about is for the caller to check.
 */
export function verifyErasureReceipt(
  receipt: ErasureReceipt,
  chainId: string,
  validatorKeys: Iterable<Uint8Array>,
): boolean {
  try {
    if (receipt.chainId !== chainId) return false;
    if (!(receipt.validator instanceof Uint8Array) || receipt.validator.length !== PUBLIC_KEY_BYTES)
      return false;
    let member = false;
    for (const key of validatorKeys) {
      if (bytesEqual(key, receipt.validator)) {
        member = true;
        break;
      }
    }
    if (!member) return false;
    return verify(receipt.validator, erasureReceiptPayload(receipt), receipt.signature);
  } catch {
    return false;
  }
}
