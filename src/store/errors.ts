/** The store's one error type, with the stable codes a caller (node, API, CLI) can branch on. */
import { MedledgerError } from '../errors.ts';

export type StoreErrorCode =
  // blobs and records on disk
  | 'STORE_NOT_FOUND' // the blob (or a chunk of the record) is not on this node
  | 'STORE_CORRUPT_CHUNK' // the bytes on disk do not hash to their CID: quarantined and reported
  | 'STORE_CID_MISMATCH' // uploaded bytes do not match the CID they were declared under
  | 'STORE_SIZE_MISMATCH' // uploaded bytes do not match the declared size
  | 'STORE_TOO_LARGE' // a blob or record over the configured limit
  | 'STORE_BAD_CID' // not a CIDv1 raw sha2-256 CID, or not parsable
  | 'STORE_BAD_MANIFEST' // the blob named as a record is not a valid manifest
  | 'STORE_BAD_RECORD_ID' // empty, too long, or containing a NUL character
  | 'STORE_RECORD_ERASED' // the record was erased on this node; its content is never taken again
  | 'STORE_CONFIG' // invalid store options
  | 'STORE_LOCKED' // the store's index is open in another process
  | 'STORE_OPEN_FAILED' // the store directory or its index cannot be opened
  | 'STORE_CLOSED' // the store was closed
  | 'STORE_IO' // an unexpected file-system error
  // client-side encryption
  | 'STORE_ENVELOPE_OPEN_FAILED' // wrong secret key, or the envelope belongs to another record (context)
  | 'STORE_DECRYPT_FAILED' // a segment failed authentication: wrong data key, altered or reordered bytes
  | 'STORE_CIPHERTEXT_TRUNCATED' // the ciphertext ends before its final segment
  | 'STORE_CIPHERTEXT_FORMAT' // not a medledger record ciphertext (magic, version, header)
  | 'STORE_PLAINTEXT_HASH_MISMATCH' // decrypted fine, but not the plaintext the metadata names
  // replication
  | 'STORE_REPLICATION_FAILED' // no candidate peer served the record's blobs correctly
  | 'STORE_PEER_BUSY' // a peer refused a request because of its per-peer limits
  | 'STORE_TIMEOUT' // a peer did not answer in time
  | 'STORE_BAD_REQUEST'; // a peer's request is malformed or over the limits

export class StoreError extends MedledgerError {
  override readonly code: StoreErrorCode;

  constructor(code: StoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'StoreError';
    this.code = code;
  }
}

/** True when `error` is a StoreError with `code`. */
export function isStoreError(error: unknown, code?: StoreErrorCode): error is StoreError {
  return error instanceof StoreError && (code === undefined || error.code === code);
}
