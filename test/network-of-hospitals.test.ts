/**
 * The README's "A network of hospitals", end to end: exactly its steps (examples/network-of-hospitals.sh,
 * which the README quotes verbatim) through the real CLI, on loopback. Four homes from `init`, a
 * genesis from the lines `node info` prints, four `start` processes that find each other from the
 * genesis alone (no [[peers]] anywhere), one transaction committed and verified on every node.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePortBase } from '../src/free-port.ts';

const root = new URL('..', import.meta.url).pathname;
const script = join(root, 'examples/network-of-hospitals.sh');

function run(args: string[], cwd: string, env: NodeJS.ProcessEnv) {
  return new Promise<{ code: number | null; output: string }>((resolve) => {
    const child = spawn('bash', args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const take = (chunk: Buffer) => {
      output += chunk.toString();
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.once('exit', (code) => resolve({ code, output }));
  });
}

describe('the README network of hospitals', () => {
  let dir = '';
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('the README quotes the script verbatim', async () => {
    const [readme, text] = await Promise.all([
      readFile(join(root, 'README.md'), 'utf8'),
      readFile(script, 'utf8'),
    ]);
    expect(readme).toContain(text.slice(text.indexOf('REPO=')).trim());
  });

  it('forms a four-hospital network from the genesis alone and commits on every node', async () => {
    dir = await mkdtemp(join(tmpdir(), 'medledger-hospitals-'));
    const base = await freePortBase([0, 1, 2, 3, 100, 101, 102, 103]);
    const result = await run([script], dir, {
      ...process.env,
      P2P_BASE: String(base),
      API_BASE: String(base + 100),
      MEDLEDGER_PASSPHRASE: 'hospitals-rehearsal',
    });
    expect(result.code, result.output).toBe(0);
    expect(result.output).not.toMatch(/SyntaxError|TypeError|^\s+at /m);
    expect(result.output).toContain('peers           3 of 3 connected');
    expect(result.output.match(/chain hospitals verified: 2 blocks, 1 transactions/g)).toHaveLength(4);
    expect(result.output).toContain('== the network of hospitals is up');
    for (const hospital of ['st-mary', 'city-general', 'riverside', 'hillside']) {
      const config = await readFile(join(dir, hospital, 'config.toml'), 'utf8');
      expect(config).not.toMatch(/^\[\[peers\]\]/m); // the genesis alone told them where to dial
      const log = await readFile(join(dir, `${hospital}.log`), 'utf8');
      expect(log.match(/"msg":"validator peer connected"/g)?.length ?? 0).toBeGreaterThanOrEqual(3);
    }
  }, 120_000);
});
