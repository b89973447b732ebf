/** The PBFT consensus core: a pure state machine (replica.ts) and its messages, events and actions. */
export * from './mempool.ts';
export * from './messages.ts';
export * from './replica.ts';
export * from './types.ts';
export * from './view-change.ts';
