/**
 * The node's HTTP API (bound to 127.0.0.1 unless configured otherwise; HTTPS when given a certificate
 * and key, node/api-tls.ts says when plain HTTP is allowed). Every error is JSON with a
 * stable code; request bodies are size-limited. src/api/openapi.json describes every route; it is
 * served at /openapi.json.
 *
 *   GET  /healthz, /readyz, /metrics, /openapi.json
 *   chain    (routes-chain.ts)    /v1/node, /v1/status, /v1/txs, /v1/txs/{hash}, /v1/chain/verify,
 *                                 PUT /v1/debug/faults (benchmarks only)
 *   blocks   (routes-blocks.ts)   /v1/blocks/{h}, /v1/blocks/stream (server-sent events)
 *   state    (routes-state.ts)    /v1/accounts/{key}, /v1/identities/{id}, /v1/orgs/{id}[/members],
 *                                 /v1/records/{id}, /v1/patients/{id}/{records,policies,requests},
 *                                 /v1/audit, /v1/audit/refusals
 *   records  (routes-records.ts)  POST /v1/blobs, /v1/reads/{tx}, /v1/reads/{tx}/content
 *   erasure  (routes-erasure.ts)  /v1/records/{id}/erasure (the validators' signed erasure receipts)
 *   fhir     (routes-fhir.ts)     /v1/fhir/AuditEvent, /v1/fhir/Consent (NDJSON exports)
 *   portal   (portal.ts)          /app, /app/* (the web portal's files; not part of the JSON API)
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { projectPath } from '../paths.ts';
import { authenticate } from './auth.ts';
import type { ApiContext, ApiEndpoint, ApiOptions, Route } from './context.ts';
import { ApiError, answerClientError, methodNotAllowed, send, sendError } from './http.ts';
import { isPortalPath, servePortal } from './portal.ts';
import { blockRoutes } from './routes-blocks.ts';
import { chainRoutes } from './routes-chain.ts';
import { erasureRoutes } from './routes-erasure.ts';
import { fhirRoutes } from './routes-fhir.ts';
import { recordRoutes } from './routes-records.ts';
import { stateRoutes } from './routes-state.ts';

export type { ApiContext, ApiEndpoint, ApiOptions } from './context.ts';

/** The API's certificate chain and private key (PEM): the API then serves HTTPS, TLS 1.2 or later. */
export interface ApiTlsOptions {
  cert: Buffer | string;
  key: Buffer | string;
}

/** The URL of a listening API; an IPv6 address goes in brackets (`http://[::1]:7480`). */
export function apiUrl(server: Server, secure: boolean): string {
  const address = server.address();
  if (typeof address !== 'object' || address === null) return '';
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `${secure ? 'https' : 'http'}://${host}:${address.port}`;
}

/** Every route of the JSON API (the portal's files and the probes are answered before these). */
export const API_ROUTES: readonly Route[] = [
  ...chainRoutes,
  ...blockRoutes,
  ...stateRoutes,
  ...recordRoutes,
  ...erasureRoutes,
  ...fhirRoutes,
];
const OPENAPI_PATH = projectPath('src/api/openapi.json');
/** The routes anyone may GET, unsigned, outside /v1. */
const OPEN_PATHS: ReadonlySet<string> = new Set(['/healthz', '/readyz', '/metrics', '/openapi.json']);

async function route(ctx: ApiContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  let url: URL;
  try {
    url = new URL(req.url ?? '/', 'http://localhost');
  } catch {
    throw new ApiError(400, 'API_BAD_REQUEST', 'malformed request URL');
  }
  if (OPEN_PATHS.has(url.pathname) && req.method !== 'GET')
    throw methodNotAllowed(req.method, url.pathname, ['GET']);
  if (req.method === 'GET' && url.pathname === '/healthz') return send(res, 200, { ok: true });
  if (req.method === 'GET' && url.pathname === '/readyz') {
    const ready = ctx.node.ready();
    return send(res, ready.ok ? 200 : 503, ready);
  }
  if (req.method === 'GET' && url.pathname === '/metrics') {
    const text = await ctx.node.metrics.registry.metrics();
    res.writeHead(200, { 'content-type': ctx.node.metrics.registry.contentType });
    res.end(text);
    return;
  }
  if (req.method === 'GET' && url.pathname === '/openapi.json' && existsSync(OPENAPI_PATH)) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(readFileSync(OPENAPI_PATH));
    return;
  }
  if (isPortalPath(url.pathname)) return servePortal(req, res, url.pathname);
  const allowed: string[] = [];
  for (const candidate of API_ROUTES) {
    const match = candidate.path.exec(url.pathname);
    if (!match) continue;
    if (candidate.method !== req.method) {
      allowed.push(candidate.method);
      continue;
    }
    const caller = await authenticate(ctx, req, candidate.access);
    return candidate.handle(ctx, req, res, match.slice(1), url, caller);
  }
  if (allowed.length > 0) throw methodNotAllowed(req.method, url.pathname, allowed);
  throw new ApiError(404, 'API_NOT_FOUND', `no route for ${req.method} ${url.pathname}`);
}

export async function startApi(
  ctx: Omit<ApiContext, 'options'>,
  host: string,
  port: number,
  options: ApiOptions & { tls?: ApiTlsOptions } = {},
  onError: (error: Error) => void = () => {},
): Promise<Server> {
  const { tls, ...apiOptions } = options;
  const context: ApiContext = { ...ctx, options: apiOptions };
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    route(context, req, res).catch((error) => sendError(res, error));
  };
  // An https.Server is an http.Server too (listen, close, address, timeouts).
  const server: Server = tls
    ? createHttpsServer({ cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2' }, handler)
    : createServer(handler);
  server.requestTimeout = 10 * 60_000; // uploads of large records stream for a while
  // A socket with no traffic for this long is closed (a client that stops reading a download).
  server.timeout = 2 * 60_000;
  // What Node's HTTP parser refuses (malformed requests, oversized headers) gets a JSON error too.
  server.on('clientError', answerClientError);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      // After listening, errors (e.g. EMFILE on accept) are logged by the caller, never fatal.
      server.on('error', onError);
      resolve();
    });
  });
  const fingerprint = tls
    ? new X509Certificate(tls.cert).fingerprint256.replaceAll(':', '').toLowerCase()
    : null;
  const endpoint: ApiEndpoint = { url: apiUrl(server, tls !== undefined), fingerprint };
  context.endpoint = endpoint;
  return server;
}
