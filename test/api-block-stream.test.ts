/**
 * GET /v1/blocks/stream over one in-process validator: a follower sees every committed block once,
 * in height order, the same JSON GET /v1/blocks/{h} gives, as the blocks commit; `to` ends the
 * stream; a reconnecting client's Last-Event-ID picks up after the last block it had (204 once past
 * `to`); bad heights get 400; the node serves a bounded number of streams (503
 * API_TOO_MANY_STREAMS) and frees a slot as soon as its client goes. The client's reader takes
 * heartbeats as life and gives up on a silent link (NODE_TIMEOUT), and refuses an event that is not
 * the block its id names.
 */
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_BLOCK_STREAMS } from '../src/api/routes-blocks.ts';
import { startApi } from '../src/api/server.ts';
import { hex } from '../src/bytes.ts';
import type { BlockJson } from '../src/client/api-types.ts';
import { blockEvents } from '../src/client/block-events.ts';
import { NodeClient } from '../src/client/http.ts';
import { encode } from '../src/codec/index.ts';
import { OPERATOR_KEY_ID } from '../src/crypto/http-signature.ts';
import { generateSigningKeyPair } from '../src/crypto/index.ts';
import { Transaction, txHash } from '../src/ledger/index.ts';
import { signedFetch } from './fixtures/signed.ts';
import {
  FAST_PARAMS,
  orgRegistrations,
  startValidators,
  type TestValidators,
} from './fixtures/validators.ts';

let cluster: TestValidators;
let server: Server;
let url = '';
const operatorKeys = generateSigningKeyPair();
const operator = { id: OPERATOR_KEY_ID, secretKey: operatorKeys.secretKey };
let client: NodeClient;
const nonces = new Map<number, number>();

beforeAll(async () => {
  cluster = await startValidators(1, FAST_PARAMS, 4);
  server = await startApi({ node: cluster.nodes[0]!, version: 'test' }, '127.0.0.1', 0, {
    operatorKey: operatorKeys.publicKey,
  });
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  client = new NodeClient(url, { operator });
}, 60_000);

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  await cluster?.close();
});

/** Submits `count` registrations, one request each; resolves with their hashes. */
async function submit(count: number): Promise<string[]> {
  const txs = orgRegistrations(cluster, count, nonces);
  for (const tx of txs) {
    const res = await fetch(`${url}/v1/txs`, { method: 'POST', body: encode(Transaction, tx) });
    expect(res.status, await res.text()).toBe(202);
  }
  return txs.map((tx) => hex(txHash(tx)));
}

/** Blocks from the stream until every hash in `wanted` was in one. */
async function until(stream: AsyncGenerator<BlockJson>, wanted: string[]): Promise<BlockJson[]> {
  const missing = new Set(wanted);
  const seen: BlockJson[] = [];
  // next(), not for-await: leaving a for-await loop would close the stream.
  while (missing.size > 0) {
    const { value: block, done } = await stream.next();
    if (done) throw new Error('the stream ended early');
    seen.push(block);
    for (const hash of block.txs) missing.delete(hash);
  }
  return seen;
}

/** A raw, signed stream request (to see status, headers and events as sent). */
function open(query: string, headers: Record<string, string> = {}, signal?: AbortSignal) {
  return signedFetch(`${url}/v1/blocks/stream${query}`, operator, { headers, signal });
}

