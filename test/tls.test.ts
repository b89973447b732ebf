/**
 * TLS on the HTTP API, with real processes: `medledger init --tls` makes a self-signed certificate
 * and its key (0600) and prints the fingerprint; a node started from that home serves HTTPS (its
 * listening.json and GET /v1/node say so); the CLI trusts it with --fingerprint or --ca (or their
 * MEDLEDGER_* variables) and refuses it otherwise, with stable codes; a node whose API is bound off
 * loopback without TLS refuses to start unless api.insecure, which it then warns about; bad
 * certificate settings are one line with a code, never a stack.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeClient } from '../src/client/index.ts';
import { generateIdentityKeys, writeKeystore } from '../src/crypto/index.ts';
import { freePort } from '../src/free-port.ts';
import { DEFAULT_PARAMS, type Genesis } from '../src/ledger/index.ts';
import { isLoopback } from '../src/node/api-tls.ts';
import { resolveSettings } from '../src/node/config.ts';
import { writeHome } from '../src/node/home.ts';
import { makeSelfSigned } from '../src/node/tls-cert.ts';
import { cleanEnv, killProcessGroups, type Ran, run } from './fixtures/run.ts';
import { until } from './fixtures/validators.ts';

const root = new URL('..', import.meta.url).pathname;
const bin = join(root, 'bin', 'medledger.js');
const PASSPHRASE = 'correct horse battery staple';
const FAST_SCRYPT = { N: 2 ** 12, r: 8, p: 1 };

const medledger = (args: string[], env: Record<string, string> = {}): Promise<Ran> =>
  run(process.execPath, [bin, ...args], { env: cleanEnv({ MEDLEDGER_PASSPHRASE: PASSPHRASE, ...env }) });

/** The one line a refused command prints: `medledger: MESSAGE [CODE]`. */
function expectRefusal(result: Ran, code: string, message?: RegExp): void {
  expect(result.code, result.stdout + result.stderr).toBe(1);
  expect(result.stderr).toMatch(new RegExp(`^medledger: .* \\[${code}\\]\\n$`));
  if (message) expect(result.stderr).toMatch(message);
}

