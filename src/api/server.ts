/**
 * The node's HTTP API (bound to 127.0.0.1 unless configured otherwise). Every error is JSON with a
 * stable code; request bodies are size-limited.
 *
 *   GET  /healthz          200 while the process serves requests
 *   GET  /readyz           200 when connected to enough peers to commit, not changing view; else 503
 *   GET  /metrics          Prometheus metrics
 *   GET  /v1/status        head height, hash, state root, view, peers
 *   POST /v1/txs           a canonically encoded signed transaction (application/octet-stream)
 *   GET  /v1/txs/{hash}    a committed transaction's location and receipt (404 until committed)
 *   GET  /v1/blocks/{h}    a committed block's hash, time and transaction hashes; `?wait_ms=N` waits
 *                          up to N ms for it to commit (for followers and benchmarks)
 *   PUT  /v1/debug/faults  replace the node's transport faults (only with api.faultInjection set)
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { decode, list } from '../codec/index.ts';
import { MedledgerError } from '../errors.ts';
import { blockHash, LIMITS, Transaction, txHash } from '../ledger/index.ts';
import { parseFaults } from '../node/config.ts';
import type { TransportFaults, ValidatorNode } from '../node/validator.ts';

const MAX_BODY_BYTES = LIMITS.txBodyBytes + 4096;
/** A batch submission (many small transactions in one request) may be larger. */
const MAX_BATCH_BYTES = 8 * 1024 * 1024;
const TxBatch = list(Transaction, 4096);
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readBody(req: IncomingMessage, maxBytes: number): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) throw new ApiError(413, 'API_BODY_TOO_LARGE', `request body over ${maxBytes} bytes`);
    chunks.push(chunk as Buffer);
  }
  return new Uint8Array(Buffer.concat(chunks));
}

export interface ApiOptions {
  /** Serve PUT /v1/debug/faults, for benchmarks that inject transport faults into real processes. */
  faultInjection?: boolean;
}

async function route(
  node: ValidatorNode,
  options: ApiOptions,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (req.method === 'PUT' && url.pathname === '/v1/debug/faults' && options.faultInjection) {
    const body = await readBody(req, 64 * 1024);
    let faults: TransportFaults;
    try {
      faults = parseFaults(JSON.parse(Buffer.from(body).toString('utf8')), '$', (path, why) => {
        return new MedledgerError('API_BAD_REQUEST', `${path}: ${why}`);
      });
    } catch (error) {
      throw new ApiError(
        400,
        'API_BAD_REQUEST',
        `not a transport fault setting: ${(error as Error).message}`,
      );
    }
    node.setFaults(faults);
    return send(res, 200, { faults });
  }
  if (req.method === 'GET' && url.pathname === '/v1/status') return send(res, 200, node.status());
  if (req.method === 'GET' && url.pathname === '/healthz') return send(res, 200, { ok: true });
  if (req.method === 'GET' && url.pathname === '/readyz') {
    const ready = node.ready();
    return send(res, ready.ok ? 200 : 503, ready);
  }
  if (req.method === 'GET' && url.pathname === '/metrics') {
    const text = await node.metrics.registry.metrics();
    res.writeHead(200, { 'content-type': node.metrics.registry.contentType });
    res.end(text);
    return;
  }
  if (req.method === 'POST' && url.pathname === '/v1/txs') {
    // ?batch=1: a canonically encoded list of transactions, for load generators.
    const batch = url.searchParams.get('batch') === '1';
    const maxBytes = batch ? MAX_BATCH_BYTES : MAX_BODY_BYTES;
    let txs: Transaction[];
    try {
      const body = await readBody(req, maxBytes);
      txs = batch ? decode(TxBatch, body, maxBytes) : [decode(Transaction, body, maxBytes)];
    } catch (error) {
      if (error instanceof ApiError) throw error;
      const why = (error as Error).message;
      throw new ApiError(400, 'API_MALFORMED_TX', `not a canonically encoded transaction: ${why}`);
    }
    const hashes = txs.map((tx) => hex(node.submit(tx)));
    return send(res, 202, batch ? { txHashes: hashes } : { txHash: hashes[0] });
  }
  const match = /^\/v1\/txs\/([0-9a-f]{64})$/.exec(url.pathname);
  if (req.method === 'GET' && match) {
    const found = await node.store.transaction(Buffer.from(match[1]!, 'hex'));
    if (!found) throw new ApiError(404, 'API_TX_NOT_FOUND', 'no committed transaction with this hash (yet)');
    const { receipt } = found;
    return send(res, 200, {
      height: found.height,
      index: found.index,
      receipt: {
        code: receipt.code,
        message: receipt.message,
        events: receipt.events.map((e) => ({ type: e.type, attributes: Object.fromEntries(e.attributes) })),
      },
    });
  }
  const block = /^\/v1\/blocks\/(\d{1,15})$/.exec(url.pathname);
  if (req.method === 'GET' && block) {
    const height = Number(block[1]);
    const wait_ms = Math.min(Number(url.searchParams.get('wait_ms') ?? 0) || 0, 60_000);
    if (height > node.store.head.height && wait_ms > 0) await waitForHeight(node, height, wait_ms);
    const found = height <= node.store.head.height ? await node.store.block(height) : undefined;
    if (!found)
      throw new ApiError(404, 'API_BLOCK_NOT_FOUND', `no committed block at height ${height} (yet)`);
    return send(res, 200, {
      height,
      hash: hex(blockHash(found.header)),
      timestamp: found.header.timestamp,
      view: found.header.view,
      txs: found.txs.map((tx) => hex(txHash(tx))),
    });
  }
  throw new ApiError(404, 'API_NOT_FOUND', `no route for ${req.method} ${url.pathname}`);
}

function waitForHeight(node: ValidatorNode, height: number, wait_ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, wait_ms);
    const unsubscribe = node.onCommit((committed) => {
      if (committed >= height) done();
    });
    function done() {
      clearTimeout(timer);
      unsubscribe();
      resolve();
    }
  });
}

export async function startApi(
  node: ValidatorNode,
  host: string,
  port: number,
  options: ApiOptions = {},
): Promise<Server> {
  const server = createServer((req, res) => {
    route(node, options, req, res).catch((error) => {
      if (error instanceof ApiError)
        send(res, error.status, { error: { code: error.code, message: error.message } });
      else send(res, 500, { error: { code: 'API_INTERNAL', message: 'internal error' } });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}
