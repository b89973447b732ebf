/**
 * The bytes each decoded transaction arrived in (its canonical encoding: codec withReceivedBytes), by
 * transaction object. Hashing a transaction and checking its signature both need its encoding; a
 * received one is used as it came instead of being encoded again. Transactions are never changed
 * once built, so the bytes stay its encoding for as long as the object lives.
 *
 * Its own module, without imports, so that the schema (types.ts) can fill it and transaction.ts read it.
 */
const received = new WeakMap<object, Uint8Array>();

export function rememberTxBytes(tx: object, bytes: Uint8Array): void {
  received.set(tx, bytes);
}

/** The canonical encoding `tx` was decoded from; undefined for one built here. */
export function receivedTxBytes(tx: object): Uint8Array | undefined {
  return received.get(tx);
}
