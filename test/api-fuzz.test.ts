/**
 * The API under random requests, over one in-process validator with its record store: every route of
 * the OpenAPI document, with path and query values that are well-formed, ill-formed, over-long or
 * hostile, any method, and random bodies, sent unsigned or signed by a network admin, a doctor or a
 * key nobody registered. Whatever comes in, the answer is a status below 500 (or a 503 that names
 * its cause), every refusal is the JSON error shape with a stable code and a message that shows no
 * stack, path or internals, a 405 names the methods allowed, and the node keeps serving and
 * committing. `npm run fuzz:api` runs the
 * same with many more requests (MEDLEDGER_FUZZ_RUNS).
 */
import type { Server } from 'node:http';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import openapi from '../src/api/openapi.json' with { type: 'json' };
import { type ApiOptions, startApi } from '../src/api/server.ts';
import { generateIdentityKeys } from '../src/crypto/index.ts';
import { commit, hospitalWithDoctor, type RequestSigner, signedFetch, signerOf } from './fixtures/signed.ts';
import { FAST_PARAMS, startValidators, type TestValidators } from './fixtures/validators.ts';

const RUNS = Number(process.env.MEDLEDGER_FUZZ_RUNS ?? 300);
/** A request may wait this long (a block wait or the block stream); then it is cut, not failed. */
const REQUEST_TIMEOUT_MS = 3_000;
/** 503s that say why the node cannot answer now; any other 5xx is a failure. */
const UNAVAILABLE_CODES = new Set([
  'API_BLOB_UNAVAILABLE',
  'NODE_STOPPED',
  'API_MEMPOOL_FULL',
  'API_NO_QUORUM',
]);

let cluster: TestValidators;
let server: Server;
let url = '';
const signers: Array<RequestSigner | null> = [null];

beforeAll(async () => {
  cluster = await startValidators(1, FAST_PARAMS, 4, { records: true });
  server = await startApi(
    { node: cluster.nodes[0]!, records: cluster.records[0]!, version: 'test' },
    '127.0.0.1',
    0,
    {} satisfies ApiOptions,
  );
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const { doctor } = await hospitalWithDoctor(url, cluster.admins[3]!, 'fuzz-hospital');
  signers.push(signerOf(cluster.admins[3]!), signerOf(doctor), signerOf(generateIdentityKeys()));
}, 60_000);

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  await cluster?.close();
});

type Route = { method: string; template: string; query: string[] };

const ROUTES: Route[] = Object.entries(openapi.paths).flatMap(([template, operations]) =>
  Object.entries(operations as Record<string, { parameters?: Array<{ name?: string; in?: string }> }>).map(
    ([method, operation]) => ({
      method: method.toUpperCase(),
      template,
      query: (operation.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name!),
    }),
  ),
);

/** Values for a path or query parameter: mostly plausible, else ill-formed, over-long or hostile. */
const paramValue = fc.oneof(
  { weight: 3, arbitrary: fc.stringMatching(/^[0-9a-f]{64}$/) },
  { weight: 3, arbitrary: fc.stringMatching(/^[a-z0-9-]{1,40}$/) },
  { weight: 2, arbitrary: fc.constantFrom('0', '1', '10', '-1', '1e309', 'NaN', '18446744073709551616') },
  { weight: 1, arbitrary: fc.constantFrom('', ' ', 'null', 'true', '{}', '[]', '%00', '%ff', '%', '\u0000') },
  { weight: 1, arbitrary: fc.constantFrom('..', '../..', '%2e%2e', '<script>', "'; DROP") },
  { weight: 1, arbitrary: fc.string({ maxLength: 40, unit: 'grapheme' }) },
  { weight: 1, arbitrary: fc.string({ minLength: 300, maxLength: 5_000, unit: 'binary' }) },
);

const body = fc.oneof(
  fc.constant(undefined),
  fc.uint8Array({ maxLength: 2_048 }),
  fc.json({ maxDepth: 4 }).map((text) => new TextEncoder().encode(text)),
  fc
    .constantFrom('{', '{"a":', '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[', '"\\ud800"', '1e99999')
    .map((t) => new TextEncoder().encode(t)),
);

