/**
 * The API against inputs meant to hurt it, over one in-process validator (with its record store):
 * ids of any length or form get 400 API_BAD_ID (asked by a network admin, whose scope is everything;
 * unsigned, the request is refused before its ids are read), a body too large is answered (413,
 * Connection: close) before the connection closes, a batch is checked transaction by transaction,
 * each sender's submissions are bounded (429 API_RATE_LIMITED with Retry-After), what Node's HTTP
 * parser refuses still gets the JSON error shape, and a doctor's uploads are bounded by
 * api.maxUploadBytes.
 */
import type { Server } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SenderRateLimiter } from '../src/api/limits.ts';
import { type ApiOptions, startApi } from '../src/api/server.ts';
import { encode, list } from '../src/codec/index.ts';
import { contentDigest } from '../src/crypto/http-signature.ts';
import type { IdentityKeys } from '../src/crypto/index.ts';
import { LIMITS, Transaction, txHash } from '../src/ledger/index.ts';
import {
  hospitalWithDoctor,
  type RequestSigner,
  signedFetch,
  signedHeaders,
  signerOf,
} from './fixtures/signed.ts';
import {
  FAST_PARAMS,
  orgRegistrations,
  startValidators,
  type TestValidators,
} from './fixtures/validators.ts';

const TxBatch = list(Transaction, 4096);

let cluster: TestValidators;
const servers: Server[] = [];
let url = '';
/** A network admin (genesis admin 3, which no other test here signs with): sees everything. */
let admin: RequestSigner;
/** A doctor of a hospital registered for these tests: may upload. */
let doctor: IdentityKeys;

async function serve(options: ApiOptions = {}): Promise<{ url: string; port: number }> {
  const server = await startApi(
    { node: cluster.nodes[0]!, records: cluster.records[0]!, version: 'test' },
    '127.0.0.1',
    0,
    options,
  );
  servers.push(server);
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, port };
}

beforeAll(async () => {
  cluster = await startValidators(1, FAST_PARAMS, 4, { records: true });
  url = (await serve()).url;
  admin = signerOf(cluster.admins[3]!);
  ({ doctor } = await hospitalWithDoctor(url, cluster.admins[3]!, 'hardening-hospital'));
}, 60_000);

afterAll(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  await cluster?.close();
});

/** GET `path`, signed as the network admin unless `signer` is null. */
async function get(
  path: string,
  signer: RequestSigner | null = admin,
  at = url,
): Promise<{ status: number; body: any }> {
  const response = await signedFetch(`${at}${path}`, signer);
  const text = await response.text();
  return { status: response.status, body: text.startsWith('{') ? JSON.parse(text) : text };
}

/** `count` transactions from one admin (all with the same sender key), fresh nonces. */
function fromOneSender(admin: number, count: number, nonces = new Map<number, number>()): Transaction[] {
  return orgRegistrations({ genesis: cluster.genesis, admins: [cluster.admins[admin]!] }, count, nonces);
}

function postBatch(at: string, txs: Transaction[]) {
  return fetch(`${at}/v1/txs?batch=1`, { method: 'POST', body: encode(TxBatch, txs) });
}

/** Bytes written on a fresh TCP connection, and everything the server answers until it closes it. */
function rawExchange(
  port: number,
  write: (socket: ReturnType<typeof connect>) => void,
): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    socket.on('data', (data) => {
      text += data.toString('latin1');
    });
    socket.on('error', () => {}); // a reset after the answer: what matters is what was read
    socket.on('close', () => resolve({ text, closed: true }));
    socket.setTimeout(10_000, () => {
      socket.destroy();
      resolve({ text, closed: false });
    });
    write(socket);
  });
}

function parseRaw(text: string): { status: number; headers: Record<string, string>; body: any } {
  const end = text.indexOf('\r\n\r\n');
  const [statusLine, ...lines] = text.slice(0, end).split('\r\n');
  const headers = Object.fromEntries(
    lines.map((line) => [
      line.slice(0, line.indexOf(':')).toLowerCase(),
      line.slice(line.indexOf(':') + 1).trim(),
    ]),
  );
  return { status: Number(statusLine!.split(' ')[1]), headers, body: JSON.parse(text.slice(end + 4)) };
}

