/**
 * How a node knows where the other validators are: the peer set it builds from the genesis and
 * `[[peers]]`, the checks of its own entry, `medledger testnet` (ready homes for N hosts), `node
 * info`, the passphrase file, and the clear errors for a misconfigured network.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hex } from '../src/bytes.ts';
import { generateEncryptionKeyPair, generateSigningKeyPair } from '../src/crypto/index.ts';
import { freePortBase } from '../src/free-port.ts';
import { DEFAULT_PARAMS, type Genesis, loadGenesis } from '../src/ledger/index.ts';
import { ActivityReport } from '../src/node/activity.ts';
import { parseSettings } from '../src/node/config.ts';
import { peerSet, selfReachabilityNotes } from '../src/node/peer-set.ts';
import { consensusParams } from '../src/node/validator.ts';

const bin = new URL('../bin/medledger.js', import.meta.url).pathname;

function medledger(args: string[], env: Record<string, string>) {
  const clean = Object.entries(process.env).filter(([name]) => !name.startsWith('MEDLEDGER_'));
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [bin, ...args],
      { env: { ...Object.fromEntries(clean), ...env } },
      (error, stdout, stderr) => {
        resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

async function until(condition: () => boolean | Promise<boolean>, timeout_ms: number): Promise<void> {
  const deadline = Date.now() + timeout_ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 100));
  }
}

function network(addresses: string[][]): Genesis {
  return {
    chainId: 'peers',
    genesisTime: 0,
    validators: addresses.map((list, i) => ({
      name: `v${i}`,
      publicKey: generateSigningKeyPair().publicKey,
      encryptionKey: generateEncryptionKeyPair().publicKey,
      addresses: list,
    })),
    networkAdmins: [],
    organisations: [],
    params: DEFAULT_PARAMS,
  };
}

describe('the peer set', () => {
  const genesis = network([['/ip4/192.0.2.1/tcp/7400'], ['/dns4/b.example/tcp/7400'], []]);
  const [self, b, c] = genesis.validators.map((v) => hex(v.publicKey)) as [string, string, string];

  it('dials every other validator at its genesis addresses; [[peers]] overrides or adds', () => {
    expect(peerSet(genesis, self, []).map((p) => [p.name, p.addresses])).toEqual([
      ['v1', ['/dns4/b.example/tcp/7400']],
      ['v2', []],
    ]);
    const observer = hex(generateSigningKeyPair().publicKey);
    const peers = peerSet(genesis, self, [
      { publicKey: b, addresses: ['/ip4/10.1.2.3/tcp/7400'] },
      { publicKey: observer, addresses: [] },
    ]);
    expect(peers.map((p) => [hex(p.publicKey), p.addresses])).toEqual([
      [b, ['/ip4/10.1.2.3/tcp/7400']],
      [c, []],
      [observer, []],
    ]);
    expect(() => peerSet(genesis, self, [{ publicKey: self, addresses: [] }])).toThrow(
      /\[\[peers\]\] lists this node's own key/,
    );
  });

  it('tells the operator when its own entry cannot be reached as configured', () => {
    const listen = ['/ip4/0.0.0.0/tcp/7400'];
    expect(selfReachabilityNotes(genesis, self, { listen, advertise: [] })).toEqual([]);
    expect(
      selfReachabilityNotes(genesis, self, { listen: ['/ip4/0.0.0.0/tcp/7500'], advertise: [] }),
    ).toEqual([
      expect.stringMatching(
        /lists this validator at \/ip4\/192\.0\.2\.1\/tcp\/7400, but it listens on port 7500/,
      ),
    ]);
    expect(selfReachabilityNotes(genesis, c, { listen, advertise: [] })).toEqual([
      expect.stringMatching(/lists no address for this validator: the others cannot dial it/),
    ]);
    expect(
      selfReachabilityNotes(genesis, self, { listen, advertise: ['/dns4/new.example/tcp/7400'] }),
    ).toEqual([
      expect.stringMatching(
        /advertises \/dns4\/new\.example\/tcp\/7400 .* but genesis\.json lists it at \/ip4\/192\.0\.2\.1/,
      ),
    ]);
  });

  it('refuses a [[peers]] or advertise address that does not parse, naming it', () => {
    const key = hex(generateSigningKeyPair().publicKey);
    expect(() => parseSettings({ peers: [{ publicKey: key, addresses: ['/ip4/1.2.3/tcp/1'] }] })).toThrow(
      /config\.toml: peers\[0\]\.addresses\[0\]: .*not a multiaddr/,
    );
    expect(() => parseSettings({ advertise: ['/ip4/0.0.0.0/tcp/7400'] })).toThrow(
      /config\.toml: advertise: .*is where a node listens/,
    );
    expect(parseSettings({ advertise: ['/dns4/node.example/tcp/7400'] }).advertise).toEqual([
      '/dns4/node.example/tcp/7400',
    ]);
  });
});

describe('medledger testnet', () => {
  let dir = '';
  let passphraseFile = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'medledger-testnet-'));
    passphraseFile = join(dir, 'passphrase');
    await writeFile(passphraseFile, 'testnet passphrase\n');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes N ready homes and a genesis that lists each host, with the passphrase from a file', async () => {
    const out = join(dir, 'net');
    const env = { MEDLEDGER_PASSPHRASE_FILE: passphraseFile };
    const hosts = '198.18.0.1,node-2.example,[2001:db8::3]:7411';
    const result = await medledger(
      ['testnet', '--validators', '3', '--hosts', hosts, '--out', out, '--json'],
      env,
    );
    expect(result.code, result.stderr).toBe(0);
    const layout = JSON.parse(result.stdout);
    expect(layout.validators.map((v: { p2p: string }) => v.p2p)).toEqual([
      '/ip4/198.18.0.1/tcp/7400',
      '/dns4/node-2.example/tcp/7400',
      '/ip6/2001:db8::3/tcp/7411',
    ]);
    const genesis = await loadGenesis(join(out, 'genesis.json'));
    expect(genesis.validators.map((v) => v.addresses)).toEqual(
      layout.validators.map((v: { p2p: string }) => [v.p2p]),
    );
    for (const i of [1, 2, 3]) {
      expect(await readFile(join(out, `node-${i}`, 'genesis.json'), 'utf8')).toEqual(
        await readFile(join(out, 'genesis.json'), 'utf8'),
      );
    }
    expect(await readFile(join(out, 'node-3', 'config.toml'), 'utf8')).toContain(
      'listen = [ "/ip6/::/tcp/7411" ]',
    );

    // node info reads the home without its passphrase; where it is dialled comes from the genesis.
    const info = await medledger(['node', 'info', '--home', join(out, 'node-2'), '--json'], {});
    expect(info.code, info.stderr).toBe(0);
    expect(JSON.parse(info.stdout)).toMatchObject({
      name: 'validator-2',
      validatorPublicKey: hex(genesis.validators[1]!.publicKey),
      // The home's X25519 key is the one its genesis entry names (chain format 2).
      encryptionPublicKey: hex(genesis.validators[1]!.encryptionKey),
      addresses: ['/dns4/node-2.example/tcp/7400'],
      genesisValidator: `validator-2=${hex(genesis.validators[1]!.publicKey)}:${hex(genesis.validators[1]!.encryptionKey)}@/dns4/node-2.example/tcp/7400`,
    });
    expect(layout.validators[1].encryptionKey).toBe(hex(genesis.validators[1]!.encryptionKey));

    const again = await medledger(['testnet', '--validators', '3', '--hosts', hosts, '--out', out], env);
    expect(again.stderr).toMatch(/already holds a testnet .* \[TESTNET_EXISTS\]\n$/);
  });

  it('gives validators on one host consecutive ports', async () => {
    const out = join(dir, 'local');
    const args = [
      'testnet',
      '--validators',
      '4',
      '--hosts',
      '127.0.0.1',
      '--p2p-port',
      '27400',
      '--out',
      out,
      '--json',
    ];
    const result = await medledger(args, { MEDLEDGER_PASSPHRASE: 'testnet passphrase' });
    expect(result.code, result.stderr).toBe(0);
    const layout = JSON.parse(result.stdout);
    expect(layout.validators.map((v: { p2p: string; api: string }) => [v.p2p, v.api])).toEqual([
      ['/ip4/127.0.0.1/tcp/27400', 'http://127.0.0.1:7480'],
      ['/ip4/127.0.0.1/tcp/27401', 'http://127.0.0.1:7481'],
      ['/ip4/127.0.0.1/tcp/27402', 'http://127.0.0.1:7482'],
      ['/ip4/127.0.0.1/tcp/27403', 'http://127.0.0.1:7483'],
    ]);
  });

  it('names bad hosts, a wrong count, a listening address and an unreadable passphrase file', async () => {
    const env = { MEDLEDGER_PASSPHRASE: 'testnet passphrase' };
    let runs = 0;
    const run = (hosts: string, extra: Record<string, string> = env) =>
      medledger(
        ['testnet', '--validators', '2', '--hosts', hosts, '--out', join(dir, `bad-${runs++}`)],
        extra,
      );
    expect((await run('a.example')).code).toBe(0); // one host for all
    const cases: Array<[string, RegExp, Record<string, string>?]> = [
      [
        'a.example,b.example,c.example',
        /give one host per validator \(2\), or one host for all of them; got 3 \[TESTNET_INVALID\]/,
      ],
      ['bad host!,b.example', /"bad host!" is not HOST, HOST:PORT or \[IPV6\]:PORT \[TESTNET_INVALID\]/],
      ['a.example:99999,b.example', /--hosts: expected a port/],
      [
        '0.0.0.0,b.example',
        /--hosts: host 1: \/ip4\/0\.0\.0\.0\/tcp\/7400 is where a node listens, .*\[TESTNET_INVALID\]/,
      ],
      [
        'a.example,a.example:7400',
        /--hosts: host 2: \/dns4\/a\.example\/tcp\/7400 is also the address of validators\[0\] .*\[TESTNET_INVALID\]/,
      ],
      [
        'c.example',
        /cannot read the passphrase file .*ENOENT \[KEYSTORE_PASSPHRASE_FILE\]/,
        { MEDLEDGER_PASSPHRASE_FILE: join(dir, 'absent') },
      ],
    ];
    for (const [hosts, message, extra] of cases) {
      const result = await run(hosts, { ...(extra ?? env) });
      expect(result.code, hosts).toBe(1);
      expect(result.stderr, hosts).toMatch(message);
    }
    // A passphrase too weak for the keystores is refused before anything is written.
    const weak = join(dir, 'weak');
    const refused = await medledger(['testnet', '--validators', '2', '--hosts', 'a.example', '--out', weak], {
      MEDLEDGER_PASSPHRASE: 'x',
    });
    expect(refused.stderr).toMatch(/\[KEYSTORE_WEAK_PASSPHRASE\]\n$/);
    expect(existsSync(weak)).toBe(false);
  });

  it('accepts a transaction on a node without a quorum, and says so at once', async () => {
    const out = join(dir, 'alone');
    const env = { MEDLEDGER_PASSPHRASE: 'testnet passphrase' };
    const base = await freePortBase([0, 1, 2, 3, 100, 101, 102, 103]);
    const args = ['testnet', '--validators', '4', '--hosts', '127.0.0.1', '--p2p-port', String(base)];
    const made = await medledger([...args, '--api-port', String(base + 100), '--out', out], env);
    expect(made.code, made.stderr).toBe(0);
    const clean = Object.entries(process.env).filter(([name]) => !name.startsWith('MEDLEDGER_'));
    const node = spawn(process.execPath, [bin, 'start', '--home', join(out, 'node-1')], {
      env: { ...Object.fromEntries(clean), ...env },
      stdio: 'ignore',
    });
    try {
      const api = `http://127.0.0.1:${base + 100}`;
      await until(async () => (await fetch(`${api}/healthz`).catch(() => null))?.ok === true, 20_000);
      const started = Date.now();
      const cli = spawn(
        process.execPath,
        [bin, 'keys', 'new', '--out', join(dir, 'hospital.key'), '--force'],
        { env: { ...Object.fromEntries(clean), ...env }, stdio: 'ignore' },
      );
      await new Promise((resolve) => cli.once('exit', resolve));
      const register = spawn(
        process.execPath,
        [
          bin,
          'org',
          'register',
          '--id',
          'alone',
          '--kind',
          'hospital',
          '--admin',
          join(dir, 'hospital.key'),
          '--keystore',
          join(out, 'admin.key'),
          '--node',
          api,
        ],
        { env: { ...Object.fromEntries(clean), ...env } },
      );
      let stderr = '';
      register.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      try {
        await until(() => stderr.includes('[API_NO_QUORUM]'), 15_000);
      } finally {
        register.kill('SIGKILL');
      }
      expect(stderr).toMatch(
        /^medledger: warning: accepted, but this node cannot commit now: connected to 0 validators, 2 needed for a quorum \[API_NO_QUORUM\]\n/,
      );
      expect(Date.now() - started).toBeLessThan(15_000); // not the 30 s commit timeout

      // The Grafana dashboard in docs/ charts only metrics a node really serves.
      const served = await (await fetch(`${api}/metrics`)).text();
      const dashboard = await readFile(
        new URL('../docs/grafana/medledger-node.json', import.meta.url),
        'utf8',
      );
      const charted = new Set(
        [...dashboard.matchAll(/medledger_[a-z_]+/g)].map(([name]) =>
          name.replace(/_(bucket|sum|count)$/, ''),
        ),
      );
      expect(charted.size).toBeGreaterThan(10);
      for (const name of charted) expect(served, name).toMatch(new RegExp(`^# TYPE ${name} `, 'm'));
    } finally {
      node.kill('SIGTERM');
      await new Promise((resolve) => node.once('exit', resolve));
    }
  }, 60_000);

  it('refuses to start a node whose own key is not in the genesis, naming both', async () => {
    const out = join(dir, 'net');
    const stranger = join(dir, 'stranger');
    const created = await medledger(['init', '--home', stranger], {
      MEDLEDGER_PASSPHRASE: 'testnet passphrase',
    });
    expect(created.code, created.stderr).toBe(0);
    await writeFile(join(stranger, 'genesis.json'), await readFile(join(out, 'genesis.json')));
    const started = await medledger(['start', '--home', stranger], {
      MEDLEDGER_PASSPHRASE: 'testnet passphrase',
    });
    expect(started.code).toBe(1);
    expect(started.stderr).toMatch(
      /\(([0-9a-f]{64})\) is not a validator of chain testnet .* \[NODE_NOT_A_VALIDATOR\]\n$/,
    );
  });
});

describe('what a node says', () => {
  it('summarises commits periodically, silent when idle, and reports catch-up at most every 5 s', () => {
    const report = new ActivityReport(0);
    expect(report.summary(30_000, 0, 0)).toBeNull();
    report.committed(10);
    report.committed(50);
    const line = report.summary(60_000, 12, 1);
    expect(line?.fields).toEqual({ height: 12, view: 1, blocks: 2, txs: 60, tx_per_s: 2 });
    expect(line?.message).toBe('committed 2 blocks (60 transactions, 2 tx/s) in the last 30 s');
    expect(report.summary(90_000, 12, 1)).toBeNull();
    expect(report.catchingUp(100_000, 3, 500)?.message).toBe(
      'catching up: at height 3, fetching blocks up to 500 from peers',
    );
    expect(report.catchingUp(101_000, 200, 500)).toBeNull();
    expect(report.catchingUp(105_000, 400, 500)?.fields).toEqual({ height: 400, behind: 100 });
  });
});

describe('consensus parameters', () => {
  it("take the network's block limit from the genesis, and never propose above it", () => {
    const genesis = network([[], [], [], []]);
    genesis.params = { ...genesis.params, maxBlockTxs: 50 };
    const params = consensusParams(genesis, { batchMaxTxs: 5000, maxBlockTxs: 99_999 });
    expect(params.maxBlockTxs).toBe(50); // a local setting cannot change what a valid block is
    expect(params.batchMaxTxs).toBe(50);
    expect(consensusParams(genesis, { batchMaxTxs: 20 }).batchMaxTxs).toBe(20);
  });
});
