/**
 * The README's walkthrough, end to end: a real devnet (four validator processes) in a temporary
 * directory, and exactly the README's commands (examples/walkthrough.sh, which the README quotes
 * verbatim) run through the real CLI binary. Then the devnet stops and every validator's home
 * verifies offline.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePortBase } from '../src/free-port.ts';
import { killProcessGroups } from './fixtures/run.ts';

const root = new URL('..', import.meta.url).pathname;
const bin = join(root, 'bin/medledger.js');
const script = join(root, 'examples/walkthrough.sh');

function run(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  return new Promise<{ code: number | null; output: string }>((resolve) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once('exit', (code) => resolve({ code, output }));
  });
}

function startDevnet(dir: string, basePort: number): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [bin, 'devnet', '--dir', dir, '--base-port', String(basePort), '--json'],
    // Its own process group, so that a failed test can stop the devnet and its validators at once.
    { stdio: ['ignore', 'pipe', 'inherit'], detached: true },
  );
  return new Promise((resolve, reject) => {
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.split('\n').some((line) => line.startsWith('{'))) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`devnet exited early with ${code}`)));
  });
}

describe('the README walkthrough', () => {
  let dir = '';
  let devnet: ChildProcess | undefined;
  afterAll(async () => {
    if (devnet && devnet.exitCode === null) killProcessGroups([devnet]);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('the README quotes the walkthrough script verbatim', async () => {
    const [readme, text] = await Promise.all([
      readFile(join(root, 'README.md'), 'utf8'),
      readFile(script, 'utf8'),
    ]);
    const body = text.slice(text.indexOf('DEVNET='));
    expect(readme).toContain(body.trim());
  });

  it('runs on a real devnet: hospitals, consent, a refused query, reads with a node down, audit, break-glass, verify, catch-up', async () => {
    dir = await mkdtemp(join(tmpdir(), 'medledger-walkthrough-'));
    const devnetDir = join(dir, 'devnet');
    const work = join(dir, 'work');
    await mkdir(work);
    devnet = await startDevnet(devnetDir, await freePortBase([0, 1, 2, 3, 100, 101, 102, 103]));

    const walkthrough = await run('bash', [script], {
      cwd: work,
      env: { ...process.env, DEVNET: devnetDir, MEDLEDGER_PASSPHRASE: '' },
    });
    expect(walkthrough.code, walkthrough.output).toBe(0);
    const out = walkthrough.output;
    expect(out).not.toMatch(/SyntaxError|TypeError|^\s+at /m); // no stack traces while it waits
    expect(out).toMatch(/DENIED/); // the first read, and the read after revocation
    // Dr Baker's listing outside his scope is refused, and the patient sees the refusal City General's node logged.
    expect(out).toMatch(/not in your scope \[API_NOT_IN_SCOPE\]/);
    const refusals = out.slice(out.indexOf("== and the query City General's node refused"));
    expect(refusals).toMatch(/^TIME\s+ACTOR\s+PATIENT\s+RECORD\s+ROUTE\s+CODE$/m);
    expect(refusals).toMatch(/GET \/v1\/patients\/[0-9a-f]{32}\/records\s+API_NOT_IN_SCOPE/);
    // Each validator's operator verified its chain.
    expect(out.match(/chain medledger-devnet verified: \d+ blocks/g)).toHaveLength(4);
    expect(out).toContain('the decrypted copy equals the original, byte for byte');
    expect(out).toMatch(/emergency/i);
    // St Mary's node down: City General's doctor and the emergency read are served by the others.
    expect(out).toContain('decrypted without St Mary, byte for byte');
    const down = JSON.parse(await readFile(join(work, 'read-down.json'), 'utf8'));
    expect(down.sharesFrom).toHaveLength(2);
    expect(down.sharesFrom).not.toContain('validator-1');
    expect(out).toContain('walkthrough complete');
    const copy = await readFile(join(work, 'er-copy.json'));
    expect(copy.equals(await readFile(join(work, 'observation.json')))).toBe(true);

    const stopped = new Promise<number | null>((resolve) => devnet!.once('exit', resolve));
    devnet.kill('SIGINT');
    expect(await stopped).toBe(0);
    for (const i of [1, 2, 3, 4]) {
      const verify = await run(process.execPath, [
        bin,
        'chain',
        'verify',
        '--home',
        join(devnetDir, `validator-${i}`),
      ]);
      expect(verify.code, verify.output).toBe(0);
    }
  }, 300_000);
});
