/**
 * src/store: the built-in content-addressed store for encrypted records.
 *
 * - encryption.ts: client-side streaming encryption and decryption of a record's content
 * - key-blob.ts: the record's data key split among the validators (Shamir, threshold f + 1), each
 *   share sealed to one validator with a commitment, and sealed to the patient
 * - blob-store.ts: the on-disk blob store (CIDv1 raw sha2-256, 1 MiB chunks under a manifest,
 *   atomic writes, verified reads, limits, references, erasure, gc); store-index.ts its LevelDB index
 * - manifest.ts: the manifest format; a record's CID is its manifest's CID
 * - replication.ts: the replication protocol, BlobTransport, BlobService and Replicator
 * - memory-transport.ts: an in-memory transport with fault injection (tests)
 *
 * How the pieces fit (who calls what):
 *
 *     writer's client   dataKey = random; ciphertext = encryptStream(file, dataKey)
 *                       { cid } = upload(ciphertext); { keyCid } = upload(makeKeyBlob(dataKey, …))
 *                       tx "record.add" with cid, size and keyCid: no key material on chain
 *     every node        on commit: addReference for the ciphertext and the key blob if held, else
 *                       replicator.replicate(…) from peers, each checked against its CID
 *     each validator    on a committed, fresh read permit: resealShare(its share → the reader)
 *                       (src/node/key-shares.ts); the reader's node gathers them and the ciphertext
 *     reader's client   openReaderShare × t (each checked against its commitment), combineShares,
 *                       decryptStream, the CID checked; the patient opens openPatientKey instead
 *     every node        on an erasure event: erase the ciphertext and the key blob; on onCorrupt:
 *                       replicate again
 */
export {
  BlobStore,
  type BlobStoreOptions,
  type CorruptionReport,
  DEFAULTS as STORE_DEFAULTS,
  type EraseResult,
  type Expected,
  type GcResult,
  type StoredRecord,
  type StoreLimits,
} from './blob-store.ts';
export type { ByteSource } from './bytes.ts';
export { CID, CID_BYTES, type CidLike, cidOf, parseCid } from './cid.ts';
export { CHUNK_BYTES, MAX_RECORD_BYTES_LIMIT } from './constants.ts';
export {
  CIPHERTEXT_HEADER_BYTES,
  DATA_KEY_BYTES,
  type DecryptRecordOptions,
  decryptRecord,
  decryptStream,
  type EncryptedRecord,
  type EncryptionSummary,
  encryptRecord,
  encryptStream,
  openEnvelope,
  type RecordEnvelopes,
  type RecordRecipients,
  recordContext,
  rewrapForReader,
  SEGMENT_PLAINTEXT_BYTES,
  SEGMENT0_PLAINTEXT_BYTES,
} from './encryption.ts';
export { isStoreError, StoreError, type StoreErrorCode } from './errors.ts';
export {
  checkKeyBlob,
  combineShares,
  decodeKeyBlob,
  falseShareProof,
  KeyBlob,
  keyThreshold,
  MAX_KEY_BLOB_BYTES,
  makeKeyBlob,
  openOwnShare,
  openPatientKey,
  openReaderShare,
  provesFalseShare,
  resealShare,
  type ShareHolder,
} from './key-blob.ts';
export {
  decodeManifest,
  encodeManifest,
  MANIFEST_FORMAT,
  type Manifest,
  type ManifestChunk,
} from './manifest.ts';
export {
  MemoryNetwork,
  type MemoryPeerBehaviour,
} from './memory-transport.ts';
export {
  type BlobRequestMessage,
  BlobRequestSchema,
  type BlobResponseMessage,
  BlobResponseSchema,
  BlobService,
  type BlobServiceOptions,
  type BlobTransport,
  decodeBlobRequest,
  decodeBlobResponse,
  encodeBlobRequest,
  encodeBlobResponse,
  type FetchRequest,
  type FrameExchange,
  MAX_BLOB_FRAME_BYTES,
  type PeerFault,
  type PeerFaultKind,
  type PeerId,
  type ReplicationResult,
  Replicator,
  type ReplicatorOptions,
  transportOverFrames,
} from './replication.ts';
