/**
 * What the API needs of the node it serves, and nothing more: the routes work against these
 * interfaces, and the node's own classes (node/validator.ts, node/records.ts,
 * node/erasure-receipts.ts, node/refusal-log.ts) satisfy them by their shape. The daemon
 * (node/daemon.ts), the one place that wires the modules, hands them over; nothing in `api`
 * imports `node`.
 */
import type { Registry } from 'prom-client';
import type { Identity, RecordMeta } from '../contracts/index.ts';
import type { MedledgerError } from '../errors.ts';
import type { ErasureReceipt } from '../ledger/erasure-receipt.ts';
import type { ChainStore, Transaction } from '../ledger/index.ts';
import type { PeerState } from '../p2p/host.ts';

/**
 * A transport fault setting (PUT /v1/debug/faults): the node defines and applies it, the fault
 * parser the API is given reads it, and the API only passes it on and echoes it.
 */
export type FaultSetting = object;

/** Reads a fault setting from a request's JSON (the daemon passes node/config.ts `parseFaults`). */
export type FaultParser = (
  json: unknown,
  path: string,
  bad: (path: string, why: string) => MedledgerError,
) => FaultSetting;

/** Why the node takes no transaction now (503), or that it does. */
export type Accepting = { ok: true } | { ok: false; code: 'API_MEMPOOL_FULL' | 'API_BUSY'; message: string };

/** The validator node the API serves. */
export interface ApiNode {
  /** The committed chain and state. */
  readonly store: ChainStore;
  /** This node's index in the genesis validator set. */
  readonly validatorIndex: number;
  /** The p2p host: where it listens, and the peers it knows. */
  readonly host: { readonly addresses: string[]; peers(): PeerState[] };
  /** The node's Prometheus registry (GET /metrics; the API adds its own counters to it). */
  readonly metrics: { readonly registry: Registry };
  /** GET /v1/status, as JSON. */
  status(): object;
  /** GET /health/ready. */
  ready(): { ok: boolean; reason?: string };
  accepting(): Accepting;
  /** Why a submitted transaction cannot commit now (no quorum of connected peers), or null. */
  noQuorum(): string | null;
  submit(tx: Transaction, options?: { signatureChecked?: boolean }): Uint8Array;
  /** Whether each transaction's signature verifies, in order: checked off the event loop. */
  checkSignatures(txs: readonly Transaction[]): Promise<boolean[]>;
  /**
   * Whether the node holds the transaction with this hash already, pending or committed. The hash
   * covers every byte, signature included, so such a transaction passed the checks when it came.
   */
  holds(hash: Uint8Array): boolean;
  waitForCommit(matches: (height: number, txs: Transaction[]) => boolean, wait_ms: number): Promise<void>;
  waitForHeight(height: number, wait_ms: number): Promise<void>;
  setFaults(faults: FaultSetting): void;
}

/** A committed, permitted read, checked against the rules now. */
export interface ReadGrant {
  record: RecordMeta;
  reader: Identity;
  emergency: boolean;
  /** The committed read transaction. */
  readTx: Uint8Array;
}

/** What a reader is handed: the key blob, and the validators' re-sealed shares unless the reader is the patient. */
export interface ReadKeys {
  keyBlob: Uint8Array;
  threshold: number;
  shares: {
    shares: Array<{ validator: string; index: number; sealed: Uint8Array }>;
    refused: Array<{ validator: string; code: string; message: string }>;
    unreachable: string[];
  } | null;
}

/** The node's record service: ciphertext and key blobs in, read permits served. */
export interface ApiRecords {
  /** This validator's X25519 public key. */
  readonly encryptionKey: Uint8Array;
  upload(source: AsyncIterable<Uint8Array>): Promise<{ cid: { toString(): string }; size: number }>;
  /** Who sent a committed transaction, and the record and patient of a record.read; null if not committed. */
  permitOf(
    readTx: Uint8Array,
  ): Promise<{ sender: string; record: string | null; patient: string | null } | null>;
  grantFor(readTx: Uint8Array): Promise<ReadGrant>;
  keysFor(grant: ReadGrant): Promise<ReadKeys>;
  reportFalseShares(
    readTx: Uint8Array,
    proofs: Array<{ index: number; opening: Uint8Array }>,
  ): Promise<{ punished: string[]; unproven: number[] }>;
  ciphertext(record: RecordMeta): AsyncIterable<Uint8Array>;
  /** Which validators released a share for each read (by its hex hash), and how many a read needs. */
  servedReads(readTxs: Uint8Array[]): Promise<{ threshold: number; releasedBy: Map<string, string[]> }>;
}

/** The validators' signed erasure receipts for a record, from this node and its connected peers. */
export interface ApiErasureReceipts {
  list(recordId: string): Promise<ErasureReceipt[]>;
}

/** A query for personal data refused with 403. */
export interface RefusedQuery {
  time_ms: number;
  actor: string;
  patient: string | null;
  record: string | null;
  route: string;
  code: string;
}

/** Where refused queries are kept, newest first. */
export interface ApiRefusals {
  add(refusal: RefusedQuery): Promise<void>;
  list(query: {
    by: 'time' | 'patient' | 'actor';
    id?: string;
    limit: number;
    cursor?: string | null;
  }): Promise<{ entries: RefusedQuery[]; cursor: string | null }>;
}
