/**
 * HTTP plumbing shared by the API's routes: JSON responses, size-limited bodies, ids, and errors.
 * Every error leaves as `{"error": {"code", "message"}}`, even for requests Node's HTTP parser
 * refuses (answerClientError); a MedledgerError's stable code picks the status.
 */
import { type IncomingMessage, maxHeaderSize, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { concatBytes } from '../bytes.ts';
import { MedledgerError } from '../errors.ts';

export class ApiError extends MedledgerError {
  readonly status: number;
  /** Response headers that go with the error (Retry-After on a 429). */
  readonly headers: Readonly<Record<string, string>>;
  constructor(status: number, code: string, message: string, headers: Record<string, string> = {}) {
    super(code, message);
    this.status = status;
    this.headers = headers;
  }
}

/** 405 for `method` on `path`, with the Allow header (RFC 9110, 15.5.6) naming what is allowed. */
export function methodNotAllowed(
  method: string | undefined,
  path: string,
  allowed: readonly string[],
): ApiError {
  return new ApiError(405, 'API_METHOD_NOT_ALLOWED', `${method} is not allowed on ${path}`, {
    allow: allowed.join(', '),
  });
}

/** HTTP status of the node's and the rule engine's error codes; anything else is a 400. */
const STATUS_OF_CODE: Record<string, number> = {
  API_TX_NOT_FOUND: 404,
  API_UNKNOWN_IDENTITY: 404,
  API_UNKNOWN_ORGANISATION: 404,
  API_UNKNOWN_RECORD: 404,
  API_UNKNOWN_PATIENT: 404,
  API_READ_DENIED: 403,
  API_READ_EXPIRED: 403,
  API_READ_REVOKED: 403,
  API_RECORD_ERASED: 410,
  STORE_RECORD_ERASED: 410,
  STORE_TOO_LARGE: 413,
  API_KEY_SHARES_UNAVAILABLE: 503,
  API_BLOB_UNAVAILABLE: 503,
  STORE_REPLICATION_FAILED: 503,
  STORE_IO: 500,
  STORE_CLOSED: 503,
  API_INTERNAL: 500,
  API_READER_KEY_ROTATED: 409,
  API_MEMPOOL_FULL: 503,
  API_BUSY: 503,
  NODE_STOPPED: 503,
  STORE_NOT_FOUND: 503,
  STORE_CORRUPT_CHUNK: 503,
  CHAIN_BLOCK_CORRUPT: 503,
  STORE_BAD_MANIFEST: 500,
  STORE_BAD_RECORD_ID: 500,
  STORE_LOCKED: 500,
  STORE_OPEN_FAILED: 500,
};

export function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

export function sendError(res: ServerResponse, error: unknown): void {
  if (res.headersSent) {
    res.destroy(); // a streamed body failed midway: the client sees a truncated response, not a lie
    return;
  }
  let status = 500;
  let body = { error: { code: 'API_INTERNAL', message: 'internal error' } };
  const headers: Record<string, string> = {};
  if (error instanceof MedledgerError) {
    status = error instanceof ApiError ? error.status : (STATUS_OF_CODE[error.code] ?? 400);
    body = { error: { code: error.code, message: error.message } };
    if (error instanceof ApiError) Object.assign(headers, error.headers);
  }
  // Answered before the request's body was read to its end (a body too large, an upload refused
  // midway): rather than read the rest only to drop it, the answer says the connection closes, and
  // it does once the answer is out. A small body still to come (up to KEEP_ALIVE_REST, declared) is
  // read and dropped by Node, and the connection stays open.
  const req = res.req as IncomingMessage | undefined;
  const rest = Number(req?.headers['content-length']);
  if (req && !req.complete && !req.destroyed && (status === 413 || !(rest <= KEEP_ALIVE_REST))) {
    headers.connection = 'close';
    lingerOnClose(req);
  }
  send(res, status, body, headers);
}

/** The longest declared body an early answer leaves Node to read and drop, keeping the connection. */
const KEEP_ALIVE_REST = 64 * 1024;

/** How long a connection closed after an early answer keeps discarding what the client still sends. */
const LINGER_MS = 2000;

/**
 * A lingering close (as web servers do): once the answer is out, Node ends the socket
 * (`destroySoon`, for a response with `Connection: close`) and destroys it, and a close with unread
 * bytes makes the kernel send a reset that can wipe the answer from the client's receive buffer
 * before the client reads it, while it is still sending its body. Instead, the socket's write side
 * ends, what still arrives is read and dropped, and it is destroyed when the client closes its side
 * or after LINGER_MS.
 */
function lingerOnClose(req: IncomingMessage): void {
  const socket = req.socket as Duplex & { destroySoon?: () => void };
  socket.destroySoon = () => {
    if (socket.writable) socket.end();
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
  };
  req.resume(); // the rest of the body is read and dropped
}

function tooLarge(maxBytes: number, setting?: string): ApiError {
  const why = setting ? ` (${setting})` : '';
  return new ApiError(413, 'API_BODY_TOO_LARGE', `request body over ${maxBytes} bytes${why}`);
}

/**
 * The request body as it arrives, refused with 413 API_BODY_TOO_LARGE (`setting` named in the
 * message) once it passes `maxBytes`, or at once when its Content-Length says it will. A consumer
 * that stops early leaves the request alive (`destroyOnReturn: false`: destroying it would destroy
 * the socket, and the client would never see the error; sendError answers and closes instead).
 */
export async function* limitedBody(
  req: IncomingMessage,
  maxBytes: number,
  setting?: string,
): AsyncGenerator<Uint8Array> {
  const declared = Number(req.headers['content-length']);
  if (declared > maxBytes) throw tooLarge(maxBytes, setting);
  let size = 0;
  for await (const chunk of req.iterator({ destroyOnReturn: false })) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) throw tooLarge(maxBytes, setting);
    yield chunk as Buffer;
  }
}

