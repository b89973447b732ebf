/**
 * HTTP plumbing shared by the API's routes: JSON responses, size-limited bodies, and errors. Every
 * error leaves as `{"error": {"code", "message"}}`; a MedledgerError's stable code picks the status.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { MedledgerError } from '../errors.ts';

export class ApiError extends MedledgerError {
  readonly status: number;
  constructor(status: number, code: string, message: string) {
    super(code, message);
    this.status = status;
  }
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
  STORE_NOT_FOUND: 503,
  STORE_CORRUPT_CHUNK: 503,
  STORE_BAD_MANIFEST: 500,
  STORE_BAD_RECORD_ID: 500,
  STORE_LOCKED: 500,
  STORE_OPEN_FAILED: 500,
};

export function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function sendError(res: ServerResponse, error: unknown): void {
  if (res.headersSent) {
    res.destroy(); // a streamed body failed midway: the client sees a truncated response, not a lie
    return;
  }
  if (error instanceof MedledgerError) {
    const status = error instanceof ApiError ? error.status : (STATUS_OF_CODE[error.code] ?? 400);
    send(res, status, { error: { code: error.code, message: error.message } });
  } else {
    send(res, 500, { error: { code: 'API_INTERNAL', message: 'internal error' } });
  }
}

export async function readBody(req: IncomingMessage, maxBytes: number): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) throw new ApiError(413, 'API_BODY_TOO_LARGE', `request body over ${maxBytes} bytes`);
    chunks.push(chunk as Buffer);
  }
  return new Uint8Array(Buffer.concat(chunks));
}

export async function readJson(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const body = await readBody(req, maxBytes);
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
): Promise<void> {
  const iterator = pieces[Symbol.asyncIterator]();
  try {
    const first = await iterator.next(); // errors before the first byte still get a JSON error
    res.writeHead(200, { 'content-type': contentType });
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
