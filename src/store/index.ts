/**
 * src/store: the built-in content-addressed store for encrypted records.
 *
 * - encryption.ts: client-side streaming envelope encryption, decryption and the custodian re-wrap
 * - blob-store.ts: the on-disk blob store (CIDv1 raw sha2-256, 1 MiB chunks under a manifest,
 *   atomic writes, verified reads, limits, references, erasure, gc); store-index.ts its LevelDB index
 * - manifest.ts: the manifest format; a record's CID is its manifest's CID
 * - replication.ts: the replication protocol, BlobTransport, BlobService and Replicator
 * - memory-transport.ts: an in-memory transport with fault injection (tests)
 *
 * How the pieces fit (who calls what):
 *
 *     writer's client   dataKey = random; ciphertext = encryptStream(file, dataKey)
 *                       { cid, size } = await node.putRecord(ciphertext)   (upload, POST /v1/blobs)
 *                       tx "record.add" with cid, size and the data key sealed to the patient and to
 *                       the custodian organisation, both under recordContext(chainId, cid). The sealed
 *                       keys are in the transaction, so they stay in the chain: erasure removes them
 *                       from state and deletes the ciphertext, which is what makes the record unreadable
 *     every node        on commit: addReference(recordId, cid) if it holds the manifest, else
 *                       replicator.replicate(recordId, cid, candidates) (announced holders first)
 *     custodian node    on a committed read permit: re-seals the custodian envelope to the reader
 *                       (src/node/record-keys.ts); the reader's node serves readRecord(cid)
 *     reader's client   decryptRecord(ciphertextStream, { secretKey, envelope, context,
 *                       expectedPlaintextSha256 })
 *     every node        on an erasure event: erase(recordId, cid); on onCorrupt: replicate again
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
