/**
 * The record routes: upload a ciphertext and a key blob before committing their record.add, and the
 * read flow: with a committed, permitted record.read transaction, fetch the key blob and the key
 * shares the validators re-sealed to the reader, then the ciphertext. Nodes never see plaintext or a
 * data key; the reader's client checks the shares, rebuilds the key and decrypts.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { fromHex, hex } from '../bytes.ts';
import { CLINICAL_ROLES, type Identity } from '../contracts/index.ts';
import { requireCaller } from './auth.ts';
import type { ApiContext, Route } from './context.ts';
import { ApiError, limitedBody, parseJsonBody, readBody, send, sendStream } from './http.ts';
import { toJson } from './json.ts';
import { DEFAULT_MAX_UPLOAD_BYTES, DEFAULT_UPLOAD_QUOTA_BYTES_PER_DAY, UploadQuota } from './limits.ts';
import { refuse } from './refusals.ts';

function recordsOf(ctx: ApiContext) {
  if (!ctx.records) throw new ApiError(503, 'API_NO_RECORD_STORE', 'this node runs without a record store');
  return ctx.records;
}

export const recordRoutes: Route[] = [
  {
    method: 'POST',
    path: /^\/v1\/blobs$/,
    // Signed by a clinician or a patient (who may add records), over the body's Content-Digest,
    // which is checked as the body streams in.
    access: 'in-handler',
    async handle(ctx, req, res) {
      const caller = await requireCaller(ctx, req, 'streamed');
      if (!mayUpload(caller)) {
        return refuse(
          ctx,
          req,
          caller,
          'only a patient or a clinician (doctor, nurse, lab technician, emergency staff) uploads records',
        );
      }
      const quota = quotaOf(ctx);
      const maxBytes = ctx.options.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES;
      const records = recordsOf(ctx);
      // All three limits are enforced while streaming: api.maxUploadBytes and the day's quota here
      // (413 API_BODY_TOO_LARGE, 429 API_UPLOAD_QUOTA), the store's record size in the store (413 STORE_TOO_LARGE).
      const body = limitedBody(req, maxBytes, 'api.maxUploadBytes');
      const digest = String(req.headers['content-digest'] ?? '');
      const checked = digestChecked(withinQuota(body, caller.id, quota), digest);
      const stored = await records.upload(checked).catch((error: Error | undefined) => {
        // The store reports what its source throws as STORE_IO: the refusal is the source's own.
        throw error?.cause instanceof ApiError ? error.cause : error;
      });
      send(res, 201, { cid: stored.cid.toString(), size_bytes: stored.size });
    },
  },
  {
    method: 'GET',
    path: /^\/v1\/reads\/([0-9a-f]{64})$/,
    access: 'in-handler', // signed by the reader the permit names (releaseTo)
    async handle(ctx, req, res, [hash]) {
      const { records, grant } = await releaseTo(ctx, req, hash!);
      const keys = await records.keysFor(grant);
      send(res, 200, {
        record: toJson(grant.record),
        reader: grant.reader.id,
        emergency: grant.emergency,
        keyBlob: hex(keys.keyBlob),
        threshold: keys.threshold,
        shares:
          keys.shares?.shares.map((share) => ({
            validator: share.validator,
            index: share.index,
            sealed: hex(share.sealed),
          })) ?? [],
        refused: keys.shares?.refused ?? [],
        unreachable: keys.shares?.unreachable ?? [],
      });
    },
  },
  {
    method: 'POST',
    path: /^\/v1\/reads\/([0-9a-f]{64})\/false-shares$/,
    access: 'in-handler', // signed by the reader the permit names (releaseTo)
    async handle(ctx, req, res, [hash]) {
      const body = await readBody(req, 64 * 1024);
      const { records, grant } = await releaseTo(ctx, req, hash!, body);
      const proofs = parseProofs(parseJsonBody(body));
      send(res, 200, await records.reportFalseShares(grant.readTx, proofs));
    },
  },
  {
    method: 'GET',
    path: /^\/v1\/reads\/([0-9a-f]{64})\/content$/,
    access: 'in-handler', // signed by the reader the permit names (releaseTo)
    async handle(ctx, req, res, [hash]) {
      const { records, grant } = await releaseTo(ctx, req, hash!);
      await sendStream(res, 'application/octet-stream', records.ciphertext(grant.record));
    },
  },
];

/**
 * A read permit is not a bearer token: what it releases goes only to the reader it names, who signs
 * the request with their identity key, and only while the rules still permit the read (grantFor).
 */
async function releaseTo(ctx: ApiContext, req: IncomingMessage, hash: string, body?: Uint8Array) {
  const caller = await requireCaller(ctx, req, body);
  const records = recordsOf(ctx);
  const readTx = fromHex(hash);
  // The caller first: to anyone but its sender, a transaction's type, its receipt and the fate of
  // its record are none of their business, so they hear nothing of them.
  const permit = await records.permitOf(readTx);
  if (permit && permit.sender !== caller.id) {
    const message = 'this read permit was issued to another identity';
    await refuse(ctx, req, caller, message, { patient: permit.patient, record: permit.record });
  }
  const grant = await records.grantFor(readTx);
  // Committed since permitOf looked (or its key changed hands): checked again, as grantFor found it.
  if (grant.reader.id !== caller.id) {
    const about = { patient: grant.record.patient, record: grant.record.id };
    await refuse(ctx, req, caller, 'this read permit was issued to another identity', about);
  }
  return { records, grant };
}

/** Who may upload ciphertext: those who may send record.add (a patient, or a clinician). */
function mayUpload(caller: Identity): boolean {
  return caller.kind === 'patient' || caller.roles.some((role) => CLINICAL_ROLES.includes(role));
}

const QUOTAS = new WeakMap<ApiContext, UploadQuota>();

function quotaOf(ctx: ApiContext): UploadQuota {
  let quota = QUOTAS.get(ctx);
  if (!quota) {
    quota = new UploadQuota(ctx.options.uploadQuotaBytesPerDay ?? DEFAULT_UPLOAD_QUOTA_BYTES_PER_DAY);
    QUOTAS.set(ctx, quota);
  }
  return quota;
}

/**
 * Counts each piece against the caller's quota as it arrives, so parallel uploads share one
 * remainder, and what was streamed counts even when the upload is then refused.
 */
async function* withinQuota(
  body: AsyncIterable<Uint8Array>,
  caller: string,
  quota: UploadQuota,
): AsyncGenerator<Uint8Array> {
  for await (const piece of body) {
    if (piece.length > quota.remaining(caller)) {
      throw new ApiError(
        429,
        'API_UPLOAD_QUOTA',
        `this upload would pass your quota of ${quota.bytesPerDay} bytes a day on this node (api.uploadQuotaBytesPerDay)`,
        { 'retry-after': String(quota.secondsToRenewal()) },
      );
    }
    quota.spend(caller, piece.length);
    yield piece;
  }
}

/** Passes the body through, and at its end refuses it unless its SHA-256 is the signed Content-Digest. */
async function* digestChecked(body: AsyncIterable<Uint8Array>, signed: string): AsyncGenerator<Uint8Array> {
  const hash = createHash('sha256');
  for await (const piece of body) {
    hash.update(piece);
    yield piece;
  }
  if (signed !== `sha-256=:${hash.digest('base64')}:`) {
    throw new ApiError(401, 'API_SIGNATURE_INVALID', 'the Content-Digest header does not match the body');
  }
}

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
    return { index: index as number, opening: fromHex(opening) };
  });
}
