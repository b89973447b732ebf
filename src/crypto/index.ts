/** The crypto module's public surface: hashing, signatures, encryption, sealing and keystores. */
export * from './aead.ts';
export * from './ed25519.ts';
export * from './hash.ts';
export * from './keystore.ts';
export * from './seal.ts';
export * from './x25519.ts';
