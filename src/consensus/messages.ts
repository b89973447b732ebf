/**
 * Consensus messages: their canonical schemas and how each is signed and checked.
 *
 * Every protocol message but STATUS, TXS and the requests and answers for transactions (GET-BODIES,
 * BODIES, GET-TXS, BLOCK-TXS) is signed by the validator named in its `from` field (an index into
 * the genesis validator list). The signature covers a domain tag, the chain id, the message kind and
 * the canonical encoding of every field but the signature, so no signature can be replayed on
 * another chain or as another kind. Two exceptions: a PRE-PREPARE is signed over its block's hash
 * (the header commits to the transactions through txRoot), so the signed proposal can travel without
 * its transactions: inside VIEW-CHANGEs and NEW-VIEWs by header, and as a new proposal by the hashes
 * of its transactions (PROPOSAL); and COMMIT is signed as the ledger's commit statement, so a quorum
 * of COMMITs is, unchanged, the block's commit certificate. The unsigned messages need no signature:
 * the transport authenticates their sender, transactions carry their own signatures and are taken
 * only against hashes a signed header commits to, and nothing is decided on a STATUS alone.
 */
import {
  bool,
  bytes,
  encode,
  type Infer,
  list,
  type Schema,
  struct,
  type UnionOf,
  u32,
  u64,
  union,
} from '../codec/index.ts';
import { sign, verify } from '../crypto/index.ts';
import {
  Block,
  BlockHeader,
  blockHash,
  commitPayload,
  LIMITS,
  Transaction,
  txHash,
} from '../ledger/index.ts';

const hash = bytes(32);
const signature = bytes(64);
const from = u32;

export const MAX_VALIDATORS = LIMITS.validators;
/** Most prepared certificates a VIEW-CHANGE may carry (one per height in the log window). */
export const MAX_PREPARED = 4096;
/** Most transactions one TXS message may carry. */
export const MAX_FORWARDED_TXS = 1024;
/** Most proposal bodies one PROPOSALS request may ask for (and one answer carry). */
export const MAX_BODIES = 8;

export const PrePrepare = struct('PrePrepare', { from, view: u64, height: u64, block: Block, signature });
export type PrePrepare = Infer<typeof PrePrepare>;

/**
 * A PRE-PREPARE without its transactions: the signature holds for both (it covers the block hash).
 * VIEW-CHANGEs and NEW-VIEWs carry proposals in this form; a replica joins the body it holds, or
 * asks its peers for it (GET-BODIES), to take a re-proposal up.
 */
export const SignedProposal = struct('SignedProposal', {
  from,
  view: u64,
  height: u64,
  header: BlockHeader,
  signature,
});
export type SignedProposal = Infer<typeof SignedProposal>;

/** What a PRE-PREPARE's signature covers. */
const ProposalDigest = struct('ProposalDigest', { from, view: u64, height: u64, blockHash: hash });

export const Prepare = struct('Prepare', { from, view: u64, height: u64, blockHash: hash, signature });
export type Prepare = Infer<typeof Prepare>;

export const Commit = struct('Commit', { from, view: u64, height: u64, blockHash: hash, signature });
export type Commit = Infer<typeof Commit>;

export const Checkpoint = struct('Checkpoint', {
  from,
  height: u64,
  blockHash: hash,
  stateRoot: hash,
  signature,
});
export type Checkpoint = Infer<typeof Checkpoint>;

/** A checkpoint with a quorum of matching CHECKPOINT signatures (none for height 0, genesis). */
export const CheckpointProof = struct('CheckpointProof', {
  height: u64,
  blockHash: hash,
  stateRoot: hash,
  votes: list(Checkpoint, MAX_VALIDATORS),
});
export type CheckpointProof = Infer<typeof CheckpointProof>;

/**
 * A signed proposal with quorum - 1 matching PREPAREs from other validators, in the proposal's view,
 * as VIEW-CHANGEs carry it: by header, without the transactions.
 */
export const PreparedCert = struct('PreparedCert', {
  prePrepare: SignedProposal,
  prepares: list(Prepare, MAX_VALIDATORS),
});
export type PreparedCert = Infer<typeof PreparedCert>;

/** A prepared certificate with the whole PRE-PREPARE, as a replica keeps (and persists) its own. */
export const PreparedBlock = struct('PreparedBlock', {
  prePrepare: PrePrepare,
  prepares: list(Prepare, MAX_VALIDATORS),
});
export type PreparedBlock = Infer<typeof PreparedBlock>;

