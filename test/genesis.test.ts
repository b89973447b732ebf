import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hex } from '../src/bytes.ts';
import { blockHash, genesisBlock, genesisToJson, loadGenesis, parseGenesis } from '../src/ledger/index.ts';
import { makeNetwork } from './fixtures/chain.ts';

const net = makeNetwork();
const valid = () => JSON.parse(JSON.stringify(genesisToJson(net.genesis)));
const codeOf = (json: unknown) => {
  try {
    parseGenesis(json);
    return 'OK';
  } catch (error) {
    return `${(error as { code: string }).code} ${(error as Error).message}`;
  }
};

/** A label, an edit that breaks a valid genesis, and what the error must say. */
type InvalidCase = [string, (doc: Record<string, any>) => void, RegExp];

function expectInvalid(cases: InvalidCase[]): void {
  for (const [label, edit, message] of cases) {
    const doc = valid();
    edit(doc);
    const result = codeOf(doc);
    expect(result, label).toMatch(/^GENESIS_INVALID /);
    expect(result, label).toMatch(message);
  }
}

describe('genesis.json', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'medledger-genesis-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('round-trips through JSON and yields the same genesis block', async () => {
    const path = join(dir, 'genesis.json');
    await writeFile(path, JSON.stringify(valid(), null, 2));
    const loaded = await loadGenesis(path);
    expect(loaded).toEqual(net.genesis);
    expect(blockHash(genesisBlock(loaded).header)).toEqual(blockHash(genesisBlock(net.genesis).header));
  });

  it('fills in default parameters and accepts organisations', () => {
    const doc = valid();
    delete doc.params;
    doc.organisations = [
      {
        id: 'st-mary',
        kind: 'hospital',
        name: "St Mary's",
        adminKey: doc.validators[0].publicKey,
        encryptionKey: doc.networkAdmins[0].encryptionKey,
      },
    ];
    const genesis = parseGenesis(doc);
    expect(genesis.params.checkpointInterval).toBe(100);
    expect(genesis.organisations[0]!.kind).toBe('hospital');
  });

  it('names the bad path for every kind of mistake', () => {
    const cases: InvalidCase[] = [
      ['missing chain id', (d) => delete d.chainId, /\$\.chainId/],
      ['bad chain id', (d) => (d.chainId = 'Bad Chain!'), /\$\.chainId/],
      ['bad time', (d) => (d.genesisTime = 'yesterday'), /\$\.genesisTime/],
      ['impossible date', (d) => (d.genesisTime = '2026-02-30T00:00:00Z'), /\$\.genesisTime/],
      ['no validators', (d) => (d.validators = []), /\$\.validators: expected at least 1/],
      [
        'short key',
        (d) => (d.validators[1].publicKey = 'abcd'),
        /\$\.validators\[1\]\.publicKey: expected a 32-byte key/,
      ],
      [
        'duplicate validator',
        (d) => (d.validators[2].publicKey = d.validators[0].publicKey),
        /\$\.validators\[2\]: duplicate public key/,
      ],
      ['unknown field', (d) => (d.validators[0].power = 10), /\$\.validators\[0\]\.power: unknown field/],
      ['typo at the top', (d) => (d.chainID = 'x'), /\$\.chainID: unknown field/],
      ['no admins', (d) => (d.networkAdmins = []), /\$\.networkAdmins/],
      ['bad param', (d) => (d.params = { checkpointInterval: 0 }), /\$\.params\.checkpointInterval/],
      [
        'bad org kind',
        (d) =>
          (d.organisations = [
            { id: 'x', kind: 'spa', name: 'X', adminKey: 'ab'.repeat(32), encryptionKey: 'ab'.repeat(32) },
          ]),
        /\$\.organisations\[0\]\.kind/,
      ],
      ['not an object', (d) => (d.params = [1]), /\$\.params: expected an object/],
      // A small-order Ed25519 key (the identity point) would let anyone forge its signatures.
      [
        'weak signing key',
        (d) => (d.validators[0].publicKey = `01${'00'.repeat(31)}`),
        /validators\[0\]\.publicKey: not a valid Ed25519/,
      ],
      [
        'weak encryption key',
        (d) => (d.networkAdmins[0].encryptionKey = '00'.repeat(32)),
        /encryptionKey: not a valid X25519/,
      ],
      [
        'weak validator encryption key',
        (d) => (d.validators[1].encryptionKey = '00'.repeat(32)),
        /validators\[1\]\.encryptionKey: not a valid X25519/,
      ],
      [
        'short validator encryption key',
        (d) => (d.validators[0].encryptionKey = 'abcd'),
        /validators\[0\]\.encryptionKey: expected a 32-byte key/,
      ],
      [
        'two validators with one encryption key',
        (d) => (d.validators[3].encryptionKey = d.validators[1].encryptionKey),
        /\$\.validators\[3\]: duplicate encryption key/,
      ],
    ];
    expectInvalid(cases);
    expect(codeOf(null)).toMatch(/^GENESIS_INVALID \S+ \$: expected an object/);
  });

  it("names each validator's X25519 key, and refuses a genesis of chain format 1 saying what to do", () => {
    const doc = valid();
    expect(doc.validators[0]).toEqual({
      name: 'validator-0',
      publicKey: expect.stringMatching(/^[0-9a-f]{64}$/),
      encryptionKey: hex(net.validatorEncryption[0]!.publicKey),
      addresses: [],
    });
    expect(parseGenesis(doc).validators.map((v) => v.encryptionKey)).toEqual(
      net.validatorEncryption.map((k) => k.publicKey),
    );
    // The committed form holds it: two validators' keys swapped make another genesis block.
    const swapped = valid();
    [swapped.validators[0].encryptionKey, swapped.validators[1].encryptionKey] = [
      swapped.validators[1].encryptionKey,
      swapped.validators[0].encryptionKey,
    ];
    expect(blockHash(genesisBlock(parseGenesis(swapped)).header)).not.toEqual(
      blockHash(genesisBlock(net.genesis).header),
    );

    const old = valid(); // as an earlier medledger wrote it
    for (const v of old.validators) delete v.encryptionKey;
    expect(codeOf(old)).toBe(
      'GENESIS_INVALID genesis.json: $.validators[0].encryptionKey: missing: this file was written for ' +
        'chain format 1, and format 2 names each validator\'s X25519 "encryptionKey" (as "medledger node ' +
        'info" and "medledger init" print it), so make a new genesis with "medledger genesis create" or ' +
        '"medledger testnet"',
    );
  });

  it('takes p2p addresses that another host can dial, and names every kind of bad one', () => {
    const at = (d: Record<string, any>, ...lists: string[][]) =>
      lists.forEach((addresses, i) => {
        d.validators[i].addresses = addresses;
      });
    const ok = valid();
    at(ok, ['/ip4/192.0.2.1/tcp/7400', '/dns4/node.st-mary.example/tcp/7400'], ['/ip6/2001:db8::2/tcp/7400']);
    expect(parseGenesis(ok).validators[0]!.addresses).toEqual([
      '/ip4/192.0.2.1/tcp/7400',
      '/dns4/node.st-mary.example/tcp/7400',
    ]);
    const loopback = valid();
    at(loopback, ['/ip4/127.0.0.1/tcp/7401'], ['/dns4/localhost/tcp/7402']);
    expect(codeOf(loopback), 'all on one machine').toBe('OK');

    const cases: InvalidCase[] = [
      [
        'not a multiaddr',
        (d) => at(d, ['/ip4/300.1.2.3/tcp/7400']),
        /validators\[0\]\.addresses\[0\]: .*not a multiaddr/,
      ],
      ['not TCP', (d) => at(d, ['/ip4/192.0.2.1/udp/7400']), /addresses\[0\]: .*not a TCP address/],
      ['no port', (d) => at(d, ['/dns4/node.example']), /addresses\[0\]: .*not a TCP address/],
      [
        'a string, not a list',
        (d) => (d.validators[0].addresses = '/ip4/192.0.2.1/tcp/1'),
        /addresses: expected an array/,
      ],
      [
        'the old single address',
        (d) => (d.validators[0].address = ''),
        /validators\[0\]\.address: replaced by "addresses"/,
      ],
      [
        'a validator that lists itself unreachable',
        (d) => at(d, ['/ip4/0.0.0.0/tcp/7400']),
        /addresses\[0\]: \/ip4\/0\.0\.0\.0\/tcp\/7400 is where a node listens, not an address another host can dial/,
      ],
      ['port 0', (d) => at(d, ['/ip4/192.0.2.1/tcp/0']), /port 0 cannot be dialled/],
      [
        'two validators at one address',
        (d) => at(d, ['/ip4/192.0.2.1/tcp/7400'], ['/dns4/b.example/tcp/7400', '/ip4/192.0.2.1/tcp/7400']),
        /validators\[1\]\.addresses\[1\]: \/ip4\/192\.0\.2\.1\/tcp\/7400 is also the address of validators\[0\]/,
      ],
      [
        'loopback beside other hosts',
        (d) => at(d, ['/ip4/192.0.2.1/tcp/7400'], ['/ip4/127.0.0.1/tcp/7400']),
        /validators\[1\]\.addresses: validator-1 lists only loopback addresses, which validator-0 \(\/ip4\/192\.0\.2\.1\/tcp\/7400\) on another host cannot reach/,
      ],
      [
        'too many',
        (d) =>
          at(
            d,
            Array.from({ length: 9 }, (_, i) => `/ip4/192.0.2.${i + 1}/tcp/7400`),
          ),
        /at most 8 addresses/,
      ],
    ];
    expectInvalid(cases);
  });

  it('does not commit to the addresses: a hospital that moves its node keeps its chain', () => {
    const moved = valid();
    moved.validators[0].addresses = ['/dns4/new-home.st-mary.example/tcp/7400'];
    const before = blockHash(genesisBlock(parseGenesis(valid())).header);
    expect(blockHash(genesisBlock(parseGenesis(moved)).header)).toEqual(before);
    const renamed = valid();
    renamed.validators[0].name = 'another name';
    expect(blockHash(genesisBlock(parseGenesis(renamed)).header)).not.toEqual(before);
  });

  it('reports a missing file and a file that is not JSON', async () => {
    await expect(loadGenesis(join(dir, 'absent.json'))).rejects.toMatchObject({ code: 'GENESIS_NOT_FOUND' });
    const path = join(dir, 'broken.json');
    await writeFile(path, '{"chainId": ');
    await expect(loadGenesis(path)).rejects.toMatchObject({ code: 'GENESIS_PARSE' });
  });
});
