// The container health check: `node healthcheck.js /readyz` asks the node's HTTP API for that path and
// exits 0 on 200, 1 otherwise, printing why (Docker keeps the output in `docker inspect`). It needs no
// curl in the image. The API's address comes from HOME/listening.json, which the running node writes,
// so a home whose config.toml moved the API to another port is still checked at the right place.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const path = process.argv[2] ?? '/readyz';
const home = process.env.MEDLEDGER_HOME;

/** The API's origin from listening.json; an API bound to every interface is asked on loopback. */
function apiOrigin() {
  if (!home) throw new Error('MEDLEDGER_HOME is not set');
  const listening = JSON.parse(readFileSync(join(home, 'listening.json'), 'utf8'));
  // Split by hand: an IPv6 wildcard is written unbracketed (http://:::7480), which URL rejects.
  const match = /^https?:\/\/\[?(.*?)\]?:(\d+)$/.exec(String(listening.api));
  if (!match) throw new Error(`listening.json: no API address (${JSON.stringify(listening.api)})`);
  const [, host, port] = match;
  const scheme = String(listening.api).startsWith('https:') ? 'https' : 'http';
  if (host === '0.0.0.0' || host === '') return `${scheme}://127.0.0.1:${port}`;
  if (host === '::') return `${scheme}://[::1]:${port}`;
  return `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

try {
  const url = `${apiOrigin()}${path}`;
  const response = await fetch(url, { signal: AbortSignal.timeout(4000) });
  const body = (await response.text()).trim();
  console.log(`${url}: ${response.status} ${body}`);
  process.exitCode = response.status === 200 ? 0 : 1;
} catch (error) {
  // fetch reports a refused connection as 'fetch failed', with the reason in its cause.
  const cause = error instanceof Error && error.cause instanceof Error ? ` (${error.cause.message})` : '';
  console.log(`not healthy: ${error instanceof Error ? error.message : String(error)}${cause}`);
  process.exitCode = 1;
}
