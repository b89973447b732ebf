/**
 * Four validators on four "hosts" (network namespaces on one virtual LAN, test/fixtures/netns.ts),
 * made and started exactly as the container compose file does: `docker/entrypoint.sh testnet ...`
 * once, then `docker/entrypoint.sh start` on each host. The nodes find each other from the genesis
 * alone, commit transactions submitted to any of them, keep committing while one host's link is
 * cut, and the cut-off node catches up once the link comes back. Reports how long the network takes
 * to become ready and the cut-off node to catch up. Skipped, with the reason, where namespaces
 * cannot be made (not root, no iproute2).
 */
import { type ChildProcess, execFile } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { encode } from '../src/codec/index.ts';
import { buildTx } from '../src/contracts/index.ts';
import {
  generateEncryptionKeyPair,
  generateSigningKeyPair,
  type IdentityKeys,
  readKeystore,
} from '../src/crypto/index.ts';
import { RECEIPT_OK, Transaction } from '../src/ledger/index.ts';
import { createLan, type Lan, netnsSkipReason } from './fixtures/netns.ts';
import { operatorOf, type RequestSigner, signedFetch } from './fixtures/signed.ts';

const reason = netnsSkipReason();
if (reason !== null) console.log(`multihost tests skipped: ${reason}`);

const N = 4;
const ENTRYPOINT = fileURLToPath(new URL('../docker/entrypoint.sh', import.meta.url));
const PASSPHRASE = 'multihost-testnet-passphrase';
const API_PORT = 7480;
const CHAIN_ID = 'multihost';
/** The wait a submission asks the node for (POST /v1/txs?wait_ms=...). */
const COMMIT_WAIT_MS = 10_000;
const POLL_MS = 100;
/** How long SIGTERM has to stop a node before SIGKILL. */
const STOP_GRACE_MS = 5000;

interface Status {
  height: number;
  hash: string;
  view: number;
  peers: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `probe` until it returns something other than undefined; throws `what` after timeout_ms. */
async function waitFor<T>(what: string, timeout_ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeout_ms;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout_ms / 1000} s waiting for ${what}`);
    await sleep(POLL_MS);
  }
}

/** This process's environment without MEDLEDGER_* settings, which would override the homes' config. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('MEDLEDGER_')) env[key] = value;
  // entrypoint.sh runs the `node` on PATH, which must be Node 24: the one running this test.
  env.PATH = `${dirname(process.execPath)}:${process.env.PATH ?? ''}`;
  return { ...env, ...extra };
}

function tail(path: string, lines = 30): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch (error) {
    return `(no log: ${(error as Error).message})`;
  }
}

const title = `four validators on four hosts${reason === null ? '' : ` (skipped: ${reason})`}`;

describe.skipIf(reason !== null)(title, () => {
  let lan: Lan | undefined;
  let dir = '';
  let admin: IdentityKeys;
  let nonce = 0;
  let failed = false;
  const nodes: (ChildProcess | undefined)[] = [];
  const logPath = (i: number) => join(dir, 'logs', `node-${i}.log`);
  const api = (i: number) => `http://${lan!.addresses[i - 1]}:${API_PORT}`;

  /** GET `path` on node i, signed by `signer` when given (the node-operator routes). */
  async function getJson<T>(
    i: number,
    path: string,
    timeout_ms = 3000,
    signer: RequestSigner | null = null,
  ): Promise<T> {
    const response = await signedFetch(`${api(i)}${path}`, signer, {
      signal: AbortSignal.timeout(timeout_ms),
    });
    if (!response.ok) throw new Error(`GET ${path} on node ${i}: HTTP ${response.status}`);
    return (await response.json()) as T;
  }

  /** Node i's operator: the key `testnet` wrote into its home (operator.key). */
  const operator = (i: number) => operatorOf(join(dir, 'testnet', `node-${i}`));

  const status = (i: number) => getJson<Status>(i, '/v1/status');

  /** Node i's status asked from inside its own namespace (over its loopback), which a cut does not stop. */
  async function statusFromInside(i: number): Promise<Status> {
    const script = `fetch('http://127.0.0.1:${API_PORT}/v1/status').then((r) => r.text()).then(console.log)`;
    const result = await lan!.run(i, process.execPath, ['-e', script], { timeout_ms: 5000 });
    if (result.code !== 0) throw new Error(`status of node ${i} from inside: ${result.stderr.trim()}`);
    return JSON.parse(result.stdout) as Status;
  }

