/**
 * `npm start` (the devnet): four validator processes come up and are ready, commit a transaction signed with the demo
 * admin's keystore, stop on SIGINT, and resume the same chain when started again on the directory.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hex } from '../src/bytes.ts';
import { NodeClient } from '../src/client/index.ts';
import { encode } from '../src/codec/index.ts';
import { buildTx, identityId } from '../src/contracts/index.ts';
import { generateEncryptionKeyPair, generateSigningKeyPair, readKeystore } from '../src/crypto/index.ts';
import { freePortBase } from '../src/free-port.ts';
import { Transaction, txHash } from '../src/ledger/index.ts';
import { killProcessGroups } from './fixtures/run.ts';
import { until } from './fixtures/validators.ts';

const root = new URL('..', import.meta.url).pathname;

interface DevnetInfo {
  apis: string[];
  adminKeystore: string;
  operatorKeys: string[];
  passphrase: string;
  resumed: boolean;
  walkthrough: string;
}

/** `npm start`, as a user runs it (in its own process group, as a terminal would). */
function startDevnet(
  dir: string,
  basePort: number,
): Promise<{ child: ChildProcess; info: DevnetInfo; output: () => string }> {
  const child = spawn(
    'npm',
    ['start', '--silent', '--', '--dir', dir, '--base-port', String(basePort), '--json'],
    {
      cwd: root,
      detached: true,
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  return new Promise((resolve, reject) => {
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const line = output.split('\n').find((l) => l.startsWith('{'));
      if (!line) return;
      const info = JSON.parse(line);
      // With --json a failure is one `{"error": …}` object on the same stdout.
      if (info.error) reject(new Error(`devnet failed: ${JSON.stringify(info.error)}`));
      else resolve({ child, info, output: () => output });
    });
    child.once('exit', (code) => reject(new Error(`devnet exited early with ${code}`)));
  });
}

/**
 * Ctrl-C: SIGINT to the whole foreground process group. npm itself dies of the signal; the devnet
 * stops its validators and says so on the output it shares with npm, which closes once all exit.
 */
async function stop(
  devnet: { child: ChildProcess; output: () => string },
  signal: NodeJS.Signals = 'SIGINT',
): Promise<string> {
  const closed = new Promise<void>((resolve) => devnet.child.stdout!.once('end', resolve));
  process.kill(-devnet.child.pid!, signal);
  await closed;
  return devnet.output();
}

function run(command: string, args: string[]) {
  return new Promise<{ code: number; stderr: string }>((resolve) => {
    execFile(command, args, (error, _stdout, stderr) =>
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stderr }),
    );
  });
}

async function allReady(apis: string[]): Promise<void> {
  await until(async () => {
    const answers = await Promise.all(apis.map((api) => fetch(`${api}/readyz`).catch(() => null)));
    return answers.every((answer) => answer?.status === 200);
  }, 30_000);
}

describe('medledger devnet', () => {
  let dir = '';
  const started: ChildProcess[] = [];
  afterAll(async () => {
    // A failed test must not leave validators behind: stop every devnet's whole process group.
    killProcessGroups(started);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('runs four validators, commits, stops on SIGINT and resumes the same chain', async () => {
    dir = await mkdtemp(join(tmpdir(), 'medledger-devnet-'));
    const basePort = await freePortBase([0, 1, 2, 3, 100, 101, 102, 103]);
    const first = await startDevnet(dir, basePort);
    started.push(first.child);
    expect(first.info.resumed).toBe(false);
    expect(first.info.apis).toHaveLength(4);
    // The walkthrough command it prints works from any directory: absolute paths only.
    expect(first.info.walkthrough).toBe(`DEVNET=${dir} bash ${join(root, 'examples/walkthrough.sh')}`);
    const api = first.info.apis[0]!;
    await allReady(first.info.apis);

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
    // A receipt is its sender's to see (a signed request), or the node operator's.
    const sender = { id: identityId(admin.signing.publicKey), secretKey: admin.signing.secretKey };
    const receipt = (api: string) => new NodeClient(api).as(sender).tx(hex(txHash(tx)));
    await until(async () => (await receipt(first.info.apis[3]!)) !== null, 30_000);
    expect((await receipt(first.info.apis[3]!))?.receipt.code).toBe('OK');
    expect(first.info.operatorKeys).toEqual(
      [1, 2, 3, 4].map((i) => join(dir, `validator-${i}`, 'operator.key')),
    );
    expect(await stop(first)).toContain('devnet stopped');

    const second = await startDevnet(dir, basePort);
    started.push(second.child);
    try {
      expect(second.info.resumed).toBe(true);
      await allReady(second.info.apis);
      expect((await receipt(second.info.apis[3]!))?.receipt.code).toBe('OK');
      // A second devnet on the same directory refuses at once, naming the running one.
      const third = await run(process.execPath, [join(root, 'bin/medledger.js'), 'devnet', '--dir', dir]);
      expect(third.code).toBe(1);
      expect(third.stderr).toMatch(
        new RegExp(
          `^medledger: a devnet is already running in ${dir} \\(pid \\d+\\); .*\\[DEVNET_ALREADY_RUNNING\\]\\n$`,
        ),
      );
      await allReady(second.info.apis);
      const logs = await Promise.all(
        [1, 2, 3, 4].map((i) => readFile(join(dir, `validator-${i}`, 'node.log'), 'utf8')),
      );
      expect(logs.join('')).not.toContain('NODE_ALREADY_RUNNING');
    } finally {
      // A closed terminal (SIGHUP) stops it cleanly too, and says so.
      const output = await stop(second, 'SIGHUP');
      expect(output).toContain('devnet stopping (SIGHUP)');
      expect(output).toContain('devnet stopped');
    }
  });

  it('refuses to resume a devnet of chain format 1, saying how to start over', async () => {
    const old = await mkdtemp(join(tmpdir(), 'medledger-devnet-format-1-'));
    try {
      // As an earlier medledger left it: its layout, and a genesis whose validators have no encryptionKey.
      const home = join(old, 'validator-1');
      await mkdir(home);
      const layout = { basePort: 26600, homes: [home], apis: ['http://127.0.0.1:26700'] };
      await writeFile(join(old, 'devnet.json'), JSON.stringify(layout));
      const validator = {
        name: 'validator-1',
        publicKey: hex(generateSigningKeyPair().publicKey),
        addresses: [],
      };
      await writeFile(
        join(home, 'genesis.json'),
        JSON.stringify({ chainId: 'medledger-devnet', validators: [validator] }),
      );
      const result = await run(process.execPath, [join(root, 'bin/medledger.js'), 'devnet', '--dir', old]);
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(
        `medledger: the devnet in ${old} was created by an earlier medledger (chain format 1), which this ` +
          `release cannot resume: remove the directory (rm -r ${old}) to create a new devnet, or give another ` +
          '--dir [DEVNET_OLD_FORMAT]\n',
      );
    } finally {
      await rm(old, { recursive: true, force: true });
    }
  });
});
