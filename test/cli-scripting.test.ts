/**
 * The CLI under pipes and scripts, as real processes: output piped into a reader that stops early
 * ends quietly with the command's exit code; `--json` failures are one JSON object on stdout with a
 * stable code; a misspelt option is reported as a typo with a suggestion, not as a missing option.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Progress } from '../src/cli/progress.ts';
import { generateIdentityKeys, writeKeystore } from '../src/crypto/index.ts';
import { formatDuration } from '../src/duration.ts';
import { cleanEnv, run } from './fixtures/run.ts';

const bin = new URL('../bin/medledger.js', import.meta.url).pathname;

/** A bash pipeline with `$ML` standing for the medledger command. */
const sh = (script: string, env: Record<string, string> = {}) =>
  run('bash', ['-o', 'pipefail', '-c', script], {
    env: cleanEnv({ ML: `${process.execPath} ${bin}`, ...env }),
  });

const entry = (i: number) => ({
  timestamp_ms: 1_790_000_000_000 + i,
  height: i,
  txIndex: 0,
  seq: 0,
  txHash: 'ab'.repeat(32),
  action: 'read',
  actor: 'a1'.repeat(16),
  patient: 'b2'.repeat(16),
  record: 'c3'.repeat(16),
  decision: 'permit',
  rule: 'grant:0123456789abcdef0123456789abcdef',
  purpose: 'treatment',
  emergency: false,
  reason: '',
});

describe('the CLI in pipes and scripts', () => {
  let server: Server;
  let node = '';
  let dir = '';
  let keystore = '';
  const passphrase = 'a passphrase';
  beforeAll(async () => {
    // The auditor who asks: `audit` signs its requests with a keystore.
    dir = await mkdtemp(join(tmpdir(), 'medledger-cli-scripting-'));
    keystore = join(dir, 'auditor.key');
    await writeKeystore(keystore, generateIdentityKeys(), passphrase, { scrypt: { N: 2 ** 12, r: 8, p: 1 } });
    // A node's audit trail, many pages long: far more output than a pipe buffers.
    server = createServer((req, res) => {
      const url = new URL(req.url!, 'http://x');
      res.writeHead(200, { 'content-type': 'application/json' });
      if (url.pathname.startsWith('/v1/accounts/')) {
        // The signer's account: a registered identity, whose id signs the requests.
        return res.end(JSON.stringify({ nonce: 0, identity: { id: 'a1'.repeat(16) } }));
      }
      const page = Number(url.searchParams.get('cursor') ?? 0);
      const entries = Array.from({ length: 500 }, (_, i) => entry(page * 500 + i));
      res.end(JSON.stringify({ entries, cursor: page < 20 ? String(page + 1) : null }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    node = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('ends quietly when the reader stops early (| head)', async () => {
    for (const args of ['audit --all', 'audit --all --json']) {
      const result = await sh(`$ML ${args} --node ${node} --keystore ${keystore} | head -2`, {
        MEDLEDGER_PASSPHRASE: passphrase,
      });
      expect(result.stderr, args).toBe('');
      expect(result.code, args).toBe(0);
      expect(result.stdout.split('\n').filter(Boolean)).toHaveLength(args.includes('json') ? 1 : 2);
    }
  });

  it('answers --json failures with one JSON error object on stdout, and the same exit code', async () => {
    const cases: Array<[string, string]> = [
      [`status --node http://127.0.0.1:1 --json`, 'NODE_UNREACHABLE'],
      [`grant --to org:x --keystore /nonexistent.key --json`, 'KEYSTORE_NOT_FOUND'],
      [`grant --too org:x --json`, 'CLI_USAGE'],
      [`genesis validate /nonexistent.json --json`, 'GENESIS_NOT_FOUND'],
      // Personal data needs a signed caller; the node's blocks, its operator's key.
      [`record list --patient ${'0'.repeat(32)} --json`, 'KEYSTORE_REQUIRED'],
      [`block show 1 --json`, 'OPERATOR_KEY_REQUIRED'],
    ];
    for (const [args, code] of cases) {
      const result = await sh(`$ML ${args}`, { MEDLEDGER_PASSPHRASE: 'a passphrase' });
      expect(result.code, args).toBe(1);
      expect(result.stderr, args).toBe('');
      const lines = result.stdout.trim().split('\n');
      expect(lines, args).toHaveLength(1);
      expect(JSON.parse(lines[0]!), args).toMatchObject({ error: { code, message: expect.any(String) } });
    }
    const plain = await sh(`$ML status --node http://127.0.0.1:1`);
    expect(plain.stdout).toBe('');
    expect(plain.stderr).toMatch(/^medledger: cannot reach the node .* \[NODE_UNREACHABLE\]\n$/);
  });

  it('reports a misspelt option as a typo with a suggestion, in three lines, not the whole help', async () => {
    const result = await sh('$ML grant --too org:x');
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      "error: unknown option '--too'\n(Did you mean --to?)\n(add --help for the options and an example)\n",
    );
    const missing = await sh('$ML grant --keystore x.key');
    expect(missing.stderr).toMatch(/^error: required option '--to <subject>' not specified\n/);
  });
});

describe('durations', () => {
  it('are named in the largest unit that fits, as people type them', () => {
    expect([14_400_000, 90_000, 1_500, 86_400_000 * 14, 0].map(formatDuration)).toEqual([
      '4h',
      '90s',
      '1500ms',
      '2w',
      '0ms',
    ]);
  });
});

describe('progress on long work', () => {
  it('is redrawn in place on a terminal, throttled, erased at the end, and silent when piped', () => {
    const written: string[] = [];
    const terminal = { isTTY: true, write: (text: string) => written.push(text) };
    const progress = new Progress('simulating', 10, terminal, 0);
    progress.update(1, '0 failing', 1000);
    progress.update(2, '0 failing', 1050); // within 100 ms: not redrawn
    progress.update(5, '1 failing', 5000);
    progress.end();
    expect(written).toEqual([
      '\r\x1b[Ksimulating: 1/10, 0 failing, about 9 s left',
      '\r\x1b[Ksimulating: 5/10, 1 failing, about 5 s left',
      '\r\x1b[K',
    ]);
    const piped: string[] = [];
    const quiet = new Progress(
      'simulating',
      10,
      { isTTY: false, write: (text: string) => piped.push(text) },
      0,
    );
    quiet.update(10, '', 1000);
    quiet.end();
    expect(piped).toEqual([]);
  });

  it('keeps a piped simulator run to its result', async () => {
    const result = await sh('$ML sim --nodes 4 --seeds 4 2>&1 | cat');
    expect(result.code).toBe(0);
    expect(result.stdout).not.toContain('\x1b[K');
    expect(result.stdout).toMatch(/^medledger sim: 4 nodes, 4 seed\(s\)/);
  });
});

describe('npx medledger', () => {
  it('starts without npm engine warnings, whatever Node the system has (the project brings Node 24)', async () => {
    const root = new URL('..', import.meta.url).pathname;
    const PATH = (process.env.PATH ?? '')
      .split(':')
      .filter((dir) => !dir.includes('node_modules'))
      .join(':');
    const result = await run('npx', ['medledger', '--version'], { cwd: root, env: { ...process.env, PATH } });
    expect(result.stderr).not.toContain('EBADENGINE');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  }, 30_000);
});