  /** Signs a new org.register as the network admin, submits it to node i and returns its committed height. */
  async function commitThrough(i: number): Promise<number> {
    nonce += 1;
    const tx = buildTx(
      'org.register',
      {
        id: `hospital-${nonce}`,
        kind: 'hospital',
        adminKey: generateSigningKeyPair().publicKey,
        encryptionKey: generateEncryptionKeyPair().publicKey,
      },
      nonce,
      CHAIN_ID,
      admin.signing.secretKey,
    );
    const response = await fetch(`${api(i)}/v1/txs?wait_ms=${COMMIT_WAIT_MS}`, {
      method: 'POST',
      body: encode(Transaction, tx),
      signal: AbortSignal.timeout(COMMIT_WAIT_MS + 5000),
    });
    const body = (await response.json()) as {
      height?: number;
      receipt?: { code: string; message: string };
    };
    if (response.status !== 200 || body.receipt === undefined) {
      throw new Error(
        `tx ${nonce} through node ${i} not committed: HTTP ${response.status} ${JSON.stringify(body)}`,
      );
    }
    expect(body.receipt.code, body.receipt.message).toBe(RECEIPT_OK);
    return body.height!;
  }

  /** Waits until the given nodes report one height and head hash; returns that status. */
  function agreement(which: number[], timeout_ms: number): Promise<Status> {
    return waitFor(`nodes ${which.join(', ')} to agree on the head`, timeout_ms, async () => {
      const all = await Promise.all(which.map(status));
      const first = all[0]!;
      return all.every((s) => s.height === first.height && s.hash === first.hash) ? first : undefined;
    });
  }

  beforeAll(async () => {
    try {
      lan = await createLan({ hosts: N });
      dir = await mkdtemp(join(tmpdir(), 'medledger-multihost-'));
      await mkdir(join(dir, 'logs'));
      // Only writes files: run once, from the root namespace, as the compose file's setup service does.
      const args = [
        'testnet',
        ...['--validators', String(N), '--hosts', lan.addresses.join(',')],
        ...['--out', join(dir, 'testnet'), '--chain-id', CHAIN_ID, '--api-host', '0.0.0.0', '--api-insecure'],
        ...['--api-port', String(API_PORT)],
      ];
      const env = cleanEnv({ MEDLEDGER_PASSPHRASE: PASSPHRASE });
      await promisify(execFile)(ENTRYPOINT, args, { env, timeout: 60_000 }).catch((error) => {
        throw new Error(`entrypoint.sh ${args.join(' ')} failed: ${error.stderr || error.message}`);
      });
      admin = await readKeystore(join(dir, 'testnet', 'admin.key'), PASSPHRASE);
    } catch (error) {
      failed = true;
      throw error;
    }
  }, 90_000);

  afterEach(({ task }) => {
    if (task.result?.state === 'fail') failed = true;
  });

  afterAll(async () => {
    const running = nodes.filter((child): child is ChildProcess => child?.pid !== undefined);
    const exited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;
    const signal = (child: ChildProcess, name: NodeJS.Signals) => {
      if (!exited(child)) process.kill(-child.pid!, name);
    };
    for (const child of running) signal(child, 'SIGTERM');
    const deadline = Date.now() + STOP_GRACE_MS;
    while (running.some((child) => !exited(child)) && Date.now() < deadline) await sleep(50);
    for (const child of running) signal(child, 'SIGKILL');
    if (failed && dir !== '') {
      for (let i = 1; i <= N; i++)
        console.log(`--- node ${i}: ${logPath(i)} (last lines)\n${tail(logPath(i))}`);
      console.log(`multihost: the testnet and logs are kept in ${dir}`);
    }
    await lan?.destroy();
    if (!failed && dir !== '') await rm(dir, { recursive: true, force: true });
  }, 30_000);

