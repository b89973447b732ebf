/**
 * The node's signature checks off the event loop: the same answers as verifying on it, in order;
 * at most `maxInFlight` on the thread pool at once (the rest wait their turn); a transaction checked
 * or under way is joined, not verified again.
 */
import { describe, expect, it } from 'vitest';
import { buildTx } from '../src/contracts/index.ts';
import { generateSigningKeyPair } from '../src/crypto/index.ts';
import { type Transaction, verifyTransactionSignature } from '../src/ledger/index.ts';
import { TxSignatureChecks } from '../src/node/tx-signature-checks.ts';

const signer = generateSigningKeyPair();

function registrations(count: number): Transaction[] {
  return Array.from({ length: count }, (_, k) =>
    buildTx(
      'org.register',
      {
        id: `org-${k}`,
        kind: 'hospital',
        adminKey: generateSigningKeyPair().publicKey,
        encryptionKey: new Uint8Array(32).fill(k + 1),
      },
      k + 1,
      'test-chain',
      signer.secretKey,
    ),
  );
}

describe('signature checks off the event loop', () => {
  it('answer as verification on the event loop does, in order: forged, tampered and wrong-key transactions fail', async () => {
    const [a, b, c, d] = registrations(4);
    const forged = { ...b!, signature: new Uint8Array(64).fill(9) };
    const tampered = { ...c!, nonce: c!.nonce + 1 };
    const wrongKey = { ...d!, sender: generateSigningKeyPair().publicKey };
    const txs = [a!, forged, tampered, wrongKey, d!];
    const checks = new TxSignatureChecks({ maxInFlight: 2, maxRemembered: 100 });
    expect(await checks.check(txs)).toEqual(txs.map(verifyTransactionSignature));
    expect(await checks.check(txs)).toEqual([true, false, false, false, true]);
  });

  it('run at most maxInFlight at once; the others wait, and a repeated transaction is joined', async () => {
    const txs = registrations(10);
    const checks = new TxSignatureChecks({ maxInFlight: 1, maxRemembered: 100 });
    const answers = checks.check([...txs, txs[0]!, txs[3]!]);
    expect(checks.waiting).toBe(9); // one on the thread pool, nine queued, the repeats joined
    expect(await answers).toEqual(Array(12).fill(true));
    expect(checks.waiting).toBe(0);
  });

  it('with maxInFlight 0 run on the event loop, at once, with the same answers', async () => {
    const [a, b] = registrations(2);
    const forged = { ...b!, signature: new Uint8Array(64).fill(9) };
    const checks = new TxSignatureChecks({ maxInFlight: 0, maxRemembered: 100 });
    expect(checks.offLoop).toBe(false);
    const answers = checks.check([a!, forged]);
    expect(checks.waiting).toBe(0);
    expect(await answers).toEqual([true, false]);
  });
});
