/**
 * The JSON shapes the node's HTTP API answers with (src/api/json.ts: bytes as lowercase hex, unions
 * as objects with `kind`, absent optionals null). Field names are the rule engine's model's.
 */

import type {
  AccessRequest,
  AuditEntry,
  Identity,
  Organisation,
  Policy,
  RecordMeta,
  Subject,
} from '../contracts/index.ts';
import type { ChainReport } from '../ledger/verify.ts';
import type { NodeStatus } from '../node/validator.ts';

/** A model type as JSON: every byte string becomes a hex string. */
export type AsJson<T> = T extends Uint8Array
  ? string
  : T extends readonly (infer U)[]
    ? AsJson<U>[]
    : T extends object
      ? { [K in keyof T]: AsJson<T[K]> }
      : T;

export type IdentityJson = AsJson<Identity>;
export type OrganisationJson = AsJson<Organisation> & { encryptionKey: string };
export type RecordMetaJson = AsJson<RecordMeta>;
export type AuditEntryJson = Omit<AsJson<AuditEntry>, 'patient'> & {
  /** Null when withheld: shown to its actor, the entry of an access refused to a record they may not describe. */
  patient: string | null;
  /** With `served`, on permitted reads: who released a key share for it, and how many are needed. */
  served?: { releasedBy: string[]; needed: number; served: boolean };
};
export type AccessRequestJson = AsJson<AccessRequest>;
export type PolicyEntryJson = { subject: AsJson<Subject>; policy: AsJson<Policy> };

export interface NodeInfoJson {
  chainId: string;
  version: string;
  validator: { index: number; name: string; publicKey: string };
  /** The node's X25519 key: an organisation whose node this is uses it as its encryption key. */
  encryptionKey: string;
  /** The genesis validators in genesis order, with their Ed25519 and X25519 keys as hex. */
  validators: GenesisValidatorJson[];
  /** Where its p2p host listens, and the addresses genesis.json gives the others for it. */
  p2p: { listening: string[]; advertised: string[] };
  peers: PeerJson[];
  /** Where the API listens (`https://…` with TLS) and its certificate's SHA-256 fingerprint (hex, null: plain HTTP). */
  api: { url: string; fingerprint: string | null } | null;
}

/** A validator as the genesis names it (GET /v1/node). */
export interface GenesisValidatorJson {
  name: string;
  /** Its Ed25519 key: votes, p2p identity. */
  publicKey: string;
  /** Its node's X25519 key (chain format 2): a record's key shares are sealed to it. */
  encryptionKey: string;
}

/** One other validator (or observer) as the node sees it. */
export interface PeerJson {
  name: string;
  publicKey: string;
  peerId: string;
  connected: boolean;
  /** The remote address of the open connection. */
  address: string | null;
  /** Where the node dials it: its genesis addresses, or a [[peers]] override. */
  addresses: string[];
  /** ISO 8601 times; null while not connected, or before its first message. */
  connectedSince: string | null;
  lastMessageAt: string | null;
}

/** GET /v1/status: the node's own type. */
export type StatusJson = NodeStatus;

export interface ReceiptJson {
  code: string;
  message: string;
  events: Array<{ type: string; attributes: Record<string, string> }>;
}

export interface CommittedTxJson {
  txHash: string;
  height: number;
  index: number;
  receipt: ReceiptJson;
}

export interface TxJson extends CommittedTxJson {
  type: string;
  sender: string;
  nonce: number;
}

/** A committed block whole: its header, its transactions' hashes, and who certified it. */
export interface BlockJson {
  height: number;
  hash: string;
  version: number;
  chainId: string;
  timestamp: number;
  view: number;
  nonce: number;
  prevHash: string;
  txRoot: string;
  stateRoot: string;
  /** The proposer's validator key (zeros at height 0). */
  proposer: string;
  txs: string[];
  /** How many of `txs` the rule engine refused (committed with a receipt code other than OK). */
  refused: number;
  /** The refused ones: their index in `txs` and their receipt code. */
  refusals: Array<{ index: number; code: string }>;
  /** The commit certificate: the validators whose COMMIT signatures it holds (null at height 0). */
  certificate: {
    view: number;
    signers: Array<{ validator: string; name: string | null; signature: string }>;
  } | null;
}

export interface AccountJson {
  /** The last nonce the key used (0 before its first transaction). */
  nonce: number;
  identity: IdentityJson | null;
}

export interface AuditPageJson {
  entries: AuditEntryJson[];
  cursor: string | null;
}

/** A query for personal data the node refused (403 API_NOT_IN_SCOPE). */
export interface RefusedQueryJson {
  time_ms: number;
  actor: string;
  patient: string | null;
  record: string | null;
  route: string;
  code: string;
}

export interface RefusalPageJson {
  entries: RefusedQueryJson[];
  cursor: string | null;
}

export interface BlobJson {
  cid: string;
  size_bytes: number;
}

export interface ReadJson {
  record: RecordMetaJson;
  reader: string;
  emergency: boolean;
  /** The record's key blob (its CID is record.keyCid), hex. */
  keyBlob: string;
  /** How many true shares rebuild the data key. */
  threshold: number;
  /** Shares the validators re-sealed to the reader; empty for the patient, who opens the key blob. */
  shares: Array<{ validator: string; index: number; sealed: string }>;
  refused: Array<{ validator: string; code: string; message: string }>;
  unreachable: string[];
}

/** One validator's signed erasure receipt (GET /v1/records/{id}/erasure), bytes as hex. */
export interface ErasureReceiptJson {
  /** The validator's genesis name. */
  validator: string;
  /** Its Ed25519 key, which signed the receipt. */
  publicKey: string;
  /** The hash of the committed record.erase transaction. */
  eraseTx: string;
  /** The validator's clock when it had deleted both the ciphertext and the key blob. */
  erased_ms: number;
  signature: string;
}

/** GET /v1/records/{id}/erasure: the receipts gathered, and whether n − f of them are in. */
export interface ErasureJson {
  record: string;
  /** Whether the node's chain has committed the record's record.erase (erased_ms not null). */
  erased: boolean;
  erased_ms: number | null;
  /** n, the genesis validators. */
  validators: number;
  /** n − f: with that many receipts at most f key shares survive, fewer than rebuild the key. */
  needed: number;
  shredded: boolean;
  /** At most one per validator, in genesis order. */
  receipts: ErasureReceiptJson[];
}

export type ChainReportJson = ChainReport;
