/** Bytes as lowercase hexadecimal, the form keys, hashes and ids take in JSON, logs and file names. */
export const hex = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
