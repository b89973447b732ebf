/**
 * Routes about the chain itself: node identity and status, transaction submission (optionally
 * waiting for the receipt), transactions by id, online chain verification, and the
 * benchmark-only fault hook.
 */
import type { ServerResponse } from 'node:http';
import { bytesEqual, fromHex, hex } from '../bytes.ts';
import { decode, list } from '../codec/index.ts';
import { NONCE_WINDOW, type SenderLookup, type SenderRefusal, senderRefusal } from '../consensus/mempool.ts';
import { committedTxProblem, type Identity, identityId, type StateReader } from '../contracts/index.ts';
import { rememberedSenderAccounts } from '../contracts/sender-account.ts';
import { MedledgerError } from '../errors.ts';
import { LIMITS, type Receipt, Transaction, txHash, verifyStore } from '../ledger/index.ts';
import type { PeerState } from '../p2p/host.ts';
import { requireOperator, requireSigner } from './auth.ts';
import type { ApiContext, Route } from './context.ts';
import { ApiError, intParam, parseJsonBody, readBody, send } from './http.ts';
import { DEFAULT_MAX_TX_PER_SENDER_PER_SECOND, SenderRateLimiter } from './limits.ts';
import type { ApiNode, FaultSetting } from './ports.ts';
import { refuse } from './refusals.ts';
import { patientWithheld } from './scopes.ts';

const MAX_TX_BYTES = LIMITS.txBodyBytes + 4096;
/** A batch submission (many small transactions in one request, for load generators) may be larger. */
const MAX_BATCH_BYTES = 8 * 1024 * 1024;
const MAX_WAIT_MS = 60_000;
const TxBatch = list(Transaction, 4096);

/**
 * A receipt as `viewer` sees it: whole for the node's operator; for anyone else (null: a caller not
 * known), an access decision names its patient only where scopes.patientWithheld allows.
 */
export function receiptJson(receipt: Receipt, state: StateReader, viewer: Identity | 'operator' | null) {
  const now_ms = Date.now();
  const attributesOf = (event: Receipt['events'][number]) => {
    const attributes = Object.fromEntries(event.attributes);
    if (event.type !== 'access.decided' || viewer === 'operator') return attributes;
    const access = {
      action: attributes.action ?? '',
      decision: attributes.decision ?? '',
      record: attributes.record ?? null,
    };
    if (!patientWithheld(state, viewer, access, now_ms)) return attributes;
    const { patient: _withheld, ...rest } = attributes;
    return rest;
  };
  return {
    code: receipt.code,
    message: receipt.message,
    events: receipt.events.map((e) => ({ type: e.type, attributes: attributesOf(e) })),
  };
}

async function committedTx(node: ApiNode, hash: Uint8Array, viewer: Identity | 'operator' | null) {
  const found = await node.store.transaction(hash);
  if (!found) return undefined;
  const { tx, receipt } = found;
  return {
    txHash: hex(hash),
    height: found.height,
    index: found.index,
    type: tx.type,
    sender: hex(tx.sender),
    nonce: tx.nonce,
    receipt: receiptJson(receipt, node.store.stateReader, viewer),
  };
}

/** 503 while the mempool is full or the node is behind; the client retries later. */
function refuseWhenBusy(node: ApiNode): void {
  const accepting = node.accepting();
  if (!accepting.ok) throw new ApiError(503, accepting.code, accepting.message);
}

/** Each API server's answers of senderAccount, remembered until the chain grows. */
const SENDER_ACCOUNTS = new WeakMap<ApiContext, SenderLookup>();

function senderAccountsOf(ctx: ApiContext): SenderLookup {
  let accounts = SENDER_ACCOUNTS.get(ctx);
  if (!accounts) {
    const { store } = ctx.node;
    accounts = rememberedSenderAccounts(store.stateReader, () => store.head.height);
    SENDER_ACCOUNTS.set(ctx, accounts);
  }
  return accounts;
}

/** Each API server's per-sender bound (its context is made once per server, in startApi). */
const RATE_LIMITERS = new WeakMap<ApiContext, SenderRateLimiter>();

function rateLimiterOf(ctx: ApiContext): SenderRateLimiter {
  let limiter = RATE_LIMITERS.get(ctx);
  if (!limiter) {
    limiter = new SenderRateLimiter(
      ctx.options.maxTxPerSenderPerSecond ?? DEFAULT_MAX_TX_PER_SENDER_PER_SECOND,
    );
    RATE_LIMITERS.set(ctx, limiter);
  }
  return limiter;
}

