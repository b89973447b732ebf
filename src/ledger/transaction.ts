/** Signing, hashing and checking transactions. */
import { encode } from '../codec/index.ts';
import { sha256, sign, signingPublicKeyFrom, verify } from '../crypto/index.ts';
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

/** A transaction's id: SHA-256 of its canonical encoding, signature included. */
export function txHash(tx: Transaction): Uint8Array {
  return sha256(encode(Transaction, tx));
}

export function verifyTransactionSignature(tx: Transaction): boolean {
  return verify(tx.sender, signingPayload(tx), tx.signature);
}