describe('API hardening', () => {
  it('an over-long or ill-formed id, in a query or a path, is a 400 API_BAD_ID', async () => {
    const long = 'a'.repeat(300);
    for (const path of [
      `/v1/audit?by=patient&id=${long}`, // was a 500
      `/v1/audit?by=record&id=${'x'.repeat(5000)}`, // was a 500
      `/v1/audit?by=actor&id=${'b'.repeat(65)}`,
      `/v1/audit?by=patient&id=a%2Fb`,
      `/v1/fhir/AuditEvent?patient=${long}`,
      `/v1/fhir/AuditEvent?actor=${long}`,
      `/v1/fhir/AuditEvent?org=${long}`,
      `/v1/fhir/Consent?patient=${long}`,
      `/v1/identities/${long}`,
      `/v1/orgs/${long}`,
      `/v1/records/${long}`,
      `/v1/records/${long}/erasure`,
      `/v1/patients/${long}/records`,
      `/v1/patients/a%20b/policies`,
      `/v1/patients/${long}/requests`,
    ]) {
      const { status, body } = await get(path);
      expect({ path: path.slice(0, 40), status, code: body.error?.code }).toEqual({
        path: path.slice(0, 40),
        status: 400,
        code: 'API_BAD_ID',
      });
      expect(body.error.message.length).toBeLessThan(200); // the id is not echoed back
    }
    // Well-formed ids still answer as before.
    expect((await get(`/v1/audit?by=patient&id=${'a'.repeat(64)}`)).body).toEqual({
      entries: [],
      cursor: null,
    });
    expect((await get('/v1/identities/nobody')).body.error.code).toBe('API_UNKNOWN_IDENTITY');
    expect((await get('/v1/audit?by=patient')).body.error.code).toBe('BAD_AUDIT_QUERY');
    // Unsigned, the request is refused before anything in it is read.
    for (const path of [`/v1/audit?by=patient&id=${long}`, `/v1/records/${long}`]) {
      const unsigned = await get(path, null);
      expect({ status: unsigned.status, code: unsigned.body.error.code }).toEqual({
        status: 401,
        code: 'API_UNSIGNED',
      });
    }
  });

  it('a body too large is answered with 413 and Connection: close before the connection closes', async () => {
    const { port } = new URL(url);
    const size = LIMITS.txBodyBytes + 1024 * 1024;
    const head = 'POST /v1/txs HTTP/1.1\r\nhost: x\r\nconnection: keep-alive\r\n';
    // Declared too large (answered before the body is read), and streamed chunked with no length
    // (refused as the limit passes, while the client is still sending).
    const declared = await rawExchange(Number(port), (socket) => {
      socket.write(`${head}content-length: ${size}\r\n\r\n`);
      socket.write(Buffer.alloc(size, 7));
    });
    const chunked = await rawExchange(Number(port), (socket) => {
      socket.write(`${head}transfer-encoding: chunked\r\n\r\n`);
      const chunk = Buffer.alloc(16 * 1024, 7);
      for (let sent = 0; sent < size; sent += chunk.length) {
        socket.write(`${chunk.length.toString(16)}\r\n`);
        socket.write(chunk);
        socket.write('\r\n');
      }
      socket.write('0\r\n\r\n');
    });
    for (const exchange of [declared, chunked]) {
      expect(exchange.closed).toBe(true);
      const reply = parseRaw(exchange.text);
      expect(reply.status).toBe(413);
      expect(reply.headers.connection).toBe('close');
      expect(reply.body.error.code).toBe('API_BODY_TOO_LARGE');
    }
    // A small body left unread by an early error (404) is dropped, and the connection carries on.
    const small = await rawExchange(Number(port), (socket) => {
      socket.write('POST /v1/nothing HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\n\r\nabc');
      socket.write('GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
    });
    expect(small.text.match(/HTTP\/1\.1 \d+/g)).toEqual(['HTTP/1.1 404', 'HTTP/1.1 200']);
    // fetch sees it too.
    const response = await fetch(`${url}/v1/txs`, { method: 'POST', body: new Uint8Array(size) });
    expect(response.status).toBe(413);
    expect(((await response.json()) as any).error.code).toBe('API_BODY_TOO_LARGE');
  });

  it('a batch checks every signature: bad ones are refused one by one with API_BAD_SIGNATURE', async () => {
    const txs = fromOneSender(0, 4);
    const forged = {
      ...txs[1]!,
      signature: Uint8Array.from(txs[1]!.signature, (b, i) => (i === 0 ? b ^ 1 : b)),
    };
    const otherChain = orgRegistrations(
      { genesis: { ...cluster.genesis, chainId: 'elsewhere' }, admins: [cluster.admins[1]!] },
      1,
    )[0]!;
    const response = await postBatch(url, [txs[0]!, forged, txs[2]!, otherChain, txs[3]!]);
    expect(response.status).toBe(202);
    const body = (await response.json()) as any;
    expect(body.results.map((r: any) => [r.index, r.accepted, r.error?.code ?? null])).toEqual([
      [0, true, null],
      [1, false, 'API_BAD_SIGNATURE'],
      [2, true, null],
      [3, false, 'API_WRONG_CHAIN'],
      [4, true, null],
    ]);
    // txHashes: the accepted ones, in order (what load generators read).
    expect(body.txHashes).toEqual([0, 2, 4].map((i) => body.results[i].txHash));
  });

  it("bounds each sender's submissions: 429 API_RATE_LIMITED with Retry-After, per transaction in a batch", async () => {
    // 2 tx/s per sender: a burst of 8.
    const limited = (await serve({ maxTxPerSenderPerSecond: 2 })).url;
    const nonces = new Map<number, number>();
    const busy = fromOneSender(0, 12, nonces);
    const other = fromOneSender(1, 3);
    const response = await postBatch(limited, [...busy.slice(0, 10), ...other]);
    expect(response.status).toBe(202);
    expect(Number(response.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const body = (await response.json()) as any;
    expect(body.results.map((r: any) => r.error?.code ?? 'accepted')).toEqual([
      ...Array(8).fill('accepted'),
      'API_RATE_LIMITED',
      'API_RATE_LIMITED',
      ...Array(3).fill('accepted'),
    ]);
    expect(body.txHashes).toHaveLength(11);
    // A batch refused whole for the bound is a 429, and so is a single submission.
    const whole = await postBatch(limited, busy.slice(10, 11));
    expect(whole.status).toBe(429);
    expect(whole.headers.get('retry-after')).toBe('1');
    expect(((await whole.json()) as any).error.code).toBe('API_RATE_LIMITED');
    const single = await fetch(`${limited}/v1/txs`, { method: 'POST', body: encode(Transaction, busy[11]!) });
    expect(single.status).toBe(429);
    expect(single.headers.get('retry-after')).toBe('1');
    expect(((await single.json()) as any).error.code).toBe('API_RATE_LIMITED');
    // Forged transactions in another sender's name take none of its tokens.
    const victim = fromOneSender(2, 9);
    const forged = victim.map((tx) => ({ ...tx, signature: new Uint8Array(64) }));
    const forgedReply = (await (await postBatch(limited, forged)).json()) as any;
    expect(forgedReply.results.every((r: any) => r.error?.code === 'API_BAD_SIGNATURE')).toBe(true);
    const real = (await (await postBatch(limited, victim.slice(0, 8))).json()) as any;
    expect(real.results.every((r: any) => r.accepted)).toBe(true);
  });

  it('a transaction the node holds already is accepted again and takes no token: a client resubmits what it has not seen commit', async () => {
    const limited = (await serve({ maxTxPerSenderPerSecond: 2 })).url;
    // Nonces far after the sender's committed ones: held in the mempool, pending for good.
    const pending = fromOneSender(1, 8, new Map([[0, 100]]));
    const first = (await (await postBatch(limited, pending)).json()) as any;
    expect(first.results.every((r: any) => r.accepted)).toBe(true); // the burst of 8, spent
    // At once: still queued for admission, or admitted, the node holds them either way.
    const node = cluster.nodes[0]!;
    expect(pending.every((tx) => node.holds(txHash(tx)))).toBe(true);
    const again = await postBatch(limited, pending);
    expect(again.status).toBe(202);
    const body = (await again.json()) as any;
    expect(body.results.map((r: any) => r.error?.code ?? 'accepted')).toEqual(Array(8).fill('accepted'));
    expect(body.txHashes).toEqual(first.txHashes);
    // A new transaction of the sender still needs a token.
    const next = fromOneSender(1, 1, new Map([[0, 108]]));
    expect((await postBatch(limited, next)).status).toBe(429);
  });

  it('the default bound leaves a benchmark-style batch (32 senders) alone', async () => {
    // As bench:cluster posts: 200 transactions round-robin over 32 keys, many batches at once.
    const many = await startValidators(1, FAST_PARAMS, 32);
    try {
      const server = await startApi({ node: many.nodes[0]!, version: 'test' }, '127.0.0.1', 0);
      servers.push(server);
      const at = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
      const txs = orgRegistrations(many, 4000);
      const replies = await Promise.all(
        Array.from({ length: 20 }, (_, k) => postBatch(at, txs.slice(k * 200, k * 200 + 200))),
      );
      const bodies = (await Promise.all(replies.map((r) => r.json()))) as any[];
      expect(replies.map((r) => r.status)).toEqual(Array(20).fill(202));
      expect(bodies.flatMap((b) => b.results).filter((r) => !r.accepted)).toEqual([]);
    } finally {
      await many.close();
    }
  }, 60_000);

  it("what Node's HTTP parser refuses gets the JSON error shape: 400 and 431", async () => {
    const port = Number(new URL(url).port);
    const junk = parseRaw((await rawExchange(port, (socket) => socket.write('HELLO THERE\r\n\r\n'))).text);
    expect(junk.status).toBe(400);
    expect(junk.headers['content-type']).toBe('application/json');
    expect(junk.body.error.code).toBe('API_MALFORMED_HTTP');
    const headers = `GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`;
    const big = parseRaw((await rawExchange(port, (socket) => socket.write(headers))).text);
    expect(big.status).toBe(431);
    expect(big.headers.connection).toBe('close');
    expect(big.body.error.code).toBe('API_HEADERS_TOO_LARGE');
    // An over-long URL is an oversized header too.
    const longUrl = await fetch(`${url}/v1/fhir/AuditEvent?actor=${'b'.repeat(20_000)}`);
    expect(longUrl.status).toBe(431);
    expect(((await longUrl.json()) as any).error.code).toBe('API_HEADERS_TOO_LARGE');
  });

  it("a doctor's uploads are bounded by api.maxUploadBytes while streaming (413 API_BODY_TOO_LARGE)", async () => {
    const small = (await serve({ maxUploadBytes: 1024 * 1024 })).url;
    const upload = (body: Uint8Array) =>
      signedFetch(`${small}/v1/blobs`, signerOf(doctor), { method: 'POST', body });
    const tooBig = await upload(new Uint8Array(3 * 1024 * 1024));
    expect(tooBig.status).toBe(413);
    const body = (await tooBig.json()) as any;
    expect(body.error.code).toBe('API_BODY_TOO_LARGE');
    expect(body.error.message).toContain('api.maxUploadBytes');
    // Streamed without a length, it is refused once past the limit, and what was stored goes again.
    const pieces = Array.from({ length: 48 }, (_, i) => new Uint8Array(64 * 1024).fill(i));
    async function* stream() {
      yield* pieces;
    }
    const headers = await signedHeaders(`${small}/v1/blobs`, signerOf(doctor), {
      method: 'POST',
      body: Buffer.concat(pieces),
    });
    expect(headers['content-digest']).toBe(contentDigest(Buffer.concat(pieces)));
    const streamed = await fetch(`${small}/v1/blobs`, {
      method: 'POST',
      headers,
      body: ReadableStreamFrom(stream()),
      duplex: 'half',
    } as RequestInit);
    expect(streamed.status).toBe(413);
    expect(((await streamed.json()) as any).error.code).toBe('API_BODY_TOO_LARGE');
    const fits = await upload(new Uint8Array(512 * 1024).fill(1));
    expect(fits.status).toBe(201);
    // Unsigned, nothing is taken.
    const unsigned = await fetch(`${small}/v1/blobs`, { method: 'POST', body: new Uint8Array(1024) });
    expect(unsigned.status).toBe(401);
    expect(((await unsigned.json()) as any).error.code).toBe('API_UNSIGNED');
  });
});

describe('the per-sender token bucket', () => {
  it('refills at its rate up to a burst of 4 s, and forgets full buckets', () => {
    let now = 0;
    const limiter = new SenderRateLimiter(10, () => now);
    expect(limiter.burst).toBe(40);
    for (let i = 0; i < 40; i++) expect(limiter.take('a')).toBe(0);
    expect(limiter.take('a')).toBe(100); // one token every 100 ms
    now += 250;
    expect(limiter.take('a')).toBe(0);
    expect(limiter.take('a')).toBe(0);
    expect(limiter.take('a')).toBeGreaterThan(0);
    expect(limiter.take('b')).toBe(0); // senders are independent
    for (let i = 0; i < 2000; i++) limiter.take(`s${i}`);
    now += 10_000; // every bucket full again
    limiter.take('late');
    expect(limiter.tracked).toBe(1);
  });
});

function ReadableStreamFrom(source: AsyncIterable<Uint8Array>): ReadableStream<Uint8Array> {
  const iterator = source[Symbol.asyncIterator]();
  return new ReadableStream({
    async pull(controller) {
      const { done, value } = await iterator.next();
      if (done) controller.close();
      else controller.enqueue(value);
    },
  });
}
