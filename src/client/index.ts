/**
 * The medledger client: a typed HTTP client of a node's API, keystore unlocking, signed
 * transactions submitted and awaited, and the record flows (encrypt, upload, seal; read, decrypt).
 * Used by the operator CLI, benchmarks and tests.
 */
export type * from './api-types.ts';
export { checkWritable, writeFileAtomically } from './atomic-file.ts';
export {
  type AuditParams,
  DEFAULT_NODE_URL,
  NodeClient,
  type NodeClientOptions,
  type RefusalParams,
  type RequestSigner,
  type SubmitResult,
  type ValidatorKeys,
} from './http.ts';
export {
  createKeystore,
  describeKeys,
  hex,
  operatorSigner,
  type PublicKeys,
  parseHexKey,
  publicKeysFromArgument,
  unlockKeystore,
} from './keys.ts';
export { newPassphraseFor, PASSPHRASE_ENV, passphraseFor } from './passphrase.ts';
export { RecordCidHasher, recordCidOf } from './record-cid.ts';
export {
  checkFhirContent,
  checkRecordContent,
  FHIR_JSON,
  isFhirContentType,
  type RecordContent,
} from './record-content.ts';
export {
  type AddedRecord,
  type AddRecordInput,
  addRecord,
  type ReadRecordInput,
  type ReadRecordResult,
  readRecord,
} from './records.ts';
export {
  accountOf,
  COMMIT_TIMEOUT_MS,
  type Committed,
  createdIdOf,
  eventAttribute,
  requestSigner,
  signedClient,
  submitAndWait,
  submitSigned,
} from './submit.ts';
export { type ClientTls, normaliseFingerprint } from './tls.ts';
