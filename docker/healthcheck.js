// The container health check: `node healthcheck.js /readyz` asks the node's HTTP API for that path and
// exits 0 on 200, 1 otherwise, printing why (Docker keeps the output in `docker inspect`). It needs no
// curl in the image. The API's address comes from HOME/listening.json, which the running node writes,
// so a home whose config.toml moved the API to another port is still checked at the right place. An
// API that serves HTTPS is trusted by the SHA-256 fingerprint of its certificate, which listening.json
// gives too (apiFingerprint): a self-signed certificate, or one that names no loopback address, passes.
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';

const path = process.argv[2] ?? '/readyz';
const home = process.env.MEDLEDGER_HOME;

/** listening.json, written by the running node. */
function listening() {
  if (!home) throw new Error('MEDLEDGER_HOME is not set');
  return JSON.parse(readFileSync(join(home, 'listening.json'), 'utf8'));
}

/** The API's origin from listening.json; an API bound to every interface is asked on loopback. */
function apiOrigin(listening) {
  // Split by hand: an IPv6 wildcard is written unbracketed (http://:::7480), which URL rejects.
  const match = /^https?:\/\/\[?(.*?)\]?:(\d+)$/.exec(String(listening.api));
  if (!match) throw new Error(`listening.json: no API address (${JSON.stringify(listening.api)})`);
  const [, host, port] = match;
  const scheme = String(listening.api).startsWith('https:') ? 'https' : 'http';
  if (host === '0.0.0.0' || host === '') return `${scheme}://127.0.0.1:${port}`;
  if (host === '::') return `${scheme}://[::1]:${port}`;
  return `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** GET `url` over TLS from a server whose certificate has the SHA-256 `fingerprint` (hex). */
function getPinned(url, fingerprint) {
  return new Promise((resolve, reject) => {
    // No CA check (the pin is the check) and no shared agent (no TLS session reused: the certificate is seen).
    const req = request(url, { rejectUnauthorized: false, agent: false, timeout: 4000 }, (res) => {
      const seen = String(res.socket.getPeerCertificate().fingerprint256 ?? '')
        .replaceAll(':', '')
        .toLowerCase();
      if (seen !== String(fingerprint).toLowerCase()) {
        res.destroy();
        reject(
          new Error(
            `the certificate's fingerprint is ${seen || 'unknown'}, not ${fingerprint} (listening.json)`,
          ),
        );
        return;
      }
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 4 s')));
    req.on('error', reject);
    req.end();
  });
}

try {
  const where = listening();
  const url = `${apiOrigin(where)}${path}`;
  let status;
  let body;
  if (url.startsWith('https:')) {
    ({ status, body } = await getPinned(url, where.apiFingerprint));
  } else {
    const response = await fetch(url, { signal: AbortSignal.timeout(4000) });
    status = response.status;
    body = await response.text();
  }
  console.log(`${url}: ${status} ${body.trim()}`);
  process.exitCode = status === 200 ? 0 : 1;
} catch (error) {
  // fetch reports a refused connection as 'fetch failed', with the reason in its cause.
  const cause = error instanceof Error && error.cause instanceof Error ? ` (${error.cause.message})` : '';
  console.log(`not healthy: ${error instanceof Error ? error.message : String(error)}${cause}`);
  process.exitCode = 1;
}
