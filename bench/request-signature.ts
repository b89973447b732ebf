/**
 * What checking a signed API request costs the node (HTTP Message Signatures, RFC 9421, Ed25519):
 * verifyRequest on a signed GET and on a signed POST with a 1 KiB body (Content-Digest checked),
 * against one bare Ed25519 verify of the same signature base, in one run. Medians in µs.
 *
 *   npm run bench:request-signature [-- --iterations 5000]
 */

import { signRequest, verifyRequest } from '../src/crypto/http-signature.ts';
import { generateSigningKeyPair, sign, verify } from '../src/crypto/index.ts';

const at = process.argv.indexOf('--iterations');
const iterations = Number(at >= 0 ? process.argv[at + 1] : 5000);
const keys = generateSigningKeyPair();
const KEY_ID = '0123456789abcdef0123456789abcdef';
const url = 'http://127.0.0.1:7480/v1/reads/5d2e6f0e1a9c8b7d5d2e6f0e1a9c8b7d5d2e6f0e1a9c8b7d5d2e6f0e1a9c8b7d';
const body = new Uint8Array(1024).fill(7);

function median(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function timeEach(make: () => Promise<() => Promise<unknown> | unknown>): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const run = await make();
    const started = performance.now();
    await run();
    samples.push((performance.now() - started) * 1000);
  }
  return median(samples);
}

const lookup = () => keys.publicKey;
const get = await timeEach(async () => {
  const headers = await signRequest({ method: 'GET', url, headers: {} }, KEY_ID, keys.secretKey);
  return () => verifyRequest({ method: 'GET', url, headers }, undefined, lookup);
});
const post = await timeEach(async () => {
  const headers = await signRequest({ method: 'POST', url, headers: {}, body }, KEY_ID, keys.secretKey);
  return () => verifyRequest({ method: 'POST', url, headers }, body, lookup);
});
const base = new TextEncoder().encode(`"@method": GET\n"@path": /v1/reads/…\n"@signature-params": (…)`);
const signature = sign(keys.secretKey, base);
const bare = await timeEach(async () => () => verify(keys.publicKey, base, signature));
const signing = await timeEach(
  async () => () => signRequest({ method: 'GET', url, headers: {} }, KEY_ID, keys.secretKey),
);

console.log(`request signatures, ${iterations} iterations each, median µs (Node ${process.version})`);
console.log(`  verify a signed GET                      ${get.toFixed(1)}`);
console.log(`  verify a signed POST, 1 KiB body + digest ${post.toFixed(1)}`);
console.log(`  sign a GET (client side)                 ${signing.toFixed(1)}`);
console.log(`  bare Ed25519 verify (node:crypto)        ${bare.toFixed(1)}`);
console.log(`  overhead of RFC 9421 over the bare verify: × ${(get / bare).toFixed(2)}`);
