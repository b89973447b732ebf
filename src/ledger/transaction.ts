/** Signing, hashing and checking transactions. */
import { encode } from '../codec/index.ts';
import { sha256, sign, signingPublicKeyFrom, verify, verifyAsync } from '../crypto/index.ts';
import { DOMAIN } from './domain.ts';
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
  return Buffer.concat([DOMAIN.tx, encode(UnsignedTransaction, tx)]);
}

// A transaction is hashed by the mempool, proposal checks, execution and storage; transactions are
// never mutated once built, so the hash is remembered per object.
const hashes = new WeakMap<Transaction, Uint8Array>();

/** A transaction's id: SHA-256 of its canonical encoding, signature included. */
export function txHash(tx: Transaction): Uint8Array {
  let hash = hashes.get(tx);
  if (!hash) {
    hash = sha256(encode(Transaction, tx));
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
