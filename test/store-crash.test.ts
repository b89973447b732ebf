/**
 * A process appending blocks is killed with SIGKILL at a random moment; the store it leaves must hold
 * every block whose append had resolved, no half block, and a chain that verifies.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ChainStore, loadGenesis, verifyChain } from '../src/ledger/index.ts';

const child = new URL('./fixtures/append-forever.ts', import.meta.url).pathname;

async function appendThenKill(dir: string, killAfterMs: number): Promise<number> {
  const proc = spawn(process.execPath, [child, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  let lastAcknowledged = 0;
  let buffered = '';
  proc.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    for (const match of buffered.matchAll(/appended (\d+)\n/g)) lastAcknowledged = Number(match[1]);
    buffered = buffered.slice(buffered.lastIndexOf('\n') + 1);
  });
  await new Promise<void>((resolve, reject) => {
    const started = () => {
      if (lastAcknowledged > 0) {
        proc.stdout.off('data', started);
        setTimeout(() => {
          proc.kill('SIGKILL');
          resolve();
        }, killAfterMs);
      }
    };
    proc.stdout.on('data', started);
    proc.on('exit', (code) => reject(new Error(`child exited early with ${code}`)));
  });
  await new Promise((resolve) => proc.once('close', resolve));
  return lastAcknowledged;
}

describe('chain store under SIGKILL', () => {
  for (const killAfterMs of [0, 37, 150]) {
    it(`keeps every acknowledged block and verifies after a kill ${killAfterMs} ms into appending`, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'medledger-crash-'));
      try {
        const acknowledged = await appendThenKill(dir, killAfterMs);
        const genesis = await loadGenesis(join(dir, 'genesis.json'));
        const report = await verifyChain(join(dir, 'chain'), genesis);
        expect(report.problem).toBeNull();
        expect(report.verifiedHeight).toBeGreaterThanOrEqual(acknowledged);
        const store = await ChainStore.open(join(dir, 'chain'), genesis);
        expect(store.head.height).toBe(report.verifiedHeight);
        await store.close();
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  }
});