function rateLimited(limiter: SenderRateLimiter, wait_ms: number): ApiError {
  return new ApiError(
    429,
    'API_RATE_LIMITED',
    `this sender is over ${limiter.perSecond} transactions a second (burst ${limiter.burst}) on this node; retry in ${wait_ms} ms`,
    { 'retry-after': String(Math.max(1, Math.ceil(wait_ms / 1000))) },
  );
}

/** A submitted transaction, with what is known of it before it is accepted or refused. */
interface Submission {
  tx: Transaction;
  hash: Uint8Array;
  /** The node held it already when it came (see accept). */
  held: boolean;
  /** Whether its signature verifies; undefined when not checked (held, or for another chain). */
  signed?: boolean;
}

/**
 * The submissions of `txs`, their signatures checked where accept needs them: all at once, off the
 * event loop (the node's checkSignatures).
 */
async function submissions(ctx: ApiContext, txs: Transaction[]): Promise<Submission[]> {
  const { node } = ctx;
  const all: Submission[] = txs.map((tx) => {
    const hash = txHash(tx);
    return { tx, hash, held: node.holds(hash) };
  });
  const unchecked = all.filter((s) => !s.held && s.tx.chainId === node.store.genesis.chainId);
  const signed = await node.checkSignatures(unchecked.map((s) => s.tx));
  unchecked.forEach((s, i) => {
    s.signed = signed[i];
  });
  return all;
}

/**
 * What every new submitted transaction passes, alone or in a batch: the chain id and the signature,
 * checked here so a client learns at once; the mempool takes the signature as checked, not again.
 */
function checkSigned(ctx: ApiContext, submission: Submission): void {
  const { tx } = submission;
  if (tx.chainId !== ctx.node.store.genesis.chainId) {
    throw new ApiError(400, 'API_WRONG_CHAIN', `the transaction is for chain ${tx.chainId}, not this one`);
  }
  if (!submission.signed) {
    throw new ApiError(400, 'API_BAD_SIGNATURE', "the transaction's signature does not verify");
  }
}

/**
 * Takes a token of the sender's rate bound for a transaction that passed checkSigned, or refuses it
 * with 429 API_RATE_LIMITED. Only new transactions get here (see accept): no one can spend another
 * sender's bound, neither with transactions that sender did not sign nor by replaying its own.
 */
function takeToken(ctx: ApiContext, tx: Transaction): void {
  const limiter = rateLimiterOf(ctx);
  const wait_ms = limiter.take(hex(tx.sender));
  if (wait_ms > 0) throw rateLimited(limiter, wait_ms);
}

const SENDER_REFUSALS: Record<
  SenderRefusal,
  { status: number; code: string; why: (last: number) => string }
> = {
  unregistered: {
    status: 403,
    code: 'API_SENDER_NOT_REGISTERED',
    why: () => "the transaction's sender is not a registered identity's signing key",
  },
  stale: {
    status: 409,
    code: 'API_NONCE_STALE',
    why: (last) => `the sender's last committed nonce is ${last}: sign again with nonce ${last + 1} or later`,
  },
  'too-far': {
    status: 409,
    code: 'API_NONCE_TOO_FAR',
    why: (last) =>
      `the sender's last committed nonce is ${last}: a nonce may be at most ${NONCE_WINDOW} above it; retry once earlier ones commit`,
  },
};

/**
 * The mempool's sender rules (consensus/mempool.ts senderRefusal) against the committed state, so a
 * transaction that can never commit, or is too far ahead, is refused at once instead of accepted
 * and then dropped by every validator: the refusal, or null.
 */
function senderProblem(ctx: ApiContext, tx: Transaction): ApiError | null {
  const account = senderAccountsOf(ctx)(tx.sender);
  const refused = senderRefusal(account, tx.nonce);
  if (refused === null) return null;
  const { status, code, why } = SENDER_REFUSALS[refused];
  return new ApiError(status, code, why(account.nonce));
}

