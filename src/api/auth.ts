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
 *   403 API_NOT_OPERATOR        an operator route, signed by someone other than the operator
 *   403 API_NOT_AN_IDENTITY     an identity's route, signed with the operator's key
 *   429 API_RATE_LIMITED        this identity signed too many requests within the window
 *
 * The node's operator signs with the key id `operator` and the key `init` wrote into the node's
 * home (operator.key); only the node-operator routes take it, and it sees no personal data.
 */
import type { IncomingMessage } from 'node:http';
import { getIdentity, type Identity } from '../contracts/index.ts';
import {
  MAX_AGE_S,
  OPERATOR_KEY_ID,
  SignatureRejected,
  TOLERANCE_S,
  verifyRequest,
} from '../crypto/http-signature.ts';
import type { Access, ApiContext } from './context.ts';
import { ApiError } from './http.ts';

/** Nonces seen within the acceptance window, per API (one node may serve several in tests) and signer. */
const seenNonces = new WeakMap<ApiContext, Map<string, Map<string, number>>>();
const NONCE_WINDOW_MS = (MAX_AGE_S + 2 * TOLERANCE_S) * 1000;
/** Signed requests one identity may make within the window (about 8 a second, sustained). */
const MAX_NONCES_PER_KEY = 600;
/** The operator's own scripts (block followers, monitoring) may sign far more; it is one trusted key. */
const MAX_OPERATOR_NONCES = 60_000;

/**
 * The signed caller of `req`, checked against the chain; null when the request carries no
 * signature. `body` is the request's body when it has one (its Content-Digest must match).
 */
export async function callerOf(
  ctx: ApiContext,
  req: IncomingMessage,
  body?: Uint8Array | 'streamed',
): Promise<Identity | null> {
  const signer = await signerOf(ctx, req, body);
  if (signer === null) return null;
  if (signer === 'operator') {
    throw new ApiError(403, 'API_NOT_AN_IDENTITY', "the operator's key serves only the node-operator routes");
  }
  if (!signer.active)
    throw new ApiError(403, 'API_IDENTITY_INACTIVE', `identity ${signer.id} is deactivated`);
  return signer;
}

/** A signed request from an active identity or from the operator (routes either may call). */
export async function requireSigner(ctx: ApiContext, req: IncomingMessage): Promise<Identity | 'operator'> {
  const signer = await signerOf(ctx, req);
  if (signer === 'operator') return signer;
  if (signer === null) throw unsigned();
  if (!signer.active)
    throw new ApiError(403, 'API_IDENTITY_INACTIVE', `identity ${signer.id} is deactivated`);
  return signer;
}

/** Requires the node operator's signature (key id `operator`, the key in the node's operator.key). */
export async function requireOperator(
  ctx: ApiContext,
  req: IncomingMessage,
  body?: Uint8Array,
): Promise<void> {
  const signer = await signerOf(ctx, req, body);
  if (signer === null) {
    throw new ApiError(
      401,
      'API_UNSIGNED',
      "this node-operator route must be signed with the operator's key (operator.key in the node's home; --operator-key)",
    );
  }
  if (signer !== 'operator') {
    throw new ApiError(403, 'API_NOT_OPERATOR', "this route is for the node's operator only");
  }
}

/**
 * Who signed `req`: an identity (not yet checked to be active), `operator`, or null when unsigned.
 * `body` is the request's body when it has one (its Content-Digest must match), or `streamed` when
 * the route checks the digest itself while it streams the body.
 */
async function signerOf(
  ctx: ApiContext,
  req: IncomingMessage,
  body?: Uint8Array | 'streamed',
): Promise<Identity | 'operator' | null> {
  const state = ctx.node.store.stateReader;
  let identity: Identity | undefined;
  let verified: Awaited<ReturnType<typeof verifyRequest>>;
  try {
    verified = await verifyRequest(
      { method: req.method ?? 'GET', url: `http://node${req.url ?? '/'}`, headers: headersOf(req) },
      body,
      (keyId) => {
        if (keyId === OPERATOR_KEY_ID) return ctx.options.operatorKey;
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
  rememberNonce(ctx, verified.keyId, verified.nonce);
  if (verified.keyId === OPERATOR_KEY_ID) return 'operator';
  if (!identity) throw new ApiError(401, 'API_SIGNATURE_INVALID', 'the key id names no identity');
  return identity;
}

/** Checks what a route's access asks of the request; the signed caller of a `member` route. */
export async function authenticate(
  ctx: ApiContext,
  req: IncomingMessage,
  access: Access,
): Promise<Identity | null> {
  if (access === 'operator') await requireOperator(ctx, req);
  if (access === 'member') return requireCaller(ctx, req);
  return null;
}

/** The signed caller, required: API_UNSIGNED when the request is not signed. */
export async function requireCaller(
  ctx: ApiContext,
  req: IncomingMessage,
  body?: Uint8Array | 'streamed',
): Promise<Identity> {
  const caller = await callerOf(ctx, req, body);
  if (!caller) throw unsigned();
  return caller;
}

function unsigned(): ApiError {
  return new ApiError(
    401,
    'API_UNSIGNED',
    'this request must be signed with the caller\'s identity key (HTTP Message Signatures, RFC 9421; "medledger sign-request" shows how)',
  );
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
  const cap = keyId === OPERATOR_KEY_ID ? MAX_OPERATOR_NONCES : MAX_NONCES_PER_KEY;
  if (seen.size >= cap) {
    for (const [key, until] of seen) if (until <= now) seen.delete(key);
    if (seen.size >= cap) {
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
