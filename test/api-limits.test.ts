/**
 * The API under pressure: a node whose mempool is full refuses further submissions with 503
 * API_MEMPOOL_FULL (the client retries later) instead of accepting what it will drop, and a
 * malformed request URL gets a JSON error rather than an internal one.
 */
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi } from '../src/api/server.ts';
import { encode } from '../src/codec/index.ts';
import { Transaction } from '../src/ledger/index.ts';
import {
  FAST_PARAMS,
  orgRegistrations,
  startValidators,
  type TestValidators,
} from './fixtures/validators.ts';

let cluster: TestValidators;
let api: Server;
let url = '';

beforeAll(async () => {
  cluster = await startValidators(4, { ...FAST_PARAMS, mempoolMaxTxs: 3 }, 1);
  // Alone, validator 0 cannot commit: whatever it admits stays in its mempool.
  for (const i of [1, 2, 3]) await cluster.stop(i);
  api = await startApi({ node: cluster.nodes[0]!, version: 'test' }, '127.0.0.1', 0);
  const address = api.address() as { port: number };
  url = `http://127.0.0.1:${address.port}`;
}, 60_000);

afterAll(async () => {
  api?.closeAllConnections();
  await new Promise((resolve) => api?.close(resolve));
  await cluster?.close();
});

describe('API limits', () => {
  it('a full mempool refuses submissions with 503 API_MEMPOOL_FULL', async () => {
    const statuses: number[] = [];
    let refusal: { error: { code: string } } | undefined;
    for (const tx of orgRegistrations(cluster, 5)) {
      const response = await fetch(`${url}/v1/txs`, { method: 'POST', body: encode(Transaction, tx) });
      statuses.push(response.status);
      if (response.status === 503) refusal = (await response.json()) as { error: { code: string } };
      else await response.arrayBuffer();
      await new Promise((resolve) => setTimeout(resolve, 50)); // let the node admit it
    }
    expect(statuses).toEqual([202, 202, 202, 503, 503]);
    expect(refusal?.error.code).toBe('API_MEMPOOL_FULL');
  });

  it('a malformed request URL is a JSON 400', async () => {
    const { request } = await import('node:http');
    const { port } = api.address() as { port: number };
    const reply = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '//[::1', method: 'GET' }, (res) => {
        let body = '';
        res.on('data', (chunk) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });
    expect(reply.status).toBeLessThan(500);
    expect(() => JSON.parse(reply.body)).not.toThrow();
  });
});
