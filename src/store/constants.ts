/** Sizes shared by the encryption format, the blob store and replication. */

/** A record's ciphertext is stored as chunks of exactly this many bytes (the last one shorter). */
export const CHUNK_BYTES = 1024 * 1024;

/** The largest record the manifest format can describe: 16 GiB (16384 chunks). */
export const MAX_MANIFEST_CHUNKS = 16 * 1024;
export const MAX_RECORD_BYTES_LIMIT = MAX_MANIFEST_CHUNKS * CHUNK_BYTES;
