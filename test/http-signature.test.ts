/**
 * Signed API requests (src/crypto/http-signature.ts, RFC 9421 with Ed25519): what the node accepts
 * and what it refuses, and why: a signature over another path or body, a stale or future or
 * non-numeric `created`, an unknown key, a second signature that does not verify, a signature that
 * leaves out a component or parameter the node requires, a streamed body whose digest is not signed;
 * and the operator's key id.
 */
import { describe, expect, it } from 'vitest';
import {
  contentDigest,
  OPERATOR_KEY_ID,
  SignatureRejected,
  signRequest,
  verifyRequest,
} from '../src/crypto/http-signature.ts';
import { generateSigningKeyPair, sign } from '../src/crypto/index.ts';

const alice = generateSigningKeyPair();
const bob = generateSigningKeyPair();
const ID = 'a'.repeat(32);
const url = 'http://node/v1/reads/00ff?x=1';
const keyOf = (id: string) =>
  id === ID ? alice.publicKey : id === 'b'.repeat(32) ? bob.publicKey : undefined;

async function reason(run: Promise<unknown>): Promise<string> {
  try {
    await run;
    return 'accepted';
  } catch (error) {
    expect(error).toBeInstanceOf(SignatureRejected);
    return (error as SignatureRejected).reason;
  }
}

