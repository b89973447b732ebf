/**
 * A node's lifecycle from the command line: `init` creates a home, `genesis create` and `genesis
 * validate` make and check the network's genesis file, and `start` runs the node with settings from
 * config.toml < MEDLEDGER_* variables < flags, one node per home, stopping cleanly on SIGTERM.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hex } from '../src/bytes.ts';
import { addSettingFlags, settingFlags } from '../src/cli/setting-flags.ts';
import { NodeClient } from '../src/client/index.ts';
import { decode, encode } from '../src/codec/index.ts';
import { buildTx, genesisState, identityId } from '../src/contracts/index.ts';
import {
  generateEncryptionKeyPair,
  generateIdentityKeys,
  generateSigningKeyPair,
  readKeystorePublicKeys,
  writeKeystore,
} from '../src/crypto/index.ts';
import { parseOperatorKey } from '../src/crypto/operator-key.ts';
import { freePort } from '../src/free-port.ts';
import {
  Block,
  ChainStore,
  DEFAULT_PARAMS,
  type Genesis,
  openChainDb,
  Transaction,
  txHash,
} from '../src/ledger/index.ts';
import { heightKey, PREFIX } from '../src/ledger/keys.ts';
import { homePaths, parseSettings, resolveSettings } from '../src/node/config.ts';
import { writeHome } from '../src/node/home.ts';
import { SETTINGS } from '../src/node/settings.ts';
import { parseConfigText } from '../src/node/settings-toml.ts';
import { until } from './fixtures/validators.ts';

const bin = new URL('../bin/medledger.js', import.meta.url).pathname;
const PASSPHRASE = 'correct horse battery staple';
const FAST_SCRYPT = { N: 2 ** 12, r: 8, p: 1 };

/** The environment without any MEDLEDGER_* variable of the caller's, plus `extra`. */
function envWith(extra: Record<string, string>): NodeJS.ProcessEnv {
  const clean = Object.entries(process.env).filter(([name]) => !name.startsWith('MEDLEDGER_'));
  return { ...Object.fromEntries(clean), ...extra };
}

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function medledger(args: string[], env: Record<string, string> = { MEDLEDGER_PASSPHRASE: PASSPHRASE }) {
  return new Promise<Result>((resolve) => {
    execFile(process.execPath, [bin, ...args], { env: envWith(env) }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'medledger-lifecycle-'));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('medledger init', () => {
  it('creates a home: a keystore and a commented config.toml whose settings are the defaults', async () => {
    const home = join(dir, 'st-mary');
    const result = await medledger(['init', '--home', home, '--json']);
    expect(result.code, result.stderr).toBe(0);
    const info = JSON.parse(result.stdout);
    const keys = await readKeystorePublicKeys(homePaths(home).keystore);
    expect(info).toMatchObject({
      home,
      validatorPublicKey: hex(keys.signingPublicKey),
      encryptionPublicKey: hex(keys.encryptionPublicKey),
      identityId: identityId(keys.signingPublicKey),
      genesisValidator: `st-mary=${hex(keys.signingPublicKey)}:${hex(keys.encryptionPublicKey)}@/dns4/<THIS-HOST>/tcp/<P2P-PORT>`,
      files: {
        keystore: homePaths(home).keystore,
        config: homePaths(home).settings,
        operatorKey: homePaths(home).operatorKey,
      },
    });
    expect(info.nextSteps.join('\n')).toMatch(/medledger genesis create[\s\S]*medledger start --home/);
    expect((await stat(homePaths(home).keystore)).mode & 0o777).toBe(0o600);
    // The operator's key, for the node-operator routes: its own file, readable by its owner only.
    expect((await stat(homePaths(home).operatorKey)).mode & 0o777).toBe(0o600);
    expect(parseOperatorKey(await readFile(homePaths(home).operatorKey, 'utf8'))).not.toBeNull();

    const text = await readFile(homePaths(home).settings, 'utf8');
    for (const s of SETTINGS) expect(text).toContain(`# env ${s.env}`);
    expect(text.split('\n').filter((line) => line.startsWith('#')).length).toBeGreaterThan(40);
    expect(parseSettings(parseConfigText(text, 'config.toml'))).toEqual(parseSettings({}));

    const human = await medledger(['init', '--home', join(dir, 'city'), '--name', 'City General']);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/validator key \(Ed25519\)\s+[0-9a-f]{64}/);
    expect(human.stdout).toMatch(/custodian key \(X25519\)\s+[0-9a-f]{64}/);
    // Chain format 2: the --validator line names both keys.
    expect(human.stdout).toMatch(/--validator "City General=[0-9a-f]{64}:[0-9a-f]{64}@\/dns4\/<THIS-HOST>/);
    expect(human.stdout).toMatch(/identity id\s+[0-9a-f]{32}/);
    expect(human.stdout).toContain(`--operator-key ${homePaths(join(dir, 'city')).operatorKey}`);
    expect(human.stdout).toContain('Next steps');
  });

  it('refuses to overwrite a home unless --force, and needs a passphrase', async () => {
    const home = join(dir, 'st-mary');
    const before = await readFile(homePaths(home).keystore, 'utf8');
    const again = await medledger(['init', '--home', home]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already a node home.*--force.*\[HOME_EXISTS\]\n$/);
    expect(await readFile(homePaths(home).keystore, 'utf8')).toBe(before);

    const noPassphrase = await medledger(['init', '--home', join(dir, 'nobody')], {});
    expect(noPassphrase.code).toBe(1);
    expect(noPassphrase.stderr).toMatch(/MEDLEDGER_PASSPHRASE.*\[KEYSTORE_NO_PASSPHRASE\]/);
    expect(existsSync(join(dir, 'nobody'))).toBe(false);

    const operatorKey = await readFile(homePaths(join(dir, 'city')).operatorKey, 'utf8');
    const forced = await medledger(['init', '--home', join(dir, 'city'), '--force', '--api-port', '9001']);
    expect(forced.code, forced.stderr).toBe(0);
    const settings = parseSettings(
      parseConfigText(await readFile(join(dir, 'city', 'config.toml'), 'utf8'), 'x'),
    );
    expect(settings.api.port).toBe(9001);
    expect(settings.name).toBe(''); // --force starts over: the earlier --name is gone
    // The operator's scripts keep working: --force replaces the validator key, not the operator's.
    expect(forced.stdout).toContain(`kept ${homePaths(join(dir, 'city')).operatorKey}, the operator's key`);
    expect(await readFile(homePaths(join(dir, 'city')).operatorKey, 'utf8')).toBe(operatorKey);
  });
});

describe('medledger genesis', () => {
  it('creates a genesis from hex keys, keystore files and homes, and validates it', async () => {
    const keystore = join(dir, 'riverside.key');
    await writeKeystore(keystore, generateIdentityKeys(), PASSPHRASE, { scrypt: FAST_SCRYPT });
    const admin = join(dir, 'admin.key');
    await writeKeystore(admin, generateIdentityKeys(), PASSPHRASE, { scrypt: FAST_SCRYPT });
    const hexSigning = hex(generateSigningKeyPair().publicKey);
    const hexValidator = `${hexSigning}:${hex(generateEncryptionKeyPair().publicKey)}`;
    const org = `${hex(generateSigningKeyPair().publicKey)}:${hex(generateEncryptionKeyPair().publicKey)}`;
    const out = join(dir, 'genesis.json');
    const args = [
      'genesis',
      'create',
      '--chain-id',
      'hospitals-east',
      '--validator',
      `St Mary=${join(dir, 'st-mary')}`,
      '--validator',
      `City General=${join(dir, 'city')}@/ip4/192.0.2.20/tcp/7400,/dns4/node.city.example/tcp/7400`,
      '--validator',
      `Riverside=${keystore}`,
      '--validator',
      `Hillside=${hexValidator}`,
      '--admin',
      `network admin=${admin}`,
      '--org',
      `st-mary:hospital:St Mary=${org}`,
      '--checkpoint-interval',
      '50',
      '--genesis-time',
      '2026-01-01T00:00:00Z',
      '--out',
      out,
    ];
    const created = await medledger(args);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toContain(`wrote ${out}`);

    const validated = await medledger(['genesis', 'validate', out]);
    expect(validated.code, validated.stderr).toBe(0);
    expect(validated.stdout).toMatch(/n=4, f=1 .*quorum=3/);
    const summary = JSON.parse((await medledger(['genesis', 'validate', out, '--json'])).stdout);
    const stMary = await readKeystorePublicKeys(homePaths(join(dir, 'st-mary')).keystore);
    const riverside = await readKeystorePublicKeys(keystore);
    expect(summary).toMatchObject({
      ok: true,
      chainId: 'hospitals-east',
      genesisTime: '2026-01-01T00:00:00.000Z',
      n: 4,
      f: 1,
      quorum: 3,
      validators: [
        {
          name: 'St Mary',
          publicKey: hex(stMary.signingPublicKey),
          encryptionKey: hex(stMary.encryptionPublicKey),
          addresses: [],
        },
        { name: 'City General', addresses: ['/ip4/192.0.2.20/tcp/7400', '/dns4/node.city.example/tcp/7400'] },
        {
          name: 'Riverside',
          publicKey: hex(riverside.signingPublicKey),
          encryptionKey: hex(riverside.encryptionPublicKey),
        },
        { name: 'Hillside', publicKey: hexSigning, encryptionKey: hexValidator.slice(65) },
      ],
      networkAdmins: [{ name: 'network admin' }],
      organisations: [{ id: 'st-mary', kind: 'hospital', name: 'St Mary' }],
      params: { checkpointInterval: 50 },
    });

    const again = await medledger(args);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('[GENESIS_EXISTS]');
    const hexAdmin = await medledger([
      ...args.slice(0, 12),
      '--admin',
      hexSigning,
      '--out',
      join(dir, 'x.json'),
    ]);
    expect(hexAdmin.stderr).toMatch(/--admin [0-9a-f]{64}: needs an X25519 key too/);
    // A format-1 --validator line (the Ed25519 key alone) is refused, saying what to give.
    const oldLine = await medledger([
      ...args.slice(0, 10),
      '--validator',
      `Hillside=${hexSigning}`,
      '--admin',
      `network admin=${admin}`,
      '--out',
      join(dir, 'y.json'),
    ]);
    expect(oldLine.code).toBe(1);
    expect(oldLine.stderr).toMatch(
      /--validator Hillside=[0-9a-f]{64}: needs the node's X25519 key too \(chain format 2\): give ED25519HEX:X25519HEX as medledger node info prints it, a keystore file or a node home \[GENESIS_KEY_INVALID\]/,
    );
  });

  it('names the offending path of a broken genesis file', async () => {
    const broken = join(dir, 'broken.json');
    const genesis = JSON.parse(await readFile(join(dir, 'genesis.json'), 'utf8'));
    genesis.validators[2].publicKey = 'not-a-key';
    await writeFile(broken, JSON.stringify(genesis));
    const result = await medledger(['genesis', 'validate', broken]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `medledger: ${broken}: $.validators[2].publicKey: expected a 32-byte key as 64 lowercase hex digits [GENESIS_INVALID]\n`,
    );
    const json = await medledger(['genesis', 'validate', broken, '--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, error: { code: 'GENESIS_INVALID' } });
  });
});

describe('settings precedence', () => {
  const file = {
    listen: ['/ip4/127.0.0.1/tcp/1'],
    api: { host: '127.0.0.2', port: 1000 },
    log: { level: 'warn' },
  };

  it('takes config.toml, then MEDLEDGER_* variables, then flags', () => {
    const argv = ['--api-port', '3000', '--consensus-batch-delay-ms', '7'];
    const command = addSettingFlags(new Command('start').exitOverride()).parse(argv, { from: 'user' });
    const settings = resolveSettings({
      file,
      env: {
        MEDLEDGER_API_PORT: '2000',
        MEDLEDGER_LISTEN: '/ip4/127.0.0.1/tcp/2, /ip4/127.0.0.1/tcp/3',
        MEDLEDGER_CONSENSUS_BATCH_DELAY_MS: '6',
        MEDLEDGER_CONSENSUS_REQUEST_TIMEOUT_MS: '2500',
        MEDLEDGER_PASSPHRASE: 'not a setting, but known',
        MEDLEDGER_HOME: '/somewhere',
        MEDLEDGER_NODE: 'http://127.0.0.1:7480',
        PATH: '/usr/bin',
      },
      flags: settingFlags(command),
    });
    expect(settings.api).toMatchObject({ host: '127.0.0.2', port: 3000, faultInjection: false });
    expect(settings.listen).toEqual(['/ip4/127.0.0.1/tcp/2', '/ip4/127.0.0.1/tcp/3']);
    expect(settings.consensus).toMatchObject({ batchDelay_ms: 7, requestTimeout_ms: 2500, window: 4 });
    expect(settings.log.level).toBe('warn');
    const level = resolveSettings({
      file,
      env: { MEDLEDGER_LOG_LEVEL: 'debug' },
      flags: { 'log-level': 'error' },
    });
    expect(level.log.level).toBe('error');
  });

  it('names an unknown MEDLEDGER_ variable and an ill-typed variable, flag or file setting', () => {
    const fails = (sources: Partial<Parameters<typeof resolveSettings>[0]>) => {
      try {
        resolveSettings({ file, env: {}, flags: {}, ...sources });
        return 'OK';
      } catch (error) {
        return `${(error as { code: string }).code} ${(error as Error).message}`;
      }
    };
    expect(fails({ env: { MEDLEDGER_API_PROT: '1' } })).toMatch(
      /^CONFIG_INVALID MEDLEDGER_API_PROT: not a medledger setting/,
    );
    expect(fails({ env: { MEDLEDGER_API_PORT: 'eighty' } })).toBe(
      'CONFIG_INVALID MEDLEDGER_API_PORT: expected an integer in [0, 65535]',
    );
    expect(fails({ env: { MEDLEDGER_API_FAULT_INJECTION: 'yes' } })).toMatch(
      /MEDLEDGER_API_FAULT_INJECTION: expected true or false/,
    );
    expect(fails({ flags: { 'consensus-window': '0' } })).toBe(
      'CONFIG_INVALID --consensus-window: expected an integer in [1, 64]',
    );
    expect(fails({ flags: { listen: 'localhost:7400' } })).toMatch(
      /^CONFIG_INVALID --listen: expected multiaddrs/,
    );
    expect(fails({ file: { api: { port: 1.5 } } })).toBe(
      'CONFIG_INVALID config.toml: api.port: expected an integer in [0, 65535]',
    );
  });

  it('maps every setting to one variable and one flag', () => {
    const byPath = Object.fromEntries(SETTINGS.map((s) => [s.path, `${s.env} --${s.flag}`]));
    expect(byPath).toMatchObject({
      'api.port': 'MEDLEDGER_API_PORT --api-port',
      'api.host': 'MEDLEDGER_API_HOST --api-host',
      listen: 'MEDLEDGER_LISTEN --listen',
      'consensus.requestTimeout_ms': 'MEDLEDGER_CONSENSUS_REQUEST_TIMEOUT_MS --consensus-request-timeout-ms',
      'log.level': 'MEDLEDGER_LOG_LEVEL --log-level',
    });
    expect(new Set(SETTINGS.map((s) => s.env)).size).toBe(SETTINGS.length);
  });
});

describe('medledger start', () => {
  let child: ChildProcess | null = null;
  afterAll(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
  });

  it('runs one node per home with env and flag overrides, and stops cleanly on SIGTERM', async () => {
    const home = join(dir, 'solo');
    const validator = generateIdentityKeys();
    const admin = generateIdentityKeys();
    const genesis: Genesis = {
      chainId: 'lifecycle-solo',
      genesisTime: Date.UTC(2026, 0, 1),
      validators: [
        {
          name: 'solo',
          publicKey: validator.signing.publicKey,
          encryptionKey: validator.encryption.publicKey,
          addresses: [],
        },
      ],
      networkAdmins: [
        { name: 'admin', publicKey: admin.signing.publicKey, encryptionKey: admin.encryption.publicKey },
      ],
      organisations: [],
      params: DEFAULT_PARAMS,
    };
    const [filePort, envPort, envP2pPort, flagP2pPort] = await Promise.all([
      freePort(),
      freePort(),
      freePort(),
      freePort(),
    ]);
    await writeHome({
      home,
      genesis,
      keys: validator,
      passphrase: PASSPHRASE,
      scrypt: FAST_SCRYPT,
      settings: { listen: ['/ip4/127.0.0.1/tcp/0'], api: { host: '127.0.0.1', port: filePort } },
    });
    const env = {
      MEDLEDGER_PASSPHRASE: PASSPHRASE,
      MEDLEDGER_API_PORT: String(envPort),
      MEDLEDGER_LISTEN: `/ip4/127.0.0.1/tcp/${envP2pPort}`,
      MEDLEDGER_LOG_LEVEL: 'warn',
    };
    const first = spawn(process.execPath, [bin, 'start', '--listen', `/ip4/127.0.0.1/tcp/${flagP2pPort}`], {
      env: envWith({ ...env, MEDLEDGER_HOME: home }),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child = first;
    let stderr = '';
    first.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const listeningFile = join(home, 'listening.json');
    await until(() => {
      if (first.exitCode !== null) throw new Error(`start exited with ${first.exitCode}: ${stderr}`);
      return existsSync(listeningFile);
    }, 30_000);
    const listening = JSON.parse(await readFile(listeningFile, 'utf8'));
    expect(listening.api).toBe(`http://127.0.0.1:${envPort}`); // the variable beat config.toml
    expect(listening.p2p[0]).toMatch(new RegExp(`^/ip4/127.0.0.1/tcp/${flagP2pPort}/`)); // the flag beat the variable
    expect((await readFile(join(home, 'node.lock'), 'utf8')).trim()).toBe(String(first.pid));

    const second = await medledger(['start', '--home', home], env);
    expect(second.code).toBe(1);
    expect(second.stderr).toBe(
      `medledger: the node home ${home} is in use by another medledger node (pid ${first.pid}); stop it first, ` +
        `or delete ${join(home, 'node.lock')} if that pid is not a medledger node [NODE_ALREADY_RUNNING]\n`,
    );
    expect(first.exitCode).toBe(null);

    // One validator commits alone.
    const tx = buildTx(
      'org.register',
      {
        id: 'st-mary',
        kind: 'hospital',
        adminKey: generateSigningKeyPair().publicKey,
        encryptionKey: generateEncryptionKeyPair().publicKey,
      },
      1,
      genesis.chainId,
      admin.signing.secretKey,
    );
    const submitted = await fetch(`${listening.api}/v1/txs`, {
      method: 'POST',
      body: encode(Transaction, tx),
    });
    expect(submitted.status).toBe(202);
    // Its sender signs the request for its receipt.
    const sender = new NodeClient(listening.api).as({
      id: identityId(admin.signing.publicKey),
      secretKey: admin.signing.secretKey,
    });
    await until(async () => (await sender.tx(hex(txHash(tx)))) !== null, 30_000);

    const exited = new Promise<number | null>((resolve) => first.once('exit', (code) => resolve(code)));
    first.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(existsSync(join(home, 'node.lock'))).toBe(false);
    const verified = await medledger([
      'chain',
      'verify',
      '--chain',
      join(home, 'data', 'chain'),
      '--genesis',
      join(home, 'genesis.json'),
    ]);
    expect(verified.code, verified.stderr).toBe(0);
    expect(verified.stdout).toContain('verified: 2 blocks, 1 transactions');
  });

  it('fails with one clear line on a bad home', async () => {
    const missing = await medledger(['start', '--home', join(dir, 'missing')]);
    expect(missing).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/^medledger: there is no node home .*\[HOME_NOT_FOUND\]\n$/),
    });
    const unknown = await medledger(['start', '--home', join(dir, 'solo')], {
      MEDLEDGER_PASSPHRASE: PASSPHRASE,
      MEDLEDGER_API_PROT: '1',
    });
    expect(unknown.stderr).toMatch(
      /^medledger: MEDLEDGER_API_PROT: not a medledger setting .*\[CONFIG_INVALID\]\n$/,
    );
    const wrong = await medledger(['start', '--home', join(dir, 'solo')], {
      MEDLEDGER_PASSPHRASE: 'wrong passphrase',
    });
    expect(wrong.stderr).toMatch(/^medledger: .*validator\.key: .*wrong.*\[KEYSTORE_WRONG_PASSPHRASE\]\n$/);
    const noGenesis = await medledger(['start', '--home', join(dir, 'st-mary')]);
    expect(noGenesis.stderr).toMatch(/^medledger: there is no genesis file at .*\[GENESIS_NOT_FOUND\]\n$/);
  });

  it('refuses a genesis or a chain of format 1, and a genesis naming another X25519 key', async () => {
    const home = join(dir, 'format-1');
    const keys = generateIdentityKeys();
    const created: Genesis = {
      chainId: 'lifecycle-format',
      genesisTime: Date.UTC(2026, 0, 1),
      validators: [
        {
          name: 'solo',
          publicKey: keys.signing.publicKey,
          encryptionKey: keys.encryption.publicKey,
          addresses: [],
        },
      ],
      networkAdmins: [
        { name: 'admin', publicKey: keys.signing.publicKey, encryptionKey: keys.encryption.publicKey },
      ],
      organisations: [],
      params: DEFAULT_PARAMS,
    };
    await writeHome({
      home,
      genesis: created,
      keys,
      passphrase: PASSPHRASE,
      scrypt: FAST_SCRYPT,
      settings: { listen: ['/ip4/127.0.0.1/tcp/0'], api: { host: '127.0.0.1', port: 0 } },
    });
    const genesisFile = homePaths(home).genesis;
    const genesis = JSON.parse(await readFile(genesisFile, 'utf8'));
    const start = () => medledger(['start', '--home', home, '--log-level', 'warn']);

    const { encryptionKey, ...format1 } = genesis.validators[0];
    await writeFile(genesisFile, JSON.stringify({ ...genesis, validators: [format1] }));
    expect((await start()).stderr).toMatch(
      /^medledger: genesis\.json: \$\.validators\[0\]\.encryptionKey: missing: this file was written for chain format 1, .*"medledger genesis create" or "medledger testnet" \[GENESIS_INVALID\]\n$/,
    );

    const other = hex(generateEncryptionKeyPair().publicKey);
    await writeFile(
      genesisFile,
      JSON.stringify({ ...genesis, validators: [{ ...format1, encryptionKey: other }] }),
    );
    expect((await start()).stderr).toMatch(
      new RegExp(
        `^medledger: the X25519 key in .*validator\\.key \\(${encryptionKey}\\) is not the encryptionKey .*genesis\\.json names for solo \\(${other}\\).*\\[NODE_ENCRYPTION_KEY_MISMATCH\\]\n$`,
      ),
    );

    // The chain an earlier medledger wrote: its genesis block's header says version 1.
    await writeFile(genesisFile, JSON.stringify(genesis));
    const chain = join(home, 'data', 'chain');
    await (await ChainStore.open(chain, created, genesisState(created))).close();
    const db = await openChainDb(chain, { create: false });
    for (const height of [0]) {
      const block = decode(Block, (await db.get(heightKey(PREFIX.block, height)))!);
      await db.put(
        heightKey(PREFIX.block, height),
        encode(Block, { ...block, header: { ...block.header, version: 1 } }),
      );
    }
    await db.close();
    const old = await start();
    expect(old.code).toBe(1);
    expect(old.stderr).toContain(
      `medledger: ${chain} holds a chain of format 1 written by an earlier medledger, which this release ` +
        '(chain format 2) cannot continue: start a new chain with a format-2 genesis in a new home, or run ' +
        'the earlier release to keep this one [LEDGER_OLD_FORMAT]\n',
    );
    const verified = await medledger(['chain', 'verify', '--home', home]);
    expect(verified.code).toBe(1);
    expect(verified.stdout).toMatch(/INVALID at height 0: CHAIN_OLD_FORMAT: the chain is of format 1/);
  });
});

describe('the home lock', () => {
  it('takes over a lock left by a dead process, and releases only its own', async () => {
    const { lockHome } = await import('../src/node/lock.ts');
    const home = await mkdtemp(join(tmpdir(), 'medledger-lock-'));
    try {
      const path = join(home, 'node.lock');
      // A pid far above any pid_max: no such process.
      await writeFile(path, '2147483646\n');
      const lock = await lockHome(home);
      expect((await readFile(path, 'utf8')).trim()).toBe(String(process.pid));
      await lock.release();
      expect(existsSync(path)).toBe(false);
      // A lock that is not ours any more (replaced by hand) is left alone.
      const again = await lockHome(home);
      await writeFile(path, '2147483646\n');
      await again.release();
      expect(existsSync(path)).toBe(true);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });
});