export async function readBody(req: IncomingMessage, maxBytes: number): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of limitedBody(req, maxBytes)) chunks.push(chunk);
  return concatBytes(chunks);
}

/** A request body as JSON, or 400 API_BAD_REQUEST. */
export function parseJsonBody(body: Uint8Array): unknown {
  try {
    return JSON.parse(Buffer.from(body).toString('utf8'));
  } catch {
    throw new ApiError(400, 'API_BAD_REQUEST', 'the request body is not JSON');
  }
}

/**
 * Streams `pieces` as the response body, honouring backpressure. A client that goes away ends the
 * stream (and releases what it holds) instead of leaving the handler waiting for a drain that never
 * comes.
 */
export async function sendStream(
  res: ServerResponse,
  contentType: string,
  pieces: AsyncIterable<Uint8Array>,
  headers: Record<string, string> = {},
): Promise<void> {
  const iterator = pieces[Symbol.asyncIterator]();
  try {
    const first = await iterator.next(); // errors before the first byte still get a JSON error
    res.writeHead(200, { ...headers, 'content-type': contentType });
    for (let piece = first; !piece.done; piece = await iterator.next()) {
      if (res.destroyed) return;
      if (!res.write(piece.value)) {
        await new Promise<void>((resolve) => {
          const done = () => {
            res.off('drain', done);
            res.off('close', done);
            resolve();
          };
          res.once('drain', done);
          res.once('close', done);
        });
      }
    }
    res.end();
  } finally {
    await iterator.return?.();
  }
}

/** An integer query parameter within bounds, or `fallback` when absent. */
export function intParam(
  url: URL,
  name: string,
  fallback: number | undefined,
  max: number,
): number | undefined {
  const text = url.searchParams.get(name);
  if (text === null) return fallback;
  const value = Number(text);
  if (!/^\d{1,16}$/.test(text) || !Number.isSafeInteger(value) || value > max) {
    throw new ApiError(400, 'API_BAD_REQUEST', `query parameter ${name} must be an integer from 0 to ${max}`);
  }
  return value;
}

/**
 * The ids the API takes in paths and queries (identities, organisations, records, patients): the
 * characters and length contracts/ids.ts gives them (MAX_ID_BYTES). Anything else could name
 * nothing, and some would break the state keys they are looked up under.
 */
const ID = /^[A-Za-z0-9._:-]{1,64}$/;

/** A path segment captured as an id (routes match it with PATH_ID, then check it here). */
export const PATH_ID = '([^/]+)';

/** `value` if it is a well-formed id, else 400 API_BAD_ID naming `what`. */
export function checkId(value: string, what: string): string {
  if (!ID.test(value)) {
    throw new ApiError(400, 'API_BAD_ID', `${what} must be 1 to 64 letters, digits or . _ : -`);
  }
  return value;
}

/** An id query parameter: undefined when absent, else checked as checkId does. */
export function idParam(url: URL, name: string): string | undefined {
  const value = url.searchParams.get(name);
  return value === null ? undefined : checkId(value, `query parameter ${name}`);
}

/** What Node's HTTP parser refuses, by its error code: status, reason, the API's code, a sentence. */
function clientErrorAnswer(code: string | undefined): [number, string, string, string] {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return [
        431,
        'Request Header Fields Too Large',
        'API_HEADERS_TOO_LARGE',
        `request headers over ${maxHeaderSize} bytes`,
      ];
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return [413, 'Content Too Large', 'API_BODY_TOO_LARGE', 'chunk extensions too large'];
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return [408, 'Request Timeout', 'API_REQUEST_TIMEOUT', 'the request did not arrive in time'];
    default:
      return [400, 'Bad Request', 'API_MALFORMED_HTTP', 'not a well-formed HTTP/1.1 request'];
  }
}

/**
 * The server's `clientError` handler: a request Node's parser refuses (malformed, headers too large,
 * too slow) gets the API's JSON error shape instead of Node's bare status line, written straight to
 * the socket (there is no response object), which then closes. Nothing is written when the client
 * is gone or a response on this connection has already begun.
 */
export function answerClientError(error: Error & { code?: string }, socket: Duplex): void {
  if (socket.writableEnded) return; // answered already (the parser can report again): closing
  const inFlight = (socket as { _httpMessage?: ServerResponse })._httpMessage;
  if (error.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent) {
    socket.destroy();
    return;
  }
  const [status, reason, code, message] = clientErrorAnswer(error.code);
  const body = JSON.stringify({ error: { code, message } });
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
      `connection: close\r\n\r\n${body}`,
  );
  setTimeout(() => socket.destroy(), LINGER_MS).unref();
}
