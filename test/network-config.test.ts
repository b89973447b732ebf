/**
 * How a node knows where the other validators are: the peer set it builds from the genesis and
 * `[[peers]]`, the checks of its own entry, `medledger testnet` (ready homes for N hosts), `node
 * info`, the passphrase file, and the clear errors for a misconfigured network.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKeyPair } from '../src/crypto/index.ts';
import { DEFAULT_PARAMS, type Genesis, loadGenesis } from '../src/ledger/index.ts';
import { parseSettings } from '../src/node/config.ts';
import { peerSet, selfReachabilityNotes } from '../src/node/peer-set.ts';

const bin = new URL('../bin/medledger.js', import.meta.url).pathname;
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

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

function network(addresses: string[][]): Genesis {
  return {
    chainId: 'peers',
    genesisTime: 0,
    validators: addresses.map((list, i) => ({
      name: `v${i}`,
      publicKey: generateSigningKeyPair().publicKey,
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
      addresses: ['/dns4/node-2.example/tcp/7400'],
      genesisValidator: `validator-2=${hex(genesis.validators[1]!.publicKey)}@/dns4/node-2.example/tcp/7400`,
    });

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
  });

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
