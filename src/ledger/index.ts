/** The ledger: transactions, blocks, certificates, receipts, genesis, the chain store and its verifier. */
export * from './block.ts';
export * from './certificate.ts';
export * from './genesis.ts';
export * from './indexes.ts';
export type { IndexKind } from './keys.ts';
export * from './merkle.ts';
export * from './peer-address.ts';
export * from './quorum.ts';
export * from './state-root.ts';
export * from './store.ts';
export * from './transaction.ts';
export * from './types.ts';
export * from './verify.ts';
