/** Signing, hashing and checking transactions. */
import { encode } from '../codec/index.ts';
import { sha256, sign, signingPublicKeyFrom, verify, verifyAsync } from '../crypto/index.ts';
import { assert } from '../errors.ts';
import { DOMAIN } from './domain.ts';
import { receivedTxBytes } from './tx-bytes.ts';
import { Transaction, UnsignedTransaction } from './types.ts';

export function signTransaction(
  unsigned: Omit<UnsignedTransaction, 'sender'>,
  secretKey: Uint8Array,
): Transaction {
  const body: UnsignedTransaction = { ...unsigned, sender: signingPublicKeyFrom(secretKey) };
  const signature = sign(secretKey, signingPayload(body));
  return { ...body, signature };
}

export function signingPayload(tx: UnsignedTransaction): Uint8Array {
  const received = receivedTxBytes(tx);
  if (received) return payloadOfReceived(received);
  return Buffer.concat([DOMAIN.tx, encode(UnsignedTransaction, tx)]);
}

/** A signed transaction's wire form: an array of six fields, the signature (bin 8, 64 bytes) last. */
const SIGNED_HEADER = 0x96;
const UNSIGNED_HEADER = 0x95;
const SIGNATURE_FIELD = [0xc4, 64] as const;
const SIGNATURE_FIELD_BYTES = 2 + 64;

/**
 * The signing payload from a received transaction's bytes: the domain tag, then the unsigned
 * encoding, which is the signed one with one field fewer (a new array header) and the signature's
 * field left off. Struct fields are encoded in order, so it is a slice of the signed bytes.
 */
function payloadOfReceived(signed: Uint8Array): Uint8Array {
  const at = signed.length - SIGNATURE_FIELD_BYTES;
  assert(
    signed[0] === SIGNED_HEADER && signed[at] === SIGNATURE_FIELD[0] && signed[at + 1] === SIGNATURE_FIELD[1],
    'a received transaction has the signed form',
  );
  const payload = Buffer.allocUnsafe(DOMAIN.tx.length + at); // a Buffer, as the other branch gives
  payload.set(DOMAIN.tx);
  payload[DOMAIN.tx.length] = UNSIGNED_HEADER;
  payload.set(signed.subarray(1, at), DOMAIN.tx.length + 1);
  return payload;
}

// A transaction is hashed by the mempool, proposal checks, execution and storage; transactions are
// never mutated once built, so the hash is remembered per object.
const hashes = new WeakMap<Transaction, Uint8Array>();

/** A transaction's id: SHA-256 of its canonical encoding, signature included. */
export function txHash(tx: Transaction): Uint8Array {
  let hash = hashes.get(tx);
  if (!hash) {
    hash = sha256(receivedTxBytes(tx) ?? encode(Transaction, tx));
    hashes.set(tx, hash);
  }
  return hash;
}

export function verifyTransactionSignature(tx: Transaction): boolean {
  return verify(tx.sender, signingPayload(tx), tx.signature);
}

/** verifyTransactionSignature off the event loop, on libuv's thread pool. */
export function verifyTransactionSignatureAsync(tx: Transaction): Promise<boolean> {
  return verifyAsync(tx.sender, signingPayload(tx), tx.signature);
}