  it('starts one validator per host with entrypoint.sh start; all four become ready', async () => {
    const started = Date.now();
    for (let i = 1; i <= N; i++) {
      const log = openSync(logPath(i), 'a');
      const env = cleanEnv({
        MEDLEDGER_HOME: join(dir, 'testnet', `node-${i}`),
        MEDLEDGER_PASSPHRASE: PASSPHRASE,
      });
      nodes[i - 1] = lan!.exec(i, ENTRYPOINT, ['start'], { env, stdio: ['ignore', log, log] });
      closeSync(log);
    }
    await Promise.all(
      [1, 2, 3, 4].map((i) =>
        waitFor(`node ${i} to be ready`, 45_000, async () => {
          if (nodes[i - 1]!.exitCode !== null) throw new Error(`node ${i} exited`);
          const response = await fetch(`${api(i)}/readyz`, { signal: AbortSignal.timeout(1000) });
          return response.status === 200 ? true : undefined;
        }),
      ),
    );
    const ready_s = (Date.now() - started) / 1000;
    console.log(`multihost: all ${N} ready in ${ready_s.toFixed(1)} s`);
    // Ready needs a quorum (two peers); the third connection may still be on its way.
    await waitFor(`every node to be connected to the ${N - 1} others`, 10_000, async () => {
      const all = await Promise.all([1, 2, 3, 4].map(status));
      return all.every((s) => s.peers === N - 1) ? true : undefined;
    });
  }, 60_000);

  it('commits a transaction submitted to each of the four nodes; their heights agree', async () => {
    const heights: number[] = [];
    for (let i = 1; i <= N; i++) heights.push(await commitThrough(i));
    for (let k = 1; k < heights.length; k++) expect(heights[k]).toBeGreaterThan(heights[k - 1]!);
    const head = await agreement([1, 2, 3, 4], 10_000);
    expect(head.height).toBeGreaterThanOrEqual(heights.at(-1)!);
  }, 60_000);

  let behindAt = 0;
  let othersHeight = 0;

  it("with node 4's link cut, nodes 1 to 3 keep committing and node 4 stays behind", async () => {
    const before = await agreement([1, 2, 3, 4], 10_000);
    await lan!.cut(4);
    let last = 0;
    for (let k = 0; k < 6; k++) last = await commitThrough((k % 3) + 1);
    expect(last).toBeGreaterThan(before.height);
    const others = await agreement([1, 2, 3], 10_000);
    expect(others.height).toBeGreaterThanOrEqual(last);
    // Node 4 is still running and answering on its own host, at the height it had when cut.
    const cutOff = await statusFromInside(4);
    expect(cutOff.height).toBe(before.height);
    await sleep(1000);
    expect((await statusFromInside(4)).height).toBe(before.height);
    behindAt = cutOff.height;
    othersHeight = others.height;
  }, 60_000);

  it('node 4 catches up once its link is back', async () => {
    expect(othersHeight).toBeGreaterThan(behindAt);
    await lan!.restore(4);
    const restored = Date.now();
    const caughtUp = await waitFor('node 4 to catch up', 45_000, async () =>
      (await status(4)).height >= othersHeight ? true : undefined,
    );
    expect(caughtUp).toBe(true);
    const catchUp_s = (Date.now() - restored) / 1000;
    console.log(
      `multihost: node 4 caught up ${othersHeight - behindAt} blocks in ${catchUp_s.toFixed(1)} s after the link came back`,
    );
    // And it takes part again: a transaction submitted to it commits.
    expect(await commitThrough(4)).toBeGreaterThan(othersHeight);
  }, 60_000);

  it('all four chains verify and agree on the head hash at a common height', async () => {
    const head = await agreement([1, 2, 3, 4], 15_000);
    // Chain verification and blocks are node-operator routes: each node's own operator signs.
    const unsigned = await fetch(`${api(1)}/v1/chain/verify`, { signal: AbortSignal.timeout(3000) });
    expect(unsigned.status).toBe(401);
    const reports = await Promise.all(
      [1, 2, 3, 4].map(async (i) =>
        getJson<{ ok: boolean; verifiedHeight: number; problem: unknown }>(
          i,
          '/v1/chain/verify',
          10_000,
          await operator(i),
        ),
      ),
    );
    for (const [k, report] of reports.entries()) {
      expect(report.problem, `node ${k + 1}`).toBeNull();
      expect(report.ok, `node ${k + 1}`).toBe(true);
      expect(report.verifiedHeight, `node ${k + 1}`).toBeGreaterThanOrEqual(head.height);
    }
    const blocks = await Promise.all(
      [1, 2, 3, 4].map(async (i) =>
        getJson<{ height: number; hash: string }>(i, `/v1/blocks/${head.height}`, 3000, await operator(i)),
      ),
    );
    expect(blocks.map((block) => block.hash)).toEqual(blocks.map(() => head.hash));
    expect(head.height).toBeGreaterThanOrEqual(2 * N + 3);
  }, 60_000);
});
