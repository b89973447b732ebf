/**
 * Who is asking: a request signed with HTTP Message Signatures (RFC 9421, src/crypto/http-signature.ts)
 * by an identity registered on chain. The key id is the identity id; the key that must have signed is
 * the identity's current signing key in the committed state, so a rotated or deactivated key stops
 * working at once. A signature is accepted within a minute of its `created` time and each nonce
 * once, so a captured request cannot be replayed.
 *
 *   401 API_UNSIGNED            the route needs a signed request and this one is not signed
 *   401 API_SIGNATURE_INVALID   the signature, its digest or its key id does not check out
 *   401 API_SIGNATURE_STALE     created too long ago, or ahead of this node's clock
 *   401 API_SIGNATURE_REPLAYED  this nonce was used already
 *   403 API_IDENTITY_INACTIVE   the identity is deactivated
 *   429 API_RATE_LIMITED        this identity signed too many requests within the window
 */
import type { IncomingMessage } from 'node:http';
import { getIdentity, type Identity } from '../contracts/index.ts';
import { MAX_AGE_S, SignatureRejected, TOLERANCE_S, verifyRequest } from '../crypto/http-signature.ts';
import type { ApiContext } from './context.ts';
import { ApiError } from './http.ts';

/** Nonces seen within the acceptance window, per API (one node may serve several in tests) and signer. */
const seenNonces = new WeakMap<ApiContext, Map<string, Map<string, number>>>();
const NONCE_WINDOW_MS = (MAX_AGE_S + 2 * TOLERANCE_S) * 1000;
/** Signed requests one identity may make within the window (about 8 a second, sustained). */
const MAX_NONCES_PER_KEY = 600;

/**
 * The signed caller of `req`, checked against the chain; null when the request carries no
 * signature. `body` is the request's body when it has one (its Content-Digest must match).
 */
export async function callerOf(
  ctx: ApiContext,
  req: IncomingMessage,
  body?: Uint8Array,
): Promise<Identity | null> {
  const state = ctx.node.store.stateReader;
  let identity: Identity | undefined;
  let verified: Awaited<ReturnType<typeof verifyRequest>>;
  try {
    verified = await verifyRequest(
      { method: req.method ?? 'GET', url: `http://node${req.url ?? '/'}`, headers: headersOf(req) },
      body,
      (keyId) => {
        identity = /^[0-9a-f]{32}$/.test(keyId) ? getIdentity(state, keyId) : undefined;
        return identity?.signingKey;
      },
    );
  } catch (error) {
    if (!(error instanceof SignatureRejected)) throw error;
    if (error.reason === 'stale') throw new ApiError(401, 'API_SIGNATURE_STALE', error.message);
    throw new ApiError(401, 'API_SIGNATURE_INVALID', error.message);
  }
  if (verified === null) return null;
  if (!identity) throw new ApiError(401, 'API_SIGNATURE_INVALID', 'the key id names no identity');
  rememberNonce(ctx, verified.keyId, verified.nonce);
  if (!identity.active)
    throw new ApiError(403, 'API_IDENTITY_INACTIVE', `identity ${identity.id} is deactivated`);
  return identity;
}

/** The signed caller, required: API_UNSIGNED when the request is not signed. */
export async function requireCaller(
  ctx: ApiContext,
  req: IncomingMessage,
  body?: Uint8Array,
): Promise<Identity> {
  const caller = await callerOf(ctx, req, body);
  if (!caller) {
    throw new ApiError(
      401,
      'API_UNSIGNED',
      'this request must be signed with the caller\'s identity key (HTTP Message Signatures, RFC 9421; "medledger sign-request" shows how)',
    );
  }
  return caller;
}

/**
 * Records a verified signature's nonce, per signer: a nonce seen within the window is a replay, and
 * one identity may not hold more than MAX_NONCES_PER_KEY at once (429), so no caller can crowd out
 * the others. The number of signers is bounded by the registered identities.
 */
function rememberNonce(ctx: ApiContext, keyId: string, nonce: string): void {
  let byKey = seenNonces.get(ctx);
  if (!byKey) {
    byKey = new Map();
    seenNonces.set(ctx, byKey);
  }
  let seen = byKey.get(keyId);
  if (!seen) {
    seen = new Map();
    byKey.set(keyId, seen);
  }
  const now = Date.now();
  const expires = seen.get(nonce);
  if (expires !== undefined && expires > now) {
    throw new ApiError(401, 'API_SIGNATURE_REPLAYED', 'this request was signed with a nonce already used');
  }
  if (seen.size >= MAX_NONCES_PER_KEY) {
    for (const [key, until] of seen) if (until <= now) seen.delete(key);
    if (seen.size >= MAX_NONCES_PER_KEY) {
      throw new ApiError(
        429,
        'API_RATE_LIMITED',
        'too many signed requests from this identity; retry shortly',
        {
          'retry-after': '5',
        },
      );
    }
  }
  seen.set(nonce, now + NONCE_WINDOW_MS);
}

function headersOf(req: IncomingMessage): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(req.headers)) if (value !== undefined) headers[name] = value;
  return headers;
}