let dir = '';
const started: ChildProcess[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'medledger-tls-'));
});
afterAll(async () => {
  killProcessGroups(started);
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** `medledger start` as its own process group; resolves once listening.json is written. */
async function startNode(
  home: string,
  env: Record<string, string>,
): Promise<{
  child: ChildProcess;
  listening: { api: string; apiFingerprint: string | null };
  log: () => string;
}> {
  await rm(join(home, 'listening.json'), { force: true });
  const child = spawn(process.execPath, [bin, 'start', '--home', home], {
    env: cleanEnv({ MEDLEDGER_PASSPHRASE: PASSPHRASE, MEDLEDGER_LOG_LEVEL: 'warn', ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  started.push(child);
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  await until(() => {
    if (child.exitCode !== null) throw new Error(`start exited with ${child.exitCode}: ${output}`);
    return existsSync(join(home, 'listening.json'));
  }, 30_000);
  const listening = JSON.parse(await readFile(join(home, 'listening.json'), 'utf8'));
  return { child, listening, log: () => output };
}

async function stopNode(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  return exited;
}

/** A one-validator genesis for the keys of `home` (made with `genesis create`, as an organiser would). */
async function genesisFor(home: string, p2pPort: number): Promise<void> {
  const admin = join(dir, `admin-${p2pPort}.key`);
  await writeKeystore(admin, generateIdentityKeys(), PASSPHRASE, { scrypt: FAST_SCRYPT });
  const created = await medledger([
    'genesis',
    'create',
    '--chain-id',
    'tls-test',
    '--validator',
    `solo=${home}@/ip4/127.0.0.1/tcp/${p2pPort}`,
    '--admin',
    `admin=${admin}`,
    '--out',
    join(home, 'genesis.json'),
  ]);
  expect(created.code, created.stderr).toBe(0);
}

describe('medledger init --tls, and a node serving HTTPS', () => {
  const home = () => join(dir, 'st-mary');
  let fingerprint = '';
  let url = '';
  let node: Awaited<ReturnType<typeof startNode>> | null = null;

  afterAll(async () => {
    if (node) await stopNode(node.child);
  });

  it('writes a self-signed certificate and a 0600 key into the home, sets them, prints the fingerprint', async () => {
    const result = await medledger([
      'init',
      '--home',
      home(),
      '--tls',
      '--tls-host',
      'api.st-mary.example,192.0.2.7',
      '--advertise',
      '/dns4/node.st-mary.example/tcp/7400',
      '--json',
    ]);
    expect(result.code, result.stderr).toBe(0);
    const info = JSON.parse(result.stdout);
    const certFile = join(home(), 'tls', 'cert.pem');
    const keyFile = join(home(), 'tls', 'key.pem');
    expect(info.files).toMatchObject({ tlsCert: certFile, tlsKey: keyFile });
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);

    const pem = await readFile(certFile);
    const cert = new X509Certificate(pem);
    fingerprint = createHash('sha256').update(cert.raw).digest('hex');
    expect(info.tls.fingerprint).toBe(fingerprint);
    expect(info.api).toEqual({ url: 'https://127.0.0.1:7480', cert: certFile, fingerprint });
    expect(cert.ca).toBe(false);
    expect(cert.issuer).toBe(cert.subject); // self-signed
    expect(cert.verify(cert.publicKey)).toBe(true);
    const names = cert.subjectAltName ?? '';
    for (const name of [
      'DNS:localhost',
      'IP Address:127.0.0.1',
      'DNS:node.st-mary.example',
      'DNS:api.st-mary.example',
      'IP Address:192.0.2.7',
    ])
      expect(names).toContain(name);

    const config = parseToml(await readFile(join(home(), 'config.toml'), 'utf8')) as any;
    expect(config.api.tls).toEqual({ cert: 'tls/cert.pem', key: 'tls/key.pem' });

    // The human output and `node info` print the fingerprint too.
    const human = await medledger(['init', '--home', join(dir, 'city'), '--tls']);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/SHA-256 fingerprint:\n\s+[0-9a-f]{64}\n/);
    const shown = await medledger(['node', 'info', '--home', home()]);
    expect(shown.stdout).toContain(`API certificate SHA-256  ${fingerprint}`);
    const shownJson = JSON.parse((await medledger(['node', 'info', '--home', home(), '--json'])).stdout);
    expect(shownJson.api.fingerprint).toBe(fingerprint);
  });

  it('serves HTTPS: listening.json and GET /v1/node give the https URL and the fingerprint', async () => {
    const p2pPort = await freePort();
    await genesisFor(home(), p2pPort);
    node = await startNode(home(), {
      MEDLEDGER_LISTEN: `/ip4/127.0.0.1/tcp/${p2pPort}`,
      MEDLEDGER_API_PORT: String(await freePort()),
    });
    url = node.listening.api;
    expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(node.listening.apiFingerprint).toBe(fingerprint);
    const info = await new NodeClient(url, { tls: { fingerprint } }).nodeInfo();
    expect(info.api).toEqual({ url, fingerprint });
    // Plain HTTP on the same port gets no answer; the client says which scheme to use.
    const plain = await medledger(['status', '--node', url.replace('https:', 'http:')]);
    expectRefusal(plain, 'NODE_UNREACHABLE', /its URL is https:/);
  });

  it('is trusted by the CLI with the right --fingerprint or --ca, and refused otherwise', async () => {
    const ok = await medledger(['status', '--node', url, '--fingerprint', fingerprint, '--json']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout).node).toMatchObject({ chainId: 'tls-test', api: { url, fingerprint } });
    // As openssl prints it: colon-separated upper-case pairs.
    const colons = fingerprint.toUpperCase().match(/../g)!.join(':');
    expect((await medledger(['status', '--node', url, '--fingerprint', colons])).code).toBe(0);

    const wrong = 'ab'.repeat(32);
    const mismatch = await medledger(['status', '--node', url, '--fingerprint', wrong]);
    expectRefusal(mismatch, 'NODE_TLS_FINGERPRINT_MISMATCH');
    expect(mismatch.stderr).toContain(fingerprint);
    expect(mismatch.stderr).toContain(wrong);
    const asJson = await medledger(['status', '--node', url, '--fingerprint', wrong, '--json']);
    expect(JSON.parse(asJson.stdout).error.code).toBe('NODE_TLS_FINGERPRINT_MISMATCH');

    const copy = join(dir, 'st-mary-cert.pem');
    await copyFile(join(home(), 'tls', 'cert.pem'), copy);
    const withCa = await medledger(['status', '--node', url, '--ca', copy]);
    expect(withCa.code, withCa.stderr).toBe(0);
    expect(withCa.stdout).toContain('tls-test');
    // The variables stand for the options; localhost is in the certificate too.
    const byEnv = await medledger(['status', '--node', url.replace('127.0.0.1', 'localhost')], {
      MEDLEDGER_CA: copy,
    });
    expect(byEnv.code, byEnv.stderr).toBe(0);
    // chain verify --node is the node operator's: signed with the key init wrote into the home.
    const operatorKey = join(home(), 'operator.key');
    const verified = await medledger(['chain', 'verify', '--node', url, '--operator-key', operatorKey], {
      MEDLEDGER_FINGERPRINT: fingerprint,
    });
    expect(verified.code, verified.stderr).toBe(0);
    expectRefusal(
      await medledger(['chain', 'verify', '--node', url], { MEDLEDGER_FINGERPRINT: fingerprint }),
      'OPERATOR_KEY_REQUIRED',
    );

    const untrusted = await medledger(['status', '--node', url]);
    expectRefusal(untrusted, 'NODE_TLS_UNTRUSTED', /self-signed.*--ca FILE.*--fingerprint/);
    // Another certificate as --ca: refused, and the pin still decides when both are given.
    const other = join(dir, 'other.pem');
    await writeFile(other, (await makeSelfSigned('other', ['127.0.0.1'])).cert);
    expectRefusal(await medledger(['status', '--node', url, '--ca', other]), 'NODE_TLS_UNTRUSTED', /--ca/);
    expectRefusal(
      await medledger(['status', '--node', url, '--ca', copy, '--fingerprint', wrong]),
      'NODE_TLS_FINGERPRINT_MISMATCH',
    );

    expectRefusal(await medledger(['status', '--node', url, '--fingerprint', 'abc']), 'BAD_ARGUMENT');
    expectRefusal(
      await medledger(['status', '--node', url, '--ca', join(dir, 'missing.pem')]),
      'BAD_ARGUMENT',
      /--ca: cannot read/,
    );
    expectRefusal(
      await medledger(['status', '--node', 'http://127.0.0.1:9', '--fingerprint', fingerprint]),
      'BAD_ARGUMENT',
      /plain HTTP/,
    );
  });

  it("passes the container health check, which pins listening.json's fingerprint", async () => {
    const health = await run(process.execPath, [join(root, 'docker', 'healthcheck.js'), '/healthz'], {
      env: cleanEnv({ MEDLEDGER_HOME: home() }),
    });
    expect(health.stdout).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/healthz: 200 /);
    expect(health.code).toBe(0);
  });
});

describe('plain HTTP off loopback, and bad certificate settings', () => {
  const home = () => join(dir, 'exposed');
  let p2pPort = 0;

  beforeAll(async () => {
    const keys = generateIdentityKeys();
    p2pPort = await freePort();
    const genesis: Genesis = {
      chainId: 'tls-exposed',
      genesisTime: Date.UTC(2026, 0, 1),
      validators: [
        {
          name: 'solo',
          publicKey: keys.signing.publicKey,
          encryptionKey: keys.encryption.publicKey,
          addresses: [`/ip4/127.0.0.1/tcp/${p2pPort}`],
        },
      ],
      networkAdmins: [
        { name: 'admin', publicKey: keys.signing.publicKey, encryptionKey: keys.encryption.publicKey },
      ],
      organisations: [],
      params: DEFAULT_PARAMS,
    };
    await writeHome({
      home: home(),
      genesis,
      keys,
      passphrase: PASSPHRASE,
      scrypt: FAST_SCRYPT,
      settings: { listen: [`/ip4/127.0.0.1/tcp/${p2pPort}`], api: { host: '0.0.0.0', port: 0 } },
    });
  });

  it('refuses to start an API bound to 0.0.0.0 without TLS, naming the fix', async () => {
    const refused = await medledger(['start', '--home', home()]);
    expectRefusal(refused, 'CONFIG_API_INSECURE', /0\.0\.0\.0.*api\.tls\.cert.*api\.insecure = true/);
    expect(existsSync(join(home(), 'node.lock'))).toBe(false);
  });

  it('is refused by medledger testnet before any home is written, unless --api-insecure', async () => {
    const out = join(dir, 'testnet');
    const args = [
      'testnet',
      '--validators',
      '1',
      '--hosts',
      '127.0.0.1',
      '--api-host',
      '0.0.0.0',
      '--out',
      out,
    ];
    expectRefusal(await medledger(args), 'TESTNET_INVALID', /--api-host 0\.0\.0\.0 .*--api-insecure/);
    expect(existsSync(out)).toBe(false);
    const written = await medledger([...args, '--api-insecure']);
    expect(written.code, written.stderr).toBe(0);
    const config = parseToml(await readFile(join(out, 'node-1', 'config.toml'), 'utf8')) as any;
    expect(config.api).toMatchObject({ host: '0.0.0.0', insecure: true });
  });

  it('starts it with api.insecure, warning at every start', async () => {
    for (let start = 0; start < 2; start++) {
      const node = await startNode(home(), { MEDLEDGER_API_INSECURE: 'true' });
      expect(node.listening.api).toMatch(/^http:\/\/0\.0\.0\.0:\d+$/);
      expect(node.listening.apiFingerprint).toBe(null);
      await until(() => node.log().includes('plain HTTP on 0.0.0.0'), 10_000);
      const warning = node
        .log()
        .split('\n')
        .filter((line) => line.includes('plain HTTP on 0.0.0.0'))
        .map((line) => JSON.parse(line));
      expect(warning).toMatchObject([{ level: 40 }]);
      expect(await stopNode(node.child)).toBe(0);
    }
  });

  it('names a missing, mismatched, half-given or broken certificate with a code, in one line', async () => {
    const start = (env: Record<string, string>) => medledger(['start', '--home', home()], env);
    const a = await makeSelfSigned('a', ['localhost']);
    const b = await makeSelfSigned('b', ['localhost']);
    await writeFile(join(dir, 'a-cert.pem'), a.cert);
    await writeFile(join(dir, 'a-key.pem'), a.key, { mode: 0o600 });
    await writeFile(join(dir, 'b-key.pem'), b.key, { mode: 0o600 });
    await writeFile(join(dir, 'junk.pem'), 'not a certificate\n');

    expectRefusal(
      await start({
        MEDLEDGER_API_TLS_CERT: join(dir, 'nope.pem'),
        MEDLEDGER_API_TLS_KEY: join(dir, 'a-key.pem'),
      }),
      'CONFIG_TLS_UNREADABLE',
      /api\.tls\.cert: cannot read .*nope\.pem \(ENOENT\)/,
    );
    expectRefusal(
      await start({
        MEDLEDGER_API_TLS_CERT: join(dir, 'a-cert.pem'),
        MEDLEDGER_API_TLS_KEY: join(dir, 'b-key.pem'),
      }),
      'CONFIG_TLS_KEY_MISMATCH',
      /b-key\.pem is not the key of the certificate/,
    );
    expectRefusal(
      await start({ MEDLEDGER_API_TLS_CERT: join(dir, 'a-cert.pem') }),
      'CONFIG_TLS_INCOMPLETE',
      /api\.tls\.cert is set but api\.tls\.key is not/,
    );
    expectRefusal(
      await start({
        MEDLEDGER_API_TLS_CERT: join(dir, 'junk.pem'),
        MEDLEDGER_API_TLS_KEY: join(dir, 'a-key.pem'),
      }),
      'CONFIG_TLS_INVALID',
    );
    expectRefusal(
      await start({
        MEDLEDGER_API_TLS_CERT: join(dir, 'a-cert.pem'),
        MEDLEDGER_API_TLS_KEY: join(dir, 'junk.pem'),
      }),
      'CONFIG_TLS_INVALID',
    );

    // With a good pair (relative to the home here), the same home serves HTTPS on 0.0.0.0, and
    // warns about a key that others can read.
    await copyFile(join(dir, 'a-cert.pem'), join(home(), 'cert.pem'));
    await copyFile(join(dir, 'a-key.pem'), join(home(), 'key.pem'));
    await chmod(join(home(), 'key.pem'), 0o644);
    const node = await startNode(home(), {
      MEDLEDGER_API_TLS_CERT: 'cert.pem',
      MEDLEDGER_API_TLS_KEY: 'key.pem',
    });
    expect(node.listening.api).toMatch(/^https:\/\/0\.0\.0\.0:\d+$/);
    expect(node.listening.apiFingerprint).toBe(a.fingerprint);
    await until(() => node.log().includes('can be read by other users'), 10_000);
    expect(node.log()).not.toContain('plain HTTP');
    expect(await stopNode(node.child)).toBe(0);
  });
});

describe('the settings', () => {
  it('are rows of the settings table: config.toml, MEDLEDGER_* variables and start flags', () => {
    const settings = resolveSettings({
      file: { api: { host: '0.0.0.0', tls: { cert: 'tls/cert.pem' } } },
      env: { MEDLEDGER_API_TLS_KEY: '/etc/medledger/key.pem', MEDLEDGER_CA: 'x', MEDLEDGER_FINGERPRINT: 'y' },
      flags: { 'api-insecure': 'true' },
    });
    expect(settings.api).toMatchObject({
      host: '0.0.0.0',
      tls: { cert: 'tls/cert.pem', key: '/etc/medledger/key.pem' },
      insecure: true,
    });
    expect(() => resolveSettings({ file: { api: { tls: { crt: 'x' } } }, env: {}, flags: {} })).toThrow(
      /api\.tls\.crt: unknown setting \(allowed: cert, key\)/,
    );
  });

  it('count 127.0.0.0/8, ::1 and localhost as loopback', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', '::1', 'localhost', '0:0:0:0:0:0:0:1'])
      expect(isLoopback(host), host).toBe(true);
    for (const host of ['0.0.0.0', '::', '192.0.2.1', 'node.example', '128.0.0.1'])
      expect(isLoopback(host), host).toBe(false);
  });
});
