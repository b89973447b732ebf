import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const bin = new URL('../bin/medledger.js', import.meta.url).pathname;

describe('medledger command', () => {
  it('prints its version from package.json', async () => {
    const { stdout } = await run(process.execPath, [bin, '--version']);
    expect(stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('prints help naming the program', async () => {
    const { stdout } = await run(process.execPath, [bin, '--help']);
    expect(stdout).toContain('Usage: medledger');
  });

  it('exits non-zero on an unknown option', async () => {
    await expect(run(process.execPath, [bin, '--no-such-option'])).rejects.toMatchObject({ code: 1 });
  });
});

describe('medledger chain verify', () => {
  it('verifies a stored chain offline, and names the height of a tampered block', async () => {
    const { mkdtemp, rm, writeFile } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { ChainStore, genesisToJson, openChainDb } = await import('../src/ledger/index.ts');
    const { buildChain, makeNetwork } = await import('./fixtures/chain.ts');
    const dir = await mkdtemp(join(tmpdir(), 'medledger-cli-'));
    try {
      const net = makeNetwork();
      const chain = join(dir, 'chain');
      const genesisFile = join(dir, 'genesis.json');
      await writeFile(genesisFile, JSON.stringify(genesisToJson(net.genesis)));
      const { genesisState } = await import('../src/contracts/index.ts');
      const store = await ChainStore.open(chain, net.genesis, genesisState(net.genesis));
      await buildChain(store, net, 4, 3);
      await store.close();

      const ok = await run(process.execPath, [
        bin,
        'chain',
        'verify',
        '--chain',
        chain,
        '--genesis',
        genesisFile,
      ]);
      expect(ok.stdout).toContain('verified: 5 blocks, 12 transactions');

      const db = await openChainDb(chain);
      const key = Buffer.from([0x42, 0, 0, 0, 0, 0, 0, 0, 3]); // block 3
      const block = Buffer.from((await db.get(key))!);
      block[block.length - 1] = block[block.length - 1]! ^ 1; // last byte of the last tx signature
      await db.put(key, block);
      await db.close();
      const bad = run(process.execPath, [
        bin,
        'chain',
        'verify',
        '--chain',
        chain,
        '--genesis',
        genesisFile,
        '--json',
      ]);
      await expect(bad).rejects.toMatchObject({ code: 1 });
      const report = JSON.parse(((await bad.catch((e) => e)) as { stdout: string }).stdout);
      expect(report).toMatchObject({
        ok: false,
        verifiedHeight: 2,
        problem: { height: 3, code: 'CHAIN_BAD_TX' },
      });

      const missing = run(process.execPath, [
        bin,
        'chain',
        'verify',
        '--chain',
        join(dir, 'nope'),
        '--genesis',
        genesisFile,
      ]);
      await expect(missing).rejects.toMatchObject({
        code: 1,
        stderr: expect.stringContaining('LEDGER_NOT_FOUND'),
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