export const ViewChange = struct('ViewChange', {
  from,
  newView: u64,
  checkpoint: CheckpointProof,
  prepared: list(PreparedCert, MAX_PREPARED),
  signature,
});
export type ViewChange = Infer<typeof ViewChange>;

export const NewView = struct('NewView', {
  from,
  view: u64,
  viewChanges: list(ViewChange, MAX_VALIDATORS),
  prePrepares: list(SignedProposal, MAX_PREPARED),
  signature,
});
export type NewView = Infer<typeof NewView>;

/**
 * A replica's progress, broadcast periodically so laggards find out and catch up: the view it works
 * in (`changing`: it is changing from it to a later one) and its executed head.
 */
export const Status = struct('Status', { view: u64, changing: bool, height: u64, blockHash: hash });
export type Status = Infer<typeof Status>;

/** Client transactions, shared with every replica so a censoring primary is noticed and replaced. */
export const Txs = struct('Txs', { txs: list(Transaction, MAX_FORWARDED_TXS) });
export type Txs = Infer<typeof Txs>;

/**
 * A PRE-PREPARE that names its transactions by hash (the same signature: it covers the block hash,
 * and the header commits to the hashes through txRoot). Validators share every transaction they
 * admit, so a backup mostly holds a new proposal's transactions already: it builds the block from
 * its mempool and asks the proposer (GET-TXS) only for those it lacks. Only the proposer sends one.
 */
export const ProposalByHash = struct('ProposalByHash', {
  from,
  view: u64,
  height: u64,
  header: BlockHeader,
  txHashes: list(hash, LIMITS.blockTxs),
  signature,
});
export type ProposalByHash = Infer<typeof ProposalByHash>;

/** Asks for transactions of a proposal sent by hash: the block's hash and their places in it. */
export const GetTxs = struct('GetTxs', { blockHash: hash, indexes: list(u32, LIMITS.blockTxs) });
export type GetTxs = Infer<typeof GetTxs>;

/** The answer to GET-TXS: unsigned, each transaction counting only if its hash is one asked for. */
export const BlockTxs = struct('BlockTxs', { blockHash: hash, txs: list(Transaction, LIMITS.blockTxs) });
export type BlockTxs = Infer<typeof BlockTxs>;

/** Asks a peer for the transactions of proposals it holds (re-proposals of a NEW-VIEW), by block hash. */
export const GetBodies = struct('GetBodies', { hashes: list(hash, MAX_BODIES) });
export type GetBodies = Infer<typeof GetBodies>;

/** The answer to GET-BODIES: unsigned, each block checked against the signed header it completes. */
export const Bodies = struct('Bodies', { blocks: list(Block, MAX_BODIES) });
export type Bodies = Infer<typeof Bodies>;

export const ConsensusMessage = union('ConsensusMessage', {
  preprepare: PrePrepare,
  prepare: Prepare,
  commit: Commit,
  checkpoint: Checkpoint,
  viewchange: ViewChange,
  newview: NewView,
  status: Status,
  txs: Txs,
  getbodies: GetBodies,
  bodies: Bodies,
  proposal: ProposalByHash,
  gettxs: GetTxs,
  blocktxs: BlockTxs,
});
export type ConsensusMessage = UnionOf<{
  preprepare: typeof PrePrepare;
  prepare: typeof Prepare;
  commit: typeof Commit;
  checkpoint: typeof Checkpoint;
  viewchange: typeof ViewChange;
  newview: typeof NewView;
  status: typeof Status;
  txs: typeof Txs;
  getbodies: typeof GetBodies;
  bodies: typeof Bodies;
  proposal: typeof ProposalByHash;
  gettxs: typeof GetTxs;
  blocktxs: typeof BlockTxs;
}>;

export type SignedKind = 'preprepare' | 'prepare' | 'checkpoint' | 'viewchange' | 'newview';
export type SignedMessage = {
  preprepare: PrePrepare;
  prepare: Prepare;
  checkpoint: Checkpoint;
  viewchange: ViewChange;
  newview: NewView;
};

const schemas: { [K in SignedKind]: Schema<SignedMessage[K]> } = {
  preprepare: PrePrepare,
  prepare: Prepare,
  checkpoint: Checkpoint,
  viewchange: ViewChange,
  newview: NewView,
};

const DOMAIN = 'medledger/consensus/v1';
const ZERO_SIGNATURE = new Uint8Array(64);