describe('GET /v1/blocks/stream', () => {
  it('sends each committed block once, in order, as it commits, the same as GET /v1/blocks/{h}', async () => {
    const start = cluster.nodes[0]!.store.head.height + 1;
    const stop = new AbortController();
    const stream = client.followBlocks({ from: start, signal: stop.signal });
    const first = await submit(3);
    const seen = await until(stream, first);
    const later = await submit(2); // committed after the follower caught up: sent live
    seen.push(...(await until(stream, later)));
    stop.abort();
    expect(seen.map((b) => b.height)).toEqual(seen.map((_, k) => start + k));
    expect(seen.flatMap((b) => b.txs).sort()).toEqual([...first, ...later].sort());
    for (const block of seen) expect(block).toEqual(await client.block(block.height));
  });

  it('ends after `to`, and starts after the Last-Event-ID a reconnecting client sends', async () => {
    await submit(2);
    const head = cluster.nodes[0]!.store.head.height;
    expect(head).toBeGreaterThanOrEqual(3);
    const range = [];
    for await (const block of client.followBlocks({ from: 1, to: 3 })) range.push(block.height);
    expect(range).toEqual([1, 2, 3]);

    const res = await open('?from=0&to=3', { 'last-event-id': '1' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const text = await res.text();
    expect([...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]))).toEqual([2, 3]);

    // Reconnecting after the last block it asked for: 204, which tells an EventSource to stop.
    const done = await open('?to=3', { 'last-event-id': '3' });
    expect(done.status).toBe(204);
  });

  it('refuses heights that are not heights, and a range that ends before it starts', async () => {
    for (const [query, headers] of [
      ['?from=-1', {}],
      ['?from=abc', {}],
      ['?from=5&to=4', {}],
      ['', { 'last-event-id': 'x' }],
    ] as const) {
      const res = await open(query, headers);
      expect(res.status, query).toBe(400);
      expect(((await res.json()) as any).error.code).toBe('API_BAD_REQUEST');
    }
  });

  it(`serves at most ${MAX_BLOCK_STREAMS} streams at once and frees a slot when its client goes`, async () => {
    const far = cluster.nodes[0]!.store.head.height + 1_000_000;
    const controllers = Array.from({ length: MAX_BLOCK_STREAMS }, () => new AbortController());
    const streams = await Promise.all(controllers.map((c) => open(`?from=${far}`, {}, c.signal)));
    try {
      // Each answers at once (an opening comment) though no block is due for a long while.
      for (const res of streams) expect(res.status).toBe(200);
      const refused = await open(`?from=${far}`);
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('5');
      expect(((await refused.json()) as any).error.code).toBe('API_TOO_MANY_STREAMS');

      controllers[0]!.abort();
      let status = 0;
      for (let attempt = 0; attempt < 50 && status !== 200; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        const again = await open(`?from=0&to=0`);
        status = again.status;
        await again.text();
      }
      expect(status).toBe(200);
    } finally {
      for (const c of controllers) c.abort();
    }
  });
});

describe('a block stream read by the client', () => {
  /** A body that sends `chunks` (strings) `every_ms` apart, then stays open and silent. */
  function body(chunks: string[], every_ms: number): ReadableStream<Uint8Array> {
    let k = 0;
    return new ReadableStream({
      async pull(controller) {
        if (k >= chunks.length) return new Promise(() => {}); // silent from here on
        await new Promise((resolve) => setTimeout(resolve, every_ms));
        controller.enqueue(new TextEncoder().encode(chunks[k++]));
      },
    });
  }
  const event = (height: number) =>
    `id: ${height}\nevent: block\ndata: ${JSON.stringify({ height, txs: [] })}\n\n`;

  it('counts heartbeats as life, and gives up with NODE_TIMEOUT on a link that goes silent', async () => {
    const heartbeats = Array.from({ length: 8 }, () => ': waiting\n\n');
    const stream = blockEvents(body([...heartbeats, event(7)], 20), 'test', 100);
    const first = await stream.next(); // after 8 heartbeats 20 ms apart: 160 ms, beyond one idle period
    expect(first.value?.height).toBe(7);
    await expect(stream.next()).rejects.toMatchObject({ code: 'NODE_TIMEOUT' });
  });

  it('refuses an event whose data is not the block its id names', async () => {
    const lying = `id: 8\nevent: block\ndata: ${JSON.stringify({ height: 9, txs: [] })}\n\n`;
    await expect(blockEvents(body([lying], 1), 'test', 1000).next()).rejects.toMatchObject({
      code: 'NODE_BAD_RESPONSE',
    });
  });
});
