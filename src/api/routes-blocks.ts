/**
 * Committed blocks, for the node's operator: one by height (GET /v1/blocks/{h}, optionally waiting
 * for it), or followed as they commit (GET /v1/blocks/stream).
 *
 * The stream is server-sent events (text/event-stream): one `block` event per height, in order, its
 * data the JSON of GET /v1/blocks/{h} and its id the height. It starts at `from`, or after the
 * Last-Event-ID a reconnecting client sends (which wins, as EventSource expects), or after the head;
 * it ends after `to` when given (a client reconnecting after `to` gets 204, which stops an
 * EventSource). A comment line goes out every HEARTBEAT_MS while no block does, so idle connections
 * stay open through proxies and a client can tell a quiet chain from a dead link.
 *
 * One signed request then serves every block, where a follower polling by height signs, sends and
 * has verified one request per block per node. Each API server holds at most MAX_BLOCK_STREAMS at
 * once (503 API_TOO_MANY_STREAMS beyond); a stream waits for its client to read (backpressure), so a
 * slow reader holds no more than its socket's buffer, and it is released as soon as its client goes.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { hex } from '../bytes.ts';
import { blockHash, RECEIPT_OK, txHash } from '../ledger/index.ts';
import type { ApiContext, Route } from './context.ts';
import { ApiError, intParam, send, sendStream } from './http.ts';
import type { ApiNode } from './ports.ts';

const MAX_WAIT_MS = 60_000;
const MAX_HEIGHT = 999_999_999_999_999;
/** How long a stream stays silent before it sends a comment line. */
export const HEARTBEAT_MS = 15_000;
/** Block streams one API server serves at once. */
export const MAX_BLOCK_STREAMS = 16;

/** A committed block with its certificate and receipts: from memory when recent, else read from disk. */
async function committedBlock(store: ApiNode['store'], height: number) {
  const recent = store.recent(height);
  if (recent) return { found: recent.block, certificate: recent.certificate, receipts: recent.receipts };
  const found = height <= store.head.height ? await store.block(height) : undefined;
  const [certificate, receipts] = found
    ? await Promise.all([store.certificate(height), store.receipts(height)])
    : [undefined, undefined];
  return { found, certificate, receipts };
}

/** The JSON of the committed block at `height` (GET /v1/blocks/{h}), or null while there is none. */
async function blockJson(node: ApiNode, height: number) {
  const { found, certificate, receipts } = await committedBlock(node.store, height);
  if (!found) return null;
  const header = found.header;
  const names = new Map(node.store.genesis.validators.map((v) => [hex(v.publicKey), v.name]));
  return {
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
    refused: (receipts ?? []).filter((receipt) => receipt.code !== RECEIPT_OK).length,
    // Which ones, by index in txs, with their receipt codes (load generators count them by kind).
    refusals: (receipts ?? []).flatMap((receipt, index) =>
      receipt.code === RECEIPT_OK ? [] : [{ index, code: receipt.code }],
    ),
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
  };
}

/** Open block streams per API server (its context is made once per server, in startApi). */
const OPEN_STREAMS = new WeakMap<ApiContext, number>();

/** The first height a stream sends: after Last-Event-ID, else `from`, else after the head. */
function firstHeight(node: ApiNode, req: IncomingMessage, url: URL): number {
  const last = req.headers['last-event-id'];
  if (typeof last === 'string' && last !== '') {
    if (!/^\d{1,15}$/.test(last))
      throw new ApiError(400, 'API_BAD_REQUEST', 'Last-Event-ID is not a block height');
    return Number(last) + 1;
  }
  return intParam(url, 'from', node.store.head.height + 1, MAX_HEIGHT)!;
}

/**
 * Resolves once the chain reaches `height`, after `wait_ms`, or when the client goes, whichever is
 * first. A promise per wait that lets go of the response's `close` when it settles: racing one
 * long-lived promise instead would keep a reaction per block on it for the stream's whole life.
 */
function heightOrClose(node: ApiNode, res: ServerResponse, height: number, wait_ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('close', done);
      resolve();
    };
    res.once('close', done);
    void node.waitForHeight(height, wait_ms).then(done);
  });
}

/** The stream's events: an opening comment, then each block from `first` to `last` (inclusive). */
async function* blockEvents(
  node: ApiNode,
  res: ServerResponse,
  first: number,
  last: number,
): AsyncGenerator<Uint8Array> {
  yield Buffer.from(`: blocks from height ${first}\n\n`);
  for (let height = first; height <= last && !res.destroyed; ) {
    if (node.store.head.height < height) {
      await heightOrClose(node, res, height, HEARTBEAT_MS);
      if (node.store.head.height < height) yield Buffer.from(': waiting\n\n');
      continue;
    }
    const block = await blockJson(node, height);
    // Committed blocks are never taken back; a missing one is a damaged store, which the scrubber reports.
    if (block === null) throw new Error(`committed block ${height} could not be read`);
    yield Buffer.from(`id: ${height}\nevent: block\ndata: ${JSON.stringify(block)}\n\n`);
    height++;
  }
}

export const blockRoutes: Route[] = [
  {
    method: 'GET',
    path: /^\/v1\/blocks\/stream$/,
    access: 'operator',
    async handle(ctx, req, res, _params, url) {
      const { node } = ctx;
      const first = firstHeight(node, req, url);
      const last = intParam(url, 'to', MAX_HEIGHT, MAX_HEIGHT)!;
      if (last < first) {
        // A client reconnecting after the last block it asked for: 204 tells an EventSource to stop.
        if (req.headers['last-event-id']) return void res.writeHead(204).end();
        throw new ApiError(400, 'API_BAD_REQUEST', `to (${last}) is below from (${first})`);
      }
      const open = OPEN_STREAMS.get(ctx) ?? 0;
      if (open >= MAX_BLOCK_STREAMS) {
        throw new ApiError(
          503,
          'API_TOO_MANY_STREAMS',
          `this node serves at most ${MAX_BLOCK_STREAMS} block streams at once; retry later`,
          { 'retry-after': '5' },
        );
      }
      OPEN_STREAMS.set(ctx, open + 1);
      try {
        await sendStream(res, 'text/event-stream', blockEvents(node, res, first, last), {
          'cache-control': 'no-store',
        });
      } finally {
        OPEN_STREAMS.set(ctx, (OPEN_STREAMS.get(ctx) ?? 1) - 1);
      }
    },
  },
  {
    method: 'GET',
    path: /^\/v1\/blocks\/(\d{1,15})$/,
    access: 'operator',
    async handle(ctx, _req, res, [heightText], url) {
      const height = Number(heightText);
      await ctx.node.waitForHeight(height, intParam(url, 'wait_ms', 0, MAX_WAIT_MS)!);
      const block = await blockJson(ctx.node, height);
      if (!block)
        throw new ApiError(404, 'API_BLOCK_NOT_FOUND', `no committed block at height ${height} (yet)`);
      send(res, 200, block);
    },
  },
];
