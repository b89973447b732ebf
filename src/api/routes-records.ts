/**
 * The record routes: upload a ciphertext and a key blob before committing their record.add, and the
 * read flow: with a committed, permitted record.read transaction, fetch the key blob and the key
 * shares the validators re-sealed to the reader, then the ciphertext. Nodes never see plaintext or a
 * data key; the reader's client checks the shares, rebuilds the key and decrypts.
 */
import type { ApiContext, Route } from './context.ts';
import { ApiError, readJson, send, sendStream } from './http.ts';
import { toJson } from './json.ts';

function recordsOf(ctx: ApiContext) {
  if (!ctx.records) throw new ApiError(503, 'API_NO_RECORD_STORE', 'this node runs without a record store');
  return ctx.records;
}

export const recordRoutes: Route[] = [
  {
    method: 'POST',
    path: /^\/v1\/blobs$/,
    async handle(ctx, req, res) {
      // The store enforces its record size limit while streaming (STORE_TOO_LARGE → 413).
      const stored = await recordsOf(ctx).upload(req);
      send(res, 201, { cid: stored.cid.toString(), size_bytes: stored.size });
    },
  },
  {
    method: 'GET',
    path: /^\/v1\/reads\/([0-9a-f]{64})$/,
    async handle(ctx, _req, res, [hash]) {
      const records = recordsOf(ctx);
      const grant = await records.grantFor(Buffer.from(hash!, 'hex'));
      const keys = await records.keysFor(grant);
      send(res, 200, {
        record: toJson(grant.record),
        reader: grant.reader.id,
        emergency: grant.emergency,
        keyBlob: Buffer.from(keys.keyBlob).toString('hex'),
        threshold: keys.threshold,
        shares:
          keys.shares?.shares.map((share) => ({
            validator: share.validator,
            index: share.index,
            sealed: Buffer.from(share.sealed).toString('hex'),
          })) ?? [],
        refused: keys.shares?.refused ?? [],
        unreachable: keys.shares?.unreachable ?? [],
      });
    },
  },
  {
    method: 'POST',
    path: /^\/v1\/reads\/([0-9a-f]{64})\/false-shares$/,
    async handle(ctx, req, res, [hash]) {
      const proofs = parseProofs(await readJson(req, 64 * 1024));
      send(res, 200, await recordsOf(ctx).reportFalseShares(Buffer.from(hash!, 'hex'), proofs));
    },
  },
  {
    method: 'GET',
    path: /^\/v1\/reads\/([0-9a-f]{64})\/content$/,
    async handle(ctx, _req, res, [hash]) {
      const records = recordsOf(ctx);
      const grant = await records.grantFor(Buffer.from(hash!, 'hex'));
      await sendStream(res, 'application/octet-stream', records.ciphertext(grant.record));
    },
  },
];

/** `{ shares: [{ index, opening }] }`: a reader's proofs of false shares (openings are 32 bytes, hex). */
function parseProofs(body: unknown): Array<{ index: number; opening: Uint8Array }> {
  const shares = (body as { shares?: unknown })?.shares;
  if (!Array.isArray(shares) || shares.length > 255) {
    throw new ApiError(
      400,
      'API_BAD_REQUEST',
      'expected { shares: [{ index, opening }] } with at most 255 shares',
    );
  }
  return shares.map((share, i) => {
    const { index, opening } = (share ?? {}) as { index?: unknown; opening?: unknown };
    if (
      !Number.isInteger(index) ||
      (index as number) < 0 ||
      typeof opening !== 'string' ||
      !/^[0-9a-f]{64}$/.test(opening)
    ) {
      throw new ApiError(400, 'API_BAD_REQUEST', `shares[${i}]: expected an index and a 32-byte hex opening`);
    }
    return { index: index as number, opening: new Uint8Array(Buffer.from(opening, 'hex')) };
  });
}
