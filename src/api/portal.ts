/**
 * The web portal, served at /app on the API's address: the files `npm run build` bundles into
 * dist/portal (scripts/portal-bundle.ts). /app, /app/ and any /app/PATH without a file extension get
 * index.html (the page routes itself); /app/NAME.EXT gets that file, or 404. Every answer carries a
 * strict Content-Security-Policy (scripts and styles only from the node itself, no inline script,
 * no framing) and is revalidated before reuse (ETag, 304). Without a build the answer is 404
 * API_PORTAL_NOT_BUILT. The portal is a client of the JSON API like any other: it holds no secret.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { projectPath } from '../paths.ts';
import { ApiError, methodNotAllowed } from './http.ts';

export const PORTAL_PREFIX = '/app';
export const PORTAL_DIR = projectPath('dist/portal');

export const PORTAL_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
};

const SECURITY_HEADERS = {
  'content-security-policy': PORTAL_CSP,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
};

/** Whether a request path is the portal's. */
export function isPortalPath(pathname: string): boolean {
  return pathname === PORTAL_PREFIX || pathname.startsWith(`${PORTAL_PREFIX}/`);
}

/** Which file of the build a portal path names: a file at the top of dist/portal, or the page. */
function fileFor(pathname: string): string | null {
  const rest = pathname.slice(PORTAL_PREFIX.length).replace(/^\/+/, '');
  const last = rest.split('/').pop() ?? '';
  if (!/\.[a-z0-9]+$/i.test(last)) return 'index.html';
  return /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(rest) ? rest : null;
}

async function readIfExists(path: string): Promise<Buffer | null> {
  try {
    return await readFile(path);
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT' || (error as { code?: string }).code === 'EISDIR')
      return null;
    throw error;
  }
}

/** Answers GET and HEAD under /app from `dir` (dist/portal unless a test gives another). */
export async function servePortal(
  req: IncomingMessage,
  res: ServerResponse,
  pathname: string,
  dir = PORTAL_DIR,
): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD')
    throw methodNotAllowed(req.method, pathname, ['GET', 'HEAD']);
  const page = await readIfExists(join(dir, 'index.html'));
  if (page === null) {
    throw new ApiError(
      404,
      'API_PORTAL_NOT_BUILT',
      'The web portal is not built on this node: run `npm run build` in its installation, then reload.',
    );
  }
  const name = fileFor(pathname);
  const body = name === 'index.html' ? page : name === null ? null : await readIfExists(join(dir, name));
  if (body === null || name === null) {
    throw new ApiError(404, 'API_NOT_FOUND', `the portal has no file ${pathname}`);
  }
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
  const extension = name.slice(name.lastIndexOf('.'));
  const headers = {
    ...SECURITY_HEADERS,
    'content-type': CONTENT_TYPES[extension] ?? 'application/octet-stream',
    'cache-control': 'no-cache',
    etag,
  };
  if (req.headers['if-none-match'] === etag) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  res.writeHead(200, { ...headers, 'content-length': body.length });
  res.end(req.method === 'HEAD' ? undefined : body);
}
