/**
 * The ledger's data types and their canonical schemas: transactions, block headers, blocks, commit
 * certificates, receipts and state writes. Field order here IS the wire order: never reorder a field.
 */
import {
  bytes,
  type Infer,
  list,
  map,
  optional,
  str,
  struct,
  u32,
  u64,
  varBytes,
  withReceivedBytes,
} from '../codec/index.ts';
import { rememberTxBytes } from './tx-bytes.ts';

export const HASH_BYTES = 32;
export const PUBLIC_KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;

/** Bounds that decoding enforces; protocols may set tighter ones. */
export const LIMITS = {
  chainIdBytes: 64,
  txTypeBytes: 64,
  txBodyBytes: 64 * 1024,
  blockTxs: 20_000,
  blockBytes: 32 * 1024 * 1024,
  validators: 256,
  receiptCodeBytes: 64,
  receiptMessageBytes: 512,
  receiptEvents: 32,
  eventAttributes: 16,
  /** 255: attribute values double as index ids, stored behind a one-byte length. */
  eventAttributeBytes: 255,
  stateKeyBytes: 256,
  stateValueBytes: 1024 * 1024,
  blockWrites: 200_000,
} as const;

/**
 * The chain format, in every block header. 2: each genesis validator names its X25519
 * `encryptionKey` (committed with the genesis). A store of an earlier format is refused on open
 * (LEDGER_OLD_FORMAT), not migrated: its genesis commits to another document.
 */
export const BLOCK_VERSION = 2;

const hash = bytes(HASH_BYTES);
const publicKey = bytes(PUBLIC_KEY_BYTES);
const signature = bytes(SIGNATURE_BYTES);
const chainId = str(LIMITS.chainIdBytes);

/** What the sender signs: everything of a transaction but the signature. */
export const UnsignedTransaction = struct('UnsignedTransaction', {
  type: str(LIMITS.txTypeBytes),
  sender: publicKey,
  nonce: u64,
  chainId,
  body: varBytes(LIMITS.txBodyBytes),
});
export type UnsignedTransaction = Infer<typeof UnsignedTransaction>;

/** A decoded transaction keeps the bytes it arrived in, to be hashed and verified from (tx-bytes.ts). */
export const Transaction = withReceivedBytes(
  struct('Transaction', {
    ...UnsignedTransaction.fields,
    signature,
  }),
  rememberTxBytes,
);
export type Transaction = Infer<typeof Transaction>;

export const BlockHeader = struct('BlockHeader', {
  version: u32,
  chainId,
  height: u64,
  view: u64,
  /** Proposer-chosen; lets a primary distinguish otherwise identical proposals. 0 by default. */
  nonce: u64,
  /** Milliseconds since the Unix epoch, set by the proposer; never decreases along the chain. */
  timestamp: u64,
  prevHash: hash,
  txRoot: hash,
  /** Commitment to the state and receipts after executing this block (see state-root.ts). */
  stateRoot: hash,
  proposer: publicKey,
});
export type BlockHeader = Infer<typeof BlockHeader>;

export const Block = struct('Block', {
  header: BlockHeader,
  txs: list(Transaction, LIMITS.blockTxs),
});
export type Block = Infer<typeof Block>;

/** One validator's COMMIT signature over (chain id, height, view, block hash). */
export const CommitVote = struct('CommitVote', {
  validator: publicKey,
  signature,
});
export type CommitVote = Infer<typeof CommitVote>;

/** The signed payload of a COMMIT vote. */
export const CommitStatement = struct('CommitStatement', {
  chainId,
  height: u64,
  view: u64,
  blockHash: hash,
});
export type CommitStatement = Infer<typeof CommitStatement>;

/** A quorum of COMMIT votes for one block, votes sorted by validator key (one canonical form). */
export const CommitCertificate = struct('CommitCertificate', {
  height: u64,
  view: u64,
  blockHash: hash,
  votes: list(CommitVote, LIMITS.validators),
});
export type CommitCertificate = Infer<typeof CommitCertificate>;

export const ReceiptEvent = struct('ReceiptEvent', {
  type: str(LIMITS.txTypeBytes),
  attributes: map(str(32), str(LIMITS.eventAttributeBytes), LIMITS.eventAttributes),
});
export type ReceiptEvent = Infer<typeof ReceiptEvent>;

/** Stable code of a successful transaction; anything else is an error code from the rule engine. */
export const RECEIPT_OK = 'OK';

export const Receipt = struct('Receipt', {
  txHash: hash,
  code: str(LIMITS.receiptCodeBytes),
  message: str(LIMITS.receiptMessageBytes),
  events: list(ReceiptEvent, LIMITS.receiptEvents),
});
export type Receipt = Infer<typeof Receipt>;
export const Receipts = list(Receipt, LIMITS.blockTxs);

/** One state change: `value` null deletes the key. A block's writes are sorted by key, keys unique. */
export const StateWrite = struct('StateWrite', {
  key: varBytes(LIMITS.stateKeyBytes),
  value: optional(varBytes(LIMITS.stateValueBytes)),
});
export type StateWrite = Infer<typeof StateWrite>;
export const StateWrites = list(StateWrite, LIMITS.blockWrites);

/** Where a committed transaction lives. */
export const TxLocation = struct('TxLocation', { height: u64, index: u32 });
export type TxLocation = Infer<typeof TxLocation>;

/** The chain head as the store records it. */
export const Head = struct('Head', { height: u64, hash, stateRoot: hash });
export type Head = Infer<typeof Head>;
