/**
 * `medledger devnet`: four validator processes come up, commit a transaction signed with the demo
 * admin's keystore, stop on SIGINT, and resume the same chain when started again on the directory.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encode } from '../src/codec/index.ts';
import { buildTx } from '../src/contracts/index.ts';
import { generateEncryptionKeyPair, generateSigningKeyPair, readKeystore } from '../src/crypto/index.ts';
import { Transaction, txHash } from '../src/ledger/index.ts';
import { until } from './fixtures/validators.ts';

const bin = new URL('../bin/medledger.js', import.meta.url).pathname;
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

interface DevnetInfo {
  apis: string[];
  adminKeystore: string;
  passphrase: string;
  resumed: boolean;
}

function startDevnet(dir: string, basePort: number): Promise<{ child: ChildProcess; info: DevnetInfo }> {
  const child = spawn(
    process.execPath,
    [bin, 'devnet', '--dir', dir, '--base-port', String(basePort), '--json'],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  return new Promise((resolve, reject) => {
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const line = output.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve({ child, info: JSON.parse(line) });
    });
    child.once('exit', (code) => reject(new Error(`devnet exited early with ${code}`)));
  });
}

async function stop(child: ChildProcess): Promise<number | null> {
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGINT');
  return exited;
}

describe('medledger devnet', () => {
  let dir = '';
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('runs four validators, commits, stops on SIGINT and resumes the same chain', async () => {
    dir = await mkdtemp(join(tmpdir(), 'medledger-devnet-'));
    const basePort = 30_000 + Math.floor(Math.random() * 20_000);
    const first = await startDevnet(dir, basePort);
    expect(first.info.resumed).toBe(false);
    expect(first.info.apis).toHaveLength(4);
    const api = first.info.apis[0]!;
    await until(
      async () => ((await (await fetch(`${api}/v1/status`)).json()) as { peers: number }).peers === 3,
      30_000,
    );

    const admin = await readKeystore(first.info.adminKeystore, first.info.passphrase);
    const genesisChain = 'medledger-devnet';
    const tx = buildTx(
      'org.register',
      {
        id: 'st-mary',
        kind: 'hospital',
        adminKey: generateSigningKeyPair().publicKey,
        encryptionKey: generateEncryptionKeyPair().publicKey,
      },
      1,
      genesisChain,
      admin.signing.secretKey,
    );
    expect((await fetch(`${api}/v1/txs`, { method: 'POST', body: encode(Transaction, tx) })).status).toBe(
      202,
    );
    const receiptUrl = `${first.info.apis[3]}/v1/txs/${hex(txHash(tx))}`;
    await until(async () => (await fetch(receiptUrl)).status === 200, 30_000);
    expect(((await (await fetch(receiptUrl)).json()) as { receipt: { code: string } }).receipt.code).toBe(
      'OK',
    );
    expect(await stop(first.child)).toBe(0);

    const second = await startDevnet(dir, basePort);
    try {
      expect(second.info.resumed).toBe(true);
      expect((await fetch(receiptUrl)).status).toBe(200);
    } finally {
      expect(await stop(second.child)).toBe(0);
    }
  });
});
