/**
 * Routes about the chain itself: node identity and status, transaction submission (optionally
 * waiting for the receipt), transactions and blocks by id, online chain verification, and the
 * benchmark-only fault hook.
 */
import type { ServerResponse } from 'node:http';
import { decode, list } from '../codec/index.ts';
import { committedTxProblem } from '../contracts/index.ts';
import { MedledgerError } from '../errors.ts';
import { hex } from '../hex.ts';
import {
  blockHash,
  LIMITS,
  type Receipt,
  Transaction,
  txHash,
  verifyStore,
  verifyTransactionSignature,
} from '../ledger/index.ts';
import { parseFaults } from '../node/config.ts';
import type { TransportFaults, ValidatorNode } from '../node/validator.ts';
import type { PeerState } from '../p2p/host.ts';
import type { ApiContext, Route } from './context.ts';
import { ApiError, intParam, readBody, readJson, send } from './http.ts';

const MAX_TX_BYTES = LIMITS.txBodyBytes + 4096;
/** A batch submission (many small transactions in one request, for load generators) may be larger. */
const MAX_BATCH_BYTES = 8 * 1024 * 1024;
const MAX_WAIT_MS = 60_000;
const TxBatch = list(Transaction, 4096);

export function receiptJson(receipt: Receipt) {
  return {
    code: receipt.code,
    message: receipt.message,
    events: receipt.events.map((e) => ({ type: e.type, attributes: Object.fromEntries(e.attributes) })),
  };
}

async function committedTx(node: ValidatorNode, hash: Uint8Array) {
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
    receipt: receiptJson(receipt),
  };
}

/** 503 while the mempool is full or the node is behind; the client retries later. */
function refuseWhenBusy(node: ValidatorNode): void {
  const accepting = node.accepting();
  if (!accepting.ok) throw new ApiError(503, accepting.code, accepting.message);
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
  // Checked here so a client learns at once; the mempool checks (and remembers) it again.
  if (tx.chainId !== node.store.genesis.chainId) {
    throw new ApiError(400, 'API_WRONG_CHAIN', `the transaction is for chain ${tx.chainId}, not this one`);
  }
  if (!verifyTransactionSignature(tx)) {
    throw new ApiError(400, 'API_BAD_SIGNATURE', "the transaction's signature does not verify");
  }
  refuseWhenBusy(node);
  const hash = node.submit(tx);
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
  const committed = wait_ms > 0 ? await committedTx(node, hash) : undefined;
  if (committed) return send(res, 200, committed);
  send(res, 202, { txHash: hex(hash) });
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

export const chainRoutes: Route[] = [
  {
    method: 'GET',
    path: /^\/v1\/node$/,
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
      });
    },
  },
  {
    method: 'GET',
    path: /^\/v1\/status$/,
    async handle(ctx, _req, res) {
      send(res, 200, ctx.node.status());
    },
  },
  {
    method: 'POST',
    path: /^\/v1\/txs$/,
    async handle(ctx, req, res, _params, url) {
      if (url.searchParams.get('batch') !== '1') {
        return submit(ctx, res, await readBody(req, MAX_TX_BYTES), url);
      }
      // A batch for load generators: signatures are left to the mempool (checked once, there).
      let txs: Transaction[];
      try {
        txs = decode(TxBatch, await readBody(req, MAX_BATCH_BYTES), MAX_BATCH_BYTES);
      } catch (error) {
        malformed(error);
      }
      refuseWhenBusy(ctx.node);
      send(res, 202, { txHashes: txs.map((tx) => hex(ctx.node.submit(tx))) });
    },
  },
  {
    method: 'GET',
    path: /^\/v1\/txs\/([0-9a-f]{64})$/,
    async handle(ctx, _req, res, [hash]) {
      const found = await committedTx(ctx.node, Buffer.from(hash!, 'hex'));
      if (!found)
        throw new ApiError(404, 'API_TX_NOT_FOUND', 'no committed transaction with this hash (yet)');
      send(res, 200, found);
    },
  },
  {
    method: 'GET',
    path: /^\/v1\/blocks\/(\d{1,15})$/,
    async handle(ctx, _req, res, [heightText], url) {
      const { node } = ctx;
      const height = Number(heightText);
      await node.waitForHeight(height, intParam(url, 'wait_ms', 0, MAX_WAIT_MS)!);
      const found = height <= node.store.head.height ? await node.store.block(height) : undefined;
      if (!found)
        throw new ApiError(404, 'API_BLOCK_NOT_FOUND', `no committed block at height ${height} (yet)`);
      const header = found.header;
      const certificate = await node.store.certificate(height);
      const names = new Map(node.store.genesis.validators.map((v) => [hex(v.publicKey), v.name]));
      send(res, 200, {
        height,
        hash: hex(blockHash(header)),
        version: header.version,
        chainId: header.chainId,
        timestamp: header.timestamp,
        view: header.view,
        nonce: header.nonce,
        prevHash: hex(header.prevHash),
        txRoot: hex(header.txRoot),
        stateRoot: hex(header.stateRoot),
        proposer: hex(header.proposer),
        txs: found.txs.map((tx) => hex(txHash(tx))),
        // Height 0 has no certificate: the genesis file vouches for it.
        certificate: certificate
          ? {
              view: certificate.view,
              signers: certificate.votes.map((vote) => ({
                validator: hex(vote.validator),
                name: names.get(hex(vote.validator)) ?? null,
                signature: hex(vote.signature),
              })),
            }
          : null,
      });
    },
  },
  {
    method: 'GET',
    path: /^\/v1\/chain\/verify$/,
    async handle(ctx, _req, res) {
      send(res, 200, await verifyStore(ctx.node.store, committedTxProblem));
    },
  },
  {
    method: 'PUT',
    path: /^\/v1\/debug\/faults$/,
    async handle(ctx, req, res) {
      if (!ctx.options.faultInjection) {
        throw new ApiError(404, 'API_NOT_FOUND', 'fault injection is off on this node (api.faultInjection)');
      }
      let faults: TransportFaults;
      try {
        faults = parseFaults(await readJson(req, 64 * 1024), '$', (path, why) => {
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