/**
 * Takes a submitted transaction, or throws the ApiError that says why not. One this node holds
 * already (pending or committed) is accepted as it is: a client resubmits what it has not seen
 * commit, and asks for a receipt by submitting a committed transaction again, and the same bytes
 * passed every check when they first came; so a resubmission costs a hash lookup, not a signature
 * check, and takes no token. A new one is checked (checkSigned, senderProblem), then takes a token
 * of its sender's bound, last, so that a transaction refused for any reason takes none. (One that
 * arrived by another way while its signature was checked takes a token too; the mempool finds it a
 * duplicate. One submitted here and still queued for admission is held: ValidatorNode.holds.)
 */
function accept(ctx: ApiContext, submission: Submission, how: { refuseWhenBusy: boolean }): void {
  const { node } = ctx;
  const { tx, hash } = submission;
  if (submission.held) return;
  checkSigned(ctx, submission);
  const problem = senderProblem(ctx, tx);
  if (problem) {
    // Its nonce looks used when the transaction itself committed while its signature was checked.
    if (node.holds(hash)) return;
    throw problem;
  }
  if (how.refuseWhenBusy) refuseWhenBusy(node);
  takeToken(ctx, tx);
  node.submit(tx, { signatureChecked: true });
}

function malformed(error: unknown): never {
  if (error instanceof ApiError) throw error;
  const why = (error as Error).message;
  throw new ApiError(400, 'API_MALFORMED_TX', `not a canonically encoded transaction: ${why}`);
}

async function submit(ctx: ApiContext, res: ServerResponse, body: Uint8Array, url: URL): Promise<void> {
  const { node } = ctx;
  let tx: Transaction;
  try {
    tx = decode(Transaction, body, MAX_TX_BYTES);
  } catch (error) {
    malformed(error);
  }
  const [submission] = await submissions(ctx, [tx]);
  const { hash } = submission!;
  accept(ctx, submission!, { refuseWhenBusy: true });
  // Accepted, but it cannot commit until the node is part of a quorum again: say so at once
  // rather than hold the caller in a long poll that is bound to time out.
  const noQuorum = node.noQuorum();
  if (noQuorum) {
    const warning = {
      code: 'API_NO_QUORUM',
      message: `accepted, but this node cannot commit now: ${noQuorum}`,
    };
    return send(res, 202, { txHash: hex(hash), warning });
  }
  const wait_ms = intParam(url, 'wait_ms', 0, MAX_WAIT_MS)!;
  if (!node.store.hasTxSync(hash)) {
    const wanted = hex(hash);
    await node.waitForCommit((_height, txs) => txs.some((tx) => hex(txHash(tx)) === wanted), wait_ms);
  }
  const committed = wait_ms > 0 ? await committedTx(node, hash, null) : undefined;
  if (committed) return send(res, 200, committed);
  send(res, 202, { txHash: hex(hash) });
}

type BatchResult =
  | { index: number; txHash: string; accepted: true }
  | { index: number; txHash: string; accepted: false; error: { code: string; message: string } };

/**
 * A batch (load generators): each transaction is accepted or refused on its own, as a single one is
 * (accept; the sender's bound is counted transaction by transaction within the batch), and the
 * answer says which. A batch refused whole for the rate bound is a 429, so that a simple client
 * backs off.
 */
async function submitBatch(ctx: ApiContext, res: ServerResponse, txs: Transaction[]): Promise<void> {
  const results: BatchResult[] = [];
  const txHashes: string[] = [];
  let limited: ApiError | undefined;
  for (const [index, submission] of (await submissions(ctx, txs)).entries()) {
    const { hash } = submission;
    try {
      accept(ctx, submission, { refuseWhenBusy: false });
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      if (error.code === 'API_RATE_LIMITED') limited = error;
      const refusal = { code: error.code, message: error.message };
      results.push({ index, txHash: hex(hash), accepted: false, error: refusal });
      continue;
    }
    txHashes.push(hex(hash));
    results.push({ index, txHash: hex(hash), accepted: true });
  }
  if (limited && results.every((r) => !r.accepted && r.error.code === 'API_RATE_LIMITED')) throw limited;
  send(res, 202, { txHashes, results }, limited ? { ...limited.headers } : {});
}

const isoOrNull = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function peerJson(peer: PeerState) {
  return {
    name: peer.name,
    publicKey: peer.publicKey,
    peerId: peer.peerId,
    connected: peer.connected,
    address: peer.remoteAddress,
    addresses: peer.addresses,
    connectedSince: isoOrNull(peer.connectedSince),
    lastMessageAt: isoOrNull(peer.lastMessageAt),
  };
}