const request = fc.record({
  route: fc.constantFrom(...ROUTES),
  // Mostly the documented method; now and then another.
  method: fc.oneof(
    { weight: 4, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH') },
  ),
  params: fc.array(paramValue, { minLength: 4, maxLength: 4 }),
  query: fc.array(fc.tuple(fc.nat(8), paramValue), { maxLength: 4 }),
  contentType: fc.constantFrom(
    undefined,
    'application/json',
    'application/octet-stream',
    'text/plain',
    '*/*',
  ),
  body,
  signer: fc.nat(3),
});

type Sent = typeof request extends fc.Arbitrary<infer T> ? T : never;

function urlOf({ route, params, query }: Sent): string {
  let at = 0;
  const path = route.template.replace(/\{[^}]+\}/g, () => encodeURIComponent(params[at++ % params.length]!));
  const search = new URLSearchParams(
    query.map(([i, value]): [string, string] => [
      route.query[i % Math.max(1, route.query.length)] ?? `x${i}`,
      value,
    ]),
  );
  return `${url}${path}${search.size > 0 ? `?${search}` : ''}`;
}

/** What is wrong with the answer to one request, or null. */
async function send(sent: Sent): Promise<string | null> {
  const method = sent.method ?? (sent.route.method as 'GET' | 'POST' | 'PUT');
  const withBody = method !== 'GET' && sent.body !== undefined;
  const headers: Record<string, string> = sent.contentType ? { 'content-type': sent.contentType } : {};
  const target = urlOf(sent);
  let response: Response;
  try {
    response = await signedFetch(target, signers[sent.signer]!, {
      method,
      headers,
      ...(withBody ? { body: sent.body } : {}),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (error) {
    const waits = sent.route.query.includes('wait_ms') || sent.route.template.endsWith('/stream');
    if (waits && (error as Error).name === 'TimeoutError') return null;
    return `${method} ${target}: no answer (${String(error)})`;
  }
  if (response.status < 400) {
    await response.body?.cancel();
    return null;
  }
  const text = await response.text().catch(() => '');
  let code: unknown;
  let message: unknown;
  try {
    ({ code, message } = JSON.parse(text).error);
  } catch {
    return `${method} ${target}: ${response.status} without the JSON error shape: ${text.slice(0, 200)}`;
  }
  if (typeof code !== 'string' || !/^[A-Z][A-Z0-9_]+$/.test(code))
    return `${method} ${target}: ${response.status} with no stable code: ${text.slice(0, 200)}`;
  if (typeof message !== 'string' || /\n\s+at |node_modules|\/src\/|Error:/.test(message))
    return `${method} ${target}: ${response.status} ${code} shows internals: ${String(message).slice(0, 200)}`;
  if (response.status === 405 && !response.headers.get('allow'))
    return `${method} ${target}: 405 without the Allow header naming the methods allowed`;
  if (response.status >= 500 && !(response.status === 503 && UNAVAILABLE_CODES.has(code)))
    return `${method} ${target}: ${response.status} ${code}: ${message}`;
  return null;
}

describe('the API under random requests', () => {
  it(`answers each of ${RUNS} with a status below 500 or a named 503, refusals in the JSON shape with a stable code and no internals`, async () => {
    await fc.assert(
      fc.asyncProperty(request, async (sent) => {
        const problem = await send(sent);
        expect(problem).toBeNull();
      }),
      { numRuns: RUNS, seed: 20261205, endOnFailure: true },
    );
  }, 600_000);

  it('keeps serving and committing afterwards', async () => {
    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    const { receipt } = await commit(url, cluster.admins[3]!, 'org.register', {
      id: 'fuzz-after',
      kind: 'hospital',
      adminKey: generateIdentityKeys().signing.publicKey,
      encryptionKey: generateIdentityKeys().encryption.publicKey,
    });
    expect(receipt.code).toBe('OK');
  });
});
