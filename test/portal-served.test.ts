/**
 * The node serves the web portal at /app (src/api/portal.ts): the page, its bundle and stylesheet
 * from dist/portal with their content types, revalidation and a strict Content-Security-Policy; the
 * page for the portal's own paths; 404 for a file it does not have; API_PORTAL_NOT_BUILT when there
 * is no build. dist/portal is built first when `npm install` has not built it.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import * as esbuild from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPortal } from '../scripts/portal-bundle.ts';
import { sendError } from '../src/api/http.ts';
import { PORTAL_DIR, servePortal } from '../src/api/portal.ts';
import { startApi } from '../src/api/server.ts';
import { projectPath } from '../src/paths.ts';

let api: Server;
let url: string;

/** The `{error: {code, message}}` of a JSON error answer. */
async function errorOf(response: Response): Promise<{ code: string; message: string }> {
  return ((await response.json()) as { error: { code: string; message: string } }).error;
}

function urlOf(server: Server): string {
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  if (!existsSync(join(PORTAL_DIR, 'index.html'))) await buildPortal(esbuild.build);
  // The portal's routes need nothing of the node: they answer before any API route is matched.
  api = await startApi({ node: {} as never, version: 'test' }, '127.0.0.1', 0);
  url = urlOf(api);
});

afterAll(async () => {
  await new Promise((resolve) => api?.close(resolve));
});

describe('the portal served by the node at /app', () => {
  it('serves the page with a strict Content-Security-Policy and no inline script', async () => {
    for (const path of ['/app', '/app/', '/app/records/rec-1']) {
      const response = await fetch(`${url}${path}`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
      const csp = response.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("default-src 'self'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toContain('unsafe-inline');
      expect(csp).not.toContain('unsafe-eval');
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('cache-control')).toBe('no-cache');
      const html = await response.text();
      expect(html).toContain('<script type="module" src="/app/app.js"></script>');
      expect(html).toContain('href="/app/app.css"');
      // Every script element loads a file: none carries code inline.
      for (const tag of html.match(/<script\b[^>]*>[^<]*<\/script>/g) ?? []) {
        expect(tag).toMatch(/^<script\b[^>]*\bsrc="\/app\/[^"]+"[^>]*><\/script>$/);
      }
    }
  });

  it('serves the bundle and the stylesheet as built, with their content types', async () => {
    const script = await fetch(`${url}/app/app.js`);
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(script.headers.get('content-security-policy')).toContain("default-src 'self'");
    const body = new Uint8Array(await script.arrayBuffer());
    expect(body).toEqual(new Uint8Array(await readFile(join(PORTAL_DIR, 'app.js'))));
    const style = await fetch(`${url}/app/app.css`);
    expect(style.status).toBe(200);
    expect(style.headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect((await style.text()).length).toBeGreaterThan(100);
  });

  it('answers a revalidation with 304 and HEAD without a body', async () => {
    const first = await fetch(`${url}/app/app.js`);
    const etag = first.headers.get('etag');
    await first.arrayBuffer();
    expect(etag).toMatch(/^"[A-Za-z0-9_-]+"$/);
    const again = await fetch(`${url}/app/app.js`, { headers: { 'if-none-match': etag! } });
    expect(again.status).toBe(304);
    const head = await fetch(`${url}/app/app.js`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(first.headers.get('content-length'));
    expect((await head.arrayBuffer()).byteLength).toBe(0);
  });

  it('refuses files it does not have, paths out of its folder and other methods, in JSON', async () => {
    for (const path of [
      '/app/missing.js',
      '/app/%2e%2e%2fpackage.json',
      '/app/sub/app.js',
      '/app/.hidden.js',
    ]) {
      const response = await fetch(`${url}${path}`);
      expect(response.status, path).toBe(404);
      expect((await errorOf(response)).code).toBe('API_NOT_FOUND');
    }
    const post = await fetch(`${url}/app`, { method: 'POST', body: 'x' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    expect((await errorOf(post)).code).toBe('API_METHOD_NOT_ALLOWED');
    // Only /app and what is under it is the portal's.
    const other = await fetch(`${url}/application`);
    expect((await errorOf(other)).code).toBe('API_NOT_FOUND');
  });
});

describe('a node without a portal build', () => {
  let server: Server;
  beforeAll(async () => {
    const missing = projectPath(`dist/portal-missing-${process.pid}`);
    server = createServer((req, res) => {
      servePortal(req, res, new URL(req.url ?? '/', 'http://x').pathname, missing).catch((error) =>
        sendError(res, error),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('answers 404 API_PORTAL_NOT_BUILT, saying to run npm run build', async () => {
    const response = await fetch(`${urlOf(server)}/app`);
    expect(response.status).toBe(404);
    const error = await errorOf(response);
    expect(error.code).toBe('API_PORTAL_NOT_BUILT');
    expect(error.message).toContain('npm run build');
  });
});
