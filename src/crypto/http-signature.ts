/**
 * HTTP Message Signatures (RFC 9421) with Ed25519, over the `http-message-signatures` package: how a
 * client signs an API request with its identity key and how the node checks it.
 *
 * A signed request covers `@method`, `@path`, `@query` and, when it has a body, `content-digest`
 * (RFC 9530, `sha-256=:…:`, checked against the body by the verifier), with the parameters
 * `created`, `nonce`, `keyid` (the caller's identity id, or `operator`) and `alg="ed25519"`. The node
 * accepts a signature created within `MAX_AGE_S` of its clock (and at most `TOLERANCE_S` ahead)
 * and each nonce once in that window, so a captured request cannot be replayed.
 */
import { createHash, randomBytes } from 'node:crypto';
import { ExpiredError, httpbis } from 'http-message-signatures';
import { sign, verify } from './ed25519.ts';

export const SIGNATURE_ALG = 'ed25519';
/** How old a signature may be, and how far ahead of the verifier's clock, in seconds. */
export const MAX_AGE_S = 60;
export const TOLERANCE_S = 5;
const COMPONENTS = ['@method', '@path', '@query'];
/** The key id the node operator signs with (the key in the node's operator.key). */
export const OPERATOR_KEY_ID = 'operator';
const PARAMS = ['created', 'nonce', 'keyid', 'alg'];

export interface RequestToSign {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: Uint8Array;
}

/** RFC 9530 Content-Digest of a body: `sha-256=:BASE64:`. */
export function contentDigest(body: Uint8Array): string {
  return `sha-256=:${createHash('sha256').update(body).digest('base64')}:`;
}

/** The headers to add to a request signed by `keyId` with its Ed25519 `secretKey`. */
export async function signRequest(
  request: RequestToSign,
  keyId: string,
  secretKey: Uint8Array,
): Promise<Record<string, string>> {
  const headers: Record<string, string> = { ...request.headers };
  const fields = [...COMPONENTS];
  if (request.body && request.body.length > 0) {
    headers['content-digest'] = contentDigest(request.body);
    fields.push('content-digest');
  }
  const signed = await httpbis.signMessage(
    {
      key: { id: keyId, alg: SIGNATURE_ALG, sign: async (data) => Buffer.from(sign(secretKey, data)) },
      fields,
      params: PARAMS,
      paramValues: { nonce: randomBytes(16).toString('base64url') },
    },
    { method: request.method, url: request.url, headers },
  );
  // Lower-case names: `signature`, `signature-input`, `content-digest` (HTTP field names are case-insensitive).
  return Object.fromEntries(Object.entries(signed.headers).map(([k, v]) => [k.toLowerCase(), String(v)]));
}

/** A verified signature: who signed, and the nonce to remember. */
export interface VerifiedRequest {
  keyId: string;
  nonce: string;
  created_ms: number;
}

/**
 * Verifies a request's signature. `publicKeyOf` returns the signing key for a key id (undefined
 * when there is none); `body` is the request body, whose Content-Digest must then be signed and
 * match; `streamed` when the caller checks the signed Content-Digest itself while it reads a body too
 * large to hold (an upload). Returns null for a request without signature headers; throws a
 * SignatureRejected (with a reason) for a signature that does not verify, is stale or lacks what is
 * required.
 */
export async function verifyRequest(
  request: { method: string; url: string; headers: Record<string, string | string[]> },
  body: Uint8Array | 'streamed' | undefined,
  publicKeyOf: (keyId: string) => Promise<Uint8Array | undefined> | Uint8Array | undefined,
): Promise<VerifiedRequest | null> {
  if (request.headers.signature === undefined && request.headers['signature-input'] === undefined)
    return null;
  const hasBody = body === 'streamed' || (body !== undefined && body.length > 0);
  if (
    body !== undefined &&
    body !== 'streamed' &&
    hasBody &&
    request.headers['content-digest'] !== contentDigest(body)
  ) {
    throw new SignatureRejected('digest', 'the Content-Digest header does not match the body');
  }
  let verified: VerifiedRequest | null = null;
  let unknownKey: string | null = null;
  let ok: boolean | null;
  try {
    ok = await httpbis.verifyMessage(
      {
        requiredParams: PARAMS,
        requiredFields: hasBody ? [...COMPONENTS, 'content-digest'] : COMPONENTS,
        maxAge: MAX_AGE_S + TOLERANCE_S, // the library takes the tolerance off `created` first
        tolerance: TOLERANCE_S,
        async keyLookup(params) {
          const keyId = String(params.keyid ?? '');
          const publicKey = await publicKeyOf(keyId);
          if (!publicKey) {
            unknownKey = keyId;
            return null;
          }
          return {
            id: keyId,
            algs: [SIGNATURE_ALG],
            async verify(data, signature) {
              const good = verify(publicKey, data, signature);
              if (good) {
                const created = params.created instanceof Date ? params.created.getTime() : 0;
                verified = { keyId, nonce: String(params.nonce ?? ''), created_ms: created };
              }
              return good;
            },
          };
        },
      },
      { method: request.method, url: request.url, headers: request.headers },
    );
  } catch (error) {
    if (error instanceof ExpiredError)
      throw new SignatureRejected('stale', 'the signature is too old or dated ahead');
    throw new SignatureRejected('malformed', `the signature is not acceptable: ${(error as Error).message}`);
  }
  if (unknownKey !== null) throw new SignatureRejected('unknown-key', `no key is known for ${unknownKey}`);
  if (!ok || !verified) throw new SignatureRejected('bad-signature', 'the signature does not verify');
  // The window, checked here too: the library lets a `created` that is not a number pass its own.
  const { created_ms } = verified as VerifiedRequest;
  const now = Date.now();
  if (!Number.isInteger(created_ms) || created_ms <= 0) {
    throw new SignatureRejected('malformed', 'the signature has no valid created time');
  }
  if (now - created_ms > MAX_AGE_S * 1000 || created_ms - now > TOLERANCE_S * 1000) {
    throw new SignatureRejected('stale', 'the signature is too old or dated ahead');
  }
  return verified;
}

export class SignatureRejected extends Error {
  readonly reason: 'digest' | 'stale' | 'malformed' | 'unknown-key' | 'bad-signature';
  constructor(reason: SignatureRejected['reason'], message: string) {
    super(message);
    this.name = 'SignatureRejected';
    this.reason = reason;
  }
}