/** Whether `caller` sent a transaction whose sender key is `senderHex`, before or after a key rotation. */
function sentBy(senderHex: string, caller: Identity): boolean {
  const sender = fromHex(senderHex);
  return bytesEqual(caller.signingKey, sender) || identityId(sender) === caller.id;
}

export const chainRoutes: Route[] = [
  {
    method: 'GET',
    path: /^\/v1\/node$/,
    access: 'open',
    async handle(ctx, _req, res) {
      const { node, records } = ctx;
      const genesis = node.store.genesis;
      const self = node.validatorIndex;
      send(res, 200, {
        chainId: genesis.chainId,
        version: ctx.version,
        validator: {
          index: self,
          name: genesis.validators[self]!.name,
          publicKey: hex(genesis.validators[self]!.publicKey),
        },
        encryptionKey: records ? hex(records.encryptionKey) : null,
        // The genesis validator set in order, with the X25519 keys a record's key shares are sealed to.
        validators: genesis.validators.map((v) => ({
          name: v.name,
          publicKey: hex(v.publicKey),
          encryptionKey: hex(v.encryptionKey),
        })),
        p2p: {
          listening: node.host.addresses,
          advertised: genesis.validators[self]!.addresses,
        },
        peers: node.host.peers().map(peerJson),
        // Where the API listens (https:// with TLS) and its certificate's SHA-256 fingerprint.
        api: ctx.endpoint ?? null,
      });
    },
  },
  {
    method: 'GET',
    path: /^\/v1\/status$/,
    access: 'open',
    async handle(ctx, _req, res) {
      send(res, 200, ctx.node.status());
    },
  },
  {
    method: 'POST',
    path: /^\/v1\/txs$/,
    access: 'open',
    async handle(ctx, req, res, _params, url) {
      if (url.searchParams.get('batch') !== '1') {
        return submit(ctx, res, await readBody(req, MAX_TX_BYTES), url);
      }
      let txs: Transaction[];
      try {
        txs = decode(TxBatch, await readBody(req, MAX_BATCH_BYTES), MAX_BATCH_BYTES);
      } catch (error) {
        malformed(error);
      }
      refuseWhenBusy(ctx.node);
      await submitBatch(ctx, res, txs);
    },
  },
  {
    method: 'GET',
    path: /^\/v1\/txs\/([0-9a-f]{64})$/,
    access: 'in-handler',
    async handle(ctx, req, res, [hash]) {
      // Its sender (who polls for it) or the operator: a receipt names patients and records.
      const caller = await requireSigner(ctx, req);
      const found = await committedTx(ctx.node, fromHex(hash!), caller);
      if (found && caller !== 'operator' && !sentBy(found.sender, caller)) {
        return refuse(ctx, req, caller, 'only its sender or the node operator sees a transaction');
      }
      if (!found)
        throw new ApiError(404, 'API_TX_NOT_FOUND', 'no committed transaction with this hash (yet)');
      send(res, 200, found);
    },
  },
  {
    method: 'GET',
    path: /^\/v1\/chain\/verify$/,
    access: 'operator',
    async handle(ctx, _req, res) {
      send(res, 200, await verifyStore(ctx.node.store, committedTxProblem));
    },
  },
  {
    method: 'PUT',
    path: /^\/v1\/debug\/faults$/,
    access: 'in-handler', // the operator's, over the body's digest
    async handle(ctx, req, res) {
      const { parseFaults } = ctx;
      if (!ctx.options.faultInjection || !parseFaults) {
        throw new ApiError(404, 'API_NOT_FOUND', 'fault injection is off on this node (api.faultInjection)');
      }
      const body = await readBody(req, 64 * 1024);
      await requireOperator(ctx, req, body);
      let faults: FaultSetting;
      try {
        faults = parseFaults(parseJsonBody(body), '$', (path, why) => {
          return new MedledgerError('API_BAD_REQUEST', `${path}: ${why}`);
        });
      } catch (error) {
        if (error instanceof ApiError) throw error;
        throw new ApiError(
          400,
          'API_BAD_REQUEST',
          `not a transport fault setting: ${(error as Error).message}`,
        );
      }
      ctx.node.setFaults(faults);
      send(res, 200, { faults });
    },
  },
];