/**
 * The bytes a signed message's signature covers: tag, chain id, kind, the message with a zero
 * signature; for a PRE-PREPARE, its digest (sender, view, height, block hash).
 */
export function signingBytes<K extends SignedKind>(
  chainId: string,
  kind: K,
  message: SignedMessage[K],
): Uint8Array {
  if (kind === 'preprepare') return proposalBytes(chainId, proposalOf(message as PrePrepare));
  const body = encode(schemas[kind], { ...message, signature: ZERO_SIGNATURE });
  return Buffer.concat([Buffer.from(`${DOMAIN}\0${chainId}\0${kind}\0`), body]);
}

/** The signed proposal of a PRE-PREPARE: the same signature, the header without the transactions. */
export function proposalOf(pp: PrePrepare): SignedProposal {
  const { from, view, height, signature } = pp;
  return { from, view, height, header: pp.block.header, signature };
}

/** A PRE-PREPARE as sent by hash (the receiver rebuilds it: assembly.ts). */
export function byHash(pp: PrePrepare): ProposalByHash {
  const { from, view, height, block, signature } = pp;
  return { from, view, height, header: block.header, txHashes: block.txs.map(txHash), signature };
}

/**
 * The form a validator sends a message in: a PRE-PREPARE by its transactions' hashes (PROPOSAL),
 * everything else as it is. A replica takes a PRE-PREPARE in either form.
 */
export function wireForm(message: ConsensusMessage): ConsensusMessage {
  return message.kind === 'preprepare' ? { kind: 'proposal', ...byHash(message) } : message;
}

/** Joins a signed proposal and a block with its header back into the PRE-PREPARE. */
export function withBody(proposal: SignedProposal, block: Block): PrePrepare {
  const { from, view, height, signature } = proposal;
  return { from, view, height, block, signature };
}

/** Signs a proposal of `header` (the PRE-PREPARE signature, without needing the transactions). */
export function signProposal(
  chainId: string,
  unsigned: Omit<SignedProposal, 'signature'>,
  secretKey: Uint8Array,
): SignedProposal {
  const bytes = proposalBytes(chainId, unsigned);
  return { ...unsigned, signature: sign(secretKey, bytes) };
}

export function verifyProposal(
  chainId: string,
  proposal: SignedProposal,
  validators: readonly Uint8Array[],
): boolean {
  const key = validators[proposal.from];
  return key !== undefined && verify(key, proposalBytes(chainId, proposal), proposal.signature);
}

function proposalBytes(chainId: string, p: Omit<SignedProposal, 'signature'>): Uint8Array {
  const { from, view, height } = p;
  const digest = encode(ProposalDigest, { from, view, height, blockHash: blockHash(p.header) });
  return Buffer.concat([Buffer.from(`${DOMAIN}\0${chainId}\0preprepare\0`), digest]);
}

export function signMessage<K extends SignedKind>(
  chainId: string,
  kind: K,
  unsigned: Omit<SignedMessage[K], 'signature'>,
  secretKey: Uint8Array,
): SignedMessage[K] {
  const message = { ...unsigned, signature: ZERO_SIGNATURE } as SignedMessage[K];
  return { ...message, signature: sign(secretKey, signingBytes(chainId, kind, message)) };
}

export function verifyMessage<K extends SignedKind>(
  chainId: string,
  kind: K,
  message: SignedMessage[K],
  validators: readonly Uint8Array[],
): boolean {
  const key = validators[message.from];
  return key !== undefined && verify(key, signingBytes(chainId, kind, message), message.signature);
}

/** COMMIT is signed as the ledger's commit statement: a quorum of them is a commit certificate. */
export function signCommitMessage(
  chainId: string,
  unsigned: Omit<Commit, 'signature'>,
  secretKey: Uint8Array,
): Commit {
  const payload = commitPayload({
    chainId,
    height: unsigned.height,
    view: unsigned.view,
    blockHash: unsigned.blockHash,
  });
  return { ...unsigned, signature: sign(secretKey, payload) };
}

export function verifyCommitMessage(
  chainId: string,
  message: Commit,
  validators: readonly Uint8Array[],
): boolean {
  const key = validators[message.from];
  if (key === undefined) return false;
  const payload = commitPayload({
    chainId,
    height: message.height,
    view: message.view,
    blockHash: message.blockHash,
  });
  return verify(key, payload, message.signature);
}