describe('signed requests', () => {
  it('accepts its own signature, with and without a body, and says who signed', async () => {
    const headers = await signRequest({ method: 'GET', url, headers: {} }, ID, alice.secretKey);
    expect(Object.keys(headers).sort()).toEqual(['signature', 'signature-input']);
    expect(await verifyRequest({ method: 'GET', url, headers }, undefined, keyOf)).toMatchObject({
      keyId: ID,
    });
    const body = new TextEncoder().encode('{"a":1}');
    const posted = await signRequest({ method: 'POST', url, headers: {}, body }, ID, alice.secretKey);
    expect(posted['content-digest']).toBe(contentDigest(body));
    expect(await verifyRequest({ method: 'POST', url, headers: posted }, body, keyOf)).toMatchObject({
      keyId: ID,
    });
    expect(await verifyRequest({ method: 'GET', url, headers: {} }, undefined, keyOf)).toBeNull();
  });

  it('refuses another method, path, query or body, an unknown key, another key, and an altered created', async () => {
    const headers = await signRequest({ method: 'GET', url, headers: {} }, ID, alice.secretKey);
    expect(await reason(verifyRequest({ method: 'POST', url, headers }, undefined, keyOf))).toBe(
      'bad-signature',
    );
    expect(await reason(verifyRequest({ method: 'GET', url: `${url}2`, headers }, undefined, keyOf))).toBe(
      'bad-signature',
    );
    expect(
      await reason(
        verifyRequest({ method: 'GET', url: 'http://node/v1/reads/00ff?x=2', headers }, undefined, keyOf),
      ),
    ).toBe('bad-signature');
    const body = new TextEncoder().encode('{"a":1}');
    const posted = await signRequest({ method: 'POST', url, headers: {}, body }, ID, alice.secretKey);
    expect(
      await reason(
        verifyRequest({ method: 'POST', url, headers: posted }, new TextEncoder().encode('{"a":2}'), keyOf),
      ),
    ).toBe('digest');
    const stranger = await signRequest({ method: 'GET', url, headers: {} }, 'c'.repeat(32), alice.secretKey);
    expect(await reason(verifyRequest({ method: 'GET', url, headers: stranger }, undefined, keyOf))).toBe(
      'unknown-key',
    );
    // Alice's key id, Bob's key: does not verify.
    const forged = await signRequest({ method: 'GET', url, headers: {} }, ID, bob.secretKey);
    expect(await reason(verifyRequest({ method: 'GET', url, headers: forged }, undefined, keyOf))).toBe(
      'bad-signature',
    );

    const input = headers['signature-input']!;
    const at = (created: string) => ({
      ...headers,
      'signature-input': input.replace(/created=\d+/, `created=${created}`),
    });
    const now = Math.floor(Date.now() / 1000);
    // Altering `created` after signing breaks the signature (the window itself: the next test).
    for (const created of [String(now - 120), String(now + 60), '"never"', 'never']) {
      expect(
        await reason(verifyRequest({ method: 'GET', url, headers: at(created) }, undefined, keyOf)),
        created,
      ).not.toBe('accepted');
    }
  });

  it('refuses a signature whose created time is old or ahead, even when it verifies', async () => {
    const { httpbis } = await import('http-message-signatures');
    const signWith = async (created: Date | null, extra: Record<string, string | number> = {}) => {
      const signed = await httpbis.signMessage(
        {
          key: { id: ID, alg: 'ed25519', sign: async (data) => Buffer.from(sign(alice.secretKey, data)) },
          fields: ['@method', '@path', '@query'],
          params: ['created', 'nonce', 'keyid', 'alg', ...Object.keys(extra)],
          paramValues: { created, nonce: 'n1', ...extra },
        },
        { method: 'GET', url, headers: {} },
      );
      return Object.fromEntries(Object.entries(signed.headers).map(([k, v]) => [k.toLowerCase(), String(v)]));
    };
    const old = await signWith(new Date(Date.now() - 120_000));
    expect(await reason(verifyRequest({ method: 'GET', url, headers: old }, undefined, keyOf))).toBe('stale');
    const ahead = await signWith(new Date(Date.now() + 30_000));
    expect(await reason(verifyRequest({ method: 'GET', url, headers: ahead }, undefined, keyOf))).toBe(
      'stale',
    );
    const fresh = await signWith(new Date());
    expect(await reason(verifyRequest({ method: 'GET', url, headers: fresh }, undefined, keyOf))).toBe(
      'accepted',
    );
  });

  it('refuses a signature that leaves out a component or parameter, or whose algorithm is not ed25519', async () => {
    const { httpbis } = await import('http-message-signatures');
    const signWith = async (fields: string[], params: string[], alg = 'ed25519') => {
      const signed = await httpbis.signMessage(
        {
          key: { id: ID, alg, sign: async (data) => Buffer.from(sign(alice.secretKey, data)) },
          fields,
          params,
          paramValues: { nonce: 'n2' },
        },
        { method: 'GET', url, headers: {} },
      );
      return Object.fromEntries(Object.entries(signed.headers).map(([k, v]) => [k.toLowerCase(), String(v)]));
    };
    const all = ['created', 'nonce', 'keyid', 'alg'];
    // Without @query, a signature would hold for any query string (another patient, another page).
    for (const [fields, params] of [
      [['@method', '@path'], all],
      [['@path', '@query'], all],
      [['@method', '@query'], all],
      [
        ['@method', '@path', '@query'],
        ['created', 'keyid', 'alg'],
      ], // no nonce: replayable
      [
        ['@method', '@path', '@query'],
        ['nonce', 'keyid', 'alg'],
      ], // no created: never stale
    ] as const) {
      const headers = await signWith([...fields], [...params]);
      expect(
        await reason(verifyRequest({ method: 'GET', url, headers }, undefined, keyOf)),
        `${fields.join(' ')} / ${params.join(' ')}`,
      ).toBe('malformed');
    }
    const hmac = await signWith(['@method', '@path', '@query'], all, 'hmac-sha256');
    expect(await reason(verifyRequest({ method: 'GET', url, headers: hmac }, undefined, keyOf))).not.toBe(
      'accepted',
    );
    // Only one of the two headers: refused, not taken for an unsigned request.
    const headers = await signRequest({ method: 'GET', url, headers: {} }, ID, alice.secretKey);
    const halves: Array<Record<string, string>> = [
      { signature: headers.signature! },
      { 'signature-input': headers['signature-input']! },
    ];
    for (const half of halves) {
      expect(await reason(verifyRequest({ method: 'GET', url, headers: half }, undefined, keyOf))).toBe(
        'malformed',
      );
    }
  });

  it('signs each request with a fresh nonce, and says which one', async () => {
    const first = await signRequest({ method: 'GET', url, headers: {} }, ID, alice.secretKey);
    const second = await signRequest({ method: 'GET', url, headers: {} }, ID, alice.secretKey);
    const a = await verifyRequest({ method: 'GET', url, headers: first }, undefined, keyOf);
    const b = await verifyRequest({ method: 'GET', url, headers: second }, undefined, keyOf);
    expect(a!.nonce).toMatch(/^[\w-]{22}$/); // 16 random bytes, base64url
    expect(b!.nonce).not.toBe(a!.nonce);
    expect(Math.abs(a!.created_ms - Date.now())).toBeLessThan(5_000);
  });

  it('takes a streamed body only with a signed Content-Digest, which the caller then checks', async () => {
    const body = new TextEncoder().encode('ciphertext');
    const posted = await signRequest({ method: 'POST', url, headers: {}, body }, ID, alice.secretKey);
    // Streamed: the digest is required to be signed, and is left to the reader of the body.
    expect(await verifyRequest({ method: 'POST', url, headers: posted }, 'streamed', keyOf)).toMatchObject({
      keyId: ID,
    });
    // A signature without a digest covers no body: refused for an upload.
    const bare = await signRequest({ method: 'POST', url, headers: {} }, ID, alice.secretKey);
    expect(await reason(verifyRequest({ method: 'POST', url, headers: bare }, 'streamed', keyOf))).toBe(
      'malformed',
    );
    // A digest header swapped after signing breaks the signature.
    const swapped = { ...posted, 'content-digest': contentDigest(new TextEncoder().encode('other')) };
    expect(await reason(verifyRequest({ method: 'POST', url, headers: swapped }, 'streamed', keyOf))).toBe(
      'bad-signature',
    );
  });

  it("verifies the operator's key id against the operator's key, and no other", async () => {
    const operator = generateSigningKeyPair();
    const lookup = (id: string) => (id === OPERATOR_KEY_ID ? operator.publicKey : keyOf(id));
    const headers = await signRequest(
      { method: 'GET', url, headers: {} },
      OPERATOR_KEY_ID,
      operator.secretKey,
    );
    expect(headers['signature-input']).toContain(`keyid="${OPERATOR_KEY_ID}"`);
    expect(await verifyRequest({ method: 'GET', url, headers }, undefined, lookup)).toMatchObject({
      keyId: OPERATOR_KEY_ID,
    });
    // An identity's key under the operator's key id does not verify.
    const posing = await signRequest({ method: 'GET', url, headers: {} }, OPERATOR_KEY_ID, alice.secretKey);
    expect(await reason(verifyRequest({ method: 'GET', url, headers: posing }, undefined, lookup))).toBe(
      'bad-signature',
    );
    // A node without an operator key knows no operator.
    expect(await reason(verifyRequest({ method: 'GET', url, headers }, undefined, keyOf))).toBe(
      'unknown-key',
    );
  });
});
