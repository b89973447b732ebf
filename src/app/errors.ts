/**
 * Errors a person understands: each stable code the portal can meet (the API's, the keystore's, the
 * rule engine's, the client library's) becomes a sentence saying what happened and what to do.
 * A refused transaction's receipt already carries the rule engine's sentence. Nothing shows a stack.
 */
import { CONTRACT_ERRORS } from '../contracts/errors.ts';

const SENTENCES: Record<string, string> = {
  KEYSTORE_WRONG_PASSPHRASE: 'The passphrase does not open this keystore. Check it and try again.',
  KEYSTORE_CORRUPT:
    'This file is not a medledger keystore, or it was damaged. Choose the keystore file you were given (often ending in .key).',
  KEYSTORE_UNSUPPORTED:
    'This keystore was written by another version of medledger and cannot be opened here.',
  KEYSTORE_TOO_LARGE: 'This file is far too large to be a medledger keystore.',
  NOT_REGISTERED:
    'This key is not registered on the network this node belongs to. Ask your hospital’s registrar to register you, or check that this is the right node.',
  NODE_UNREACHABLE:
    'The node does not answer. Check your connection, or that the node is running, and try again.',
  NODE_TIMEOUT: 'The node took too long to answer. Try again in a moment.',
  NODE_BAD_RESPONSE:
    'The node answered something this page did not expect. Reload the page; if it persists, tell the node’s operator.',
  TX_TIMEOUT:
    'The network did not confirm the request in time. It may still go through: reload in a minute to see.',
  API_NO_QUORUM: 'Too few of the network’s nodes are reachable to confirm anything now. Try again later.',
  API_MEMPOOL_FULL: 'The network is busy. Try again in a moment.',
  API_BUSY: 'The node is busy. Try again in a moment.',
  API_RATE_LIMITED: 'Too many requests in a short time. Wait a few seconds and try again.',
  API_SIGNATURE_STALE:
    'The node refused the request because this computer’s clock differs from the node’s. Set the clock right and try again.',
  API_SIGNATURE_REPLAYED: 'The request was sent twice. Try again.',
  API_SIGNATURE_INVALID: 'The node did not accept this browser’s signature. Sign out and sign in again.',
  API_BAD_SIGNATURE: 'The node did not accept this browser’s signature. Sign out and sign in again.',
  API_UNSIGNED: 'The request was not signed. Sign in again.',
  API_IDENTITY_INACTIVE: 'Your identity has been deactivated on the network. Contact your hospital.',
  API_NOT_AN_IDENTITY: 'This key is not a person’s identity on the network.',
  API_NOT_IN_SCOPE: 'You may not see this. The node has logged the refused request.',
  API_UNKNOWN_IDENTITY: 'No one with this id is registered on the network.',
  API_UNKNOWN_PATIENT: 'No patient with this id is registered on the network.',
  API_UNKNOWN_ORGANISATION: 'No organisation with this id is registered on the network.',
  API_UNKNOWN_RECORD: 'There is no such record.',
  API_READ_DENIED: 'The network refused this read. The refusal is in the access log.',
  API_READ_EXPIRED: 'This read permit is too old. Open the record again.',
  API_READ_REVOKED: 'The rules no longer allow this read. Open the record again.',
  API_RECORD_ERASED: 'This record’s content was erased. Only its description remains.',
  STORE_RECORD_ERASED: 'This record’s content was erased. Only its description remains.',
  API_KEY_SHARES_UNAVAILABLE:
    'Too few of the network’s nodes could release this record’s key just now. Try again in a minute.',
  API_BLOB_UNAVAILABLE:
    'The record’s encrypted content cannot be fetched from the network just now. Try again later.',
  API_READER_KEY_ROTATED: 'Your keys changed after this read was made. Open the record again.',
  KEY_SHARES_TOO_FEW:
    'Too few of the network’s nodes sent a valid piece of this record’s key. Try again in a minute.',
  BLOB_CID_MISMATCH:
    'The content the node sent does not match the record. It was not shown. Tell the node’s operator.',
  KEY_BLOB_INVALID: 'The record’s key does not match the record. It was not shown. Tell the node’s operator.',
  STORE_DECRYPT_FAILED: 'The record could not be decrypted: its content was altered. It was not shown.',
  STORE_CIPHERTEXT_TRUNCATED: 'The record’s content arrived incomplete. Try again.',
  STORE_CIPHERTEXT_FORMAT: 'The record’s content is not in a format this page reads.',
  CRYPTO_OPEN_FAILED: 'The record’s key could not be opened with your keys.',
  API_PORTAL_NOT_BUILT: 'The portal is not built on this node. Ask its operator to run npm run build.',
  API_INTERNAL: 'The node failed on this request. Try again; if it persists, tell the node’s operator.',
  DENIED:
    'The network denied this under the patient’s rules. The refusal is recorded on the chain and the patient sees it.',
  WRONG_ROLE: 'Your role on the network does not allow this.',
  REASON_REQUIRED: 'Give a reason: it is recorded on the chain and shown to the patient.',
  TOO_MANY_WINDOWS: 'You already have too many emergency accesses open on this patient.',
  UNKNOWN_PATIENT: 'No patient with this id is registered on the network. Check the id the patient gave you.',
  UNKNOWN_RECORD: 'There is no record with this id. Check it and try again.',
  API_BODY_TOO_LARGE: 'This file is larger than the node accepts for one record.',
  STORE_TOO_LARGE: 'This file is larger than the node accepts for one record.',
};

/** Codes whose message is already a sentence written for a person (the portal's own checks). */
const SPOKEN = new Set(['BAD_CONTENT_TYPE', 'FHIR_NOT_JSON', 'FHIR_TYPE_MISMATCH', 'FHIR_INVALID']);

/** What a person reads for `error`: a sentence, never a stack trace. */
export function explain(error: unknown): string {
  const code = codeOf(error);
  const message = error instanceof Error ? error.message : '';
  if (code !== undefined && SPOKEN.has(code) && message) return message;
  if (code !== undefined && SENTENCES[code]) return SENTENCES[code];
  // A refused transaction: the receipt's message is the rule engine's sentence (and its detail).
  if (code !== undefined && code in CONTRACT_ERRORS)
    return message || CONTRACT_ERRORS[code as keyof typeof CONTRACT_ERRORS];
  if (code !== undefined && message) return `${message.replace(/\.?$/, '.')} (${code})`;
  return 'Something went wrong on this page. Reload it and try again.';
}

export function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
