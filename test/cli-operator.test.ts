/**
 * The operator CLI, driven in-process through main(): argument and keystore errors without a node,
 * the client's record CID against the store's, then the whole operator story against four real
 * validator processes: organisations, practitioners, a patient, a record written, read back byte for
 * byte, denied, granted, revoked, requested, broken-glass, audited, erased, and the chain verified.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { compareBytes, fromHex, hex } from '../src/bytes.ts';
import { main } from '../src/cli/main.ts';
import { writeFileAtomically } from '../src/client/atomic-file.ts';
import { NodeClient } from '../src/client/http.ts';
import { parseDuration, parseSubject, parseTime } from '../src/client/parse.ts';
import { RecordCidHasher, recordCidOf } from '../src/client/record-cid.ts';
import {
  AccessRequest,
  AUDIT_ACTIONS,
  AuditEntry,
  GRANT_PURPOSES,
  IDENTITY_KINDS,
  Identity,
  identityId,
  ORGANISATION_KINDS,
  Organisation,
  Policy,
  PURPOSES,
  RecordMeta,
  ROLES,
} from '../src/contracts/index.ts';
import {
  generateEncryptionKeyPair,
  generateIdentityKeys,
  type IdentityKeys,
  writeKeystore,
} from '../src/crypto/index.ts';
import { newOperatorKeyText } from '../src/crypto/operator-key.ts';
import { freePort } from '../src/free-port.ts';
import { BlobStore } from '../src/store/index.ts';
import { type ProcessCluster, startProcesses } from './fixtures/processes.ts';

const PASSPHRASE = 'operator passphrase';
const FAST_SCRYPT = { N: 2 ** 12, r: 8, p: 1 };

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  json: any;
}

/** Runs `medledger ARGS` in this process, capturing what it prints. */
async function cli(...args: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: any) => {
    stdout += String(chunk);
    return true;
  });
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: any) => {
    stderr += String(chunk);
    return true;
  });
  let code: number;
  try {
    code = await main(['node', 'medledger', ...args]);
  } finally {
    out.mockRestore();
    err.mockRestore();
    process.exitCode = 0;
  }
  let json: any = null;
  // One JSON document, or one per line (NDJSON: `block follow --json`), which becomes an array.
  if (stdout.trimStart().startsWith('{')) {
    try {
      json = JSON.parse(stdout);
    } catch {
      json = stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line));
    }
  }
  return { code, stdout, stderr, json };
}

/** Expects a failure printed as exactly one `medledger: … [CODE]` line. */
function expectError(run: Run, code: string, text?: string | RegExp): void {
  expect(run.code, run.stdout + run.stderr).toBe(1);
  const lines = run.stderr.trimEnd().split('\n');
  expect(lines, run.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^medledger: .+ \[[A-Z0-9_]+\]$/);
  expect(lines[0]!.endsWith(`[${code}]`), run.stderr).toBe(true);
  if (text !== undefined) expect(lines[0]).toMatch(text);
}

function ok(run: Run): any {
  expect(run.code, run.stderr).toBe(0);
  return run.json;
}

let dir = '';
const savedEnv = {
  passphrase: process.env.MEDLEDGER_PASSPHRASE,
  node: process.env.MEDLEDGER_NODE,
  operatorKey: process.env.MEDLEDGER_OPERATOR_KEY,
};

async function keystore(name: string, keys: IdentityKeys = generateIdentityKeys()): Promise<string> {
  const path = join(dir, name);
  await writeKeystore(path, keys, PASSPHRASE, { scrypt: FAST_SCRYPT });
  return path;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'medledger-cli-operator-'));
  process.env.MEDLEDGER_PASSPHRASE = PASSPHRASE;
  delete process.env.MEDLEDGER_NODE;
  delete process.env.MEDLEDGER_OPERATOR_KEY;
});

afterAll(async () => {
  if (savedEnv.passphrase === undefined) delete process.env.MEDLEDGER_PASSPHRASE;
  else process.env.MEDLEDGER_PASSPHRASE = savedEnv.passphrase;
  if (savedEnv.node !== undefined) process.env.MEDLEDGER_NODE = savedEnv.node;
  if (savedEnv.operatorKey !== undefined) process.env.MEDLEDGER_OPERATOR_KEY = savedEnv.operatorKey;
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('operator commands without a node', () => {
  it('keys new writes a keystore; keys show prints its id and keys without the passphrase', async () => {
    const path = join(dir, 'new.key');
    const created = ok(await cli('keys', 'new', '--out', path, '--json'));
    expect(created.keystore).toBe(path);
    expect(created.id).toBe(identityId(fromHex(created.signingKey)));
    expect(created.encryptionKey).toMatch(/^[0-9a-f]{64}$/);

    delete process.env.MEDLEDGER_PASSPHRASE;
    try {
      expect(ok(await cli('keys', 'show', path, '--json'))).toEqual(created);
      const human = await cli('keys', 'show', path);
      expect(human.stdout).toContain(created.id);
      expect(human.stdout).toMatch(/signing key\s+[0-9a-f]{64}/);
    } finally {
      process.env.MEDLEDGER_PASSPHRASE = PASSPHRASE;
    }
    expectError(await cli('keys', 'new', '--out', path), 'FILE_EXISTS', /--force/);
  });

  it('asks for a passphrase only where there is one to ask: no variable, no terminal → KEYSTORE_NO_PASSPHRASE', async () => {
    const path = await keystore('nopass.key');
    delete process.env.MEDLEDGER_PASSPHRASE;
    try {
      expectError(
        await cli('revoke', 'gr-00', '--keystore', path, '--node', 'http://127.0.0.1:9'),
        'KEYSTORE_NO_PASSPHRASE',
        /MEDLEDGER_PASSPHRASE/,
      );
    } finally {
      process.env.MEDLEDGER_PASSPHRASE = PASSPHRASE;
    }
  });

  it('reports a wrong passphrase and a missing keystore or file in one line', async () => {
    const path = await keystore('wrong.key');
    process.env.MEDLEDGER_PASSPHRASE = 'not the passphrase';
    try {
      expectError(await cli('revoke', 'gr-00', '--keystore', path), 'KEYSTORE_WRONG_PASSPHRASE', /wrong/);
    } finally {
      process.env.MEDLEDGER_PASSPHRASE = PASSPHRASE;
    }
    expectError(await cli('revoke', 'gr-00', '--keystore', join(dir, 'nope.key')), 'KEYSTORE_NOT_FOUND');
    expectError(await cli('revoke', 'gr-00'), 'KEYSTORE_REQUIRED', /--keystore/);
    expectError(
      await cli(
        'record',
        'add',
        join(dir, 'missing.json'),
        '--patient',
        'p',
        '--type',
        'Observation',
        '--keystore',
        path,
      ),
      'FILE_NOT_FOUND',
      /missing\.json/,
    );
    expectError(
      await cli('record', 'add', path, '--patient', 'p', '--type', 'not a type', '--keystore', path),
      'BAD_CONTENT_TYPE',
    );
  });

  it('rejects bad arguments before signing anything', async () => {
    const path = await keystore('args.key');
    const sign = ['--keystore', path, '--node', 'http://127.0.0.1:9'];
    expectError(
      await cli('practitioner', 'add', '--key', path, '--roles', 'doctor,surgeon', ...sign),
      'BAD_ARGUMENT',
      /unknown role "surgeon"/,
    );
    expectError(
      await cli('practitioner', 'add', '--key', 'ab'.repeat(32), '--roles', 'doctor', ...sign),
      'BAD_ARGUMENT',
      /--encryption-key/,
    );
    expectError(await cli('grant', '--to', 'someone', ...sign), 'BAD_ARGUMENT', /not a grantee/);
    expectError(await cli('grant', '--to', 'role:st-mary:janitor', ...sign), 'BAD_ARGUMENT', /unknown role/);
    expectError(
      await cli('grant', '--to', 'org:st-mary', '--expires', '3 years', ...sign),
      'BAD_ARGUMENT',
      /duration/,
    );
    expectError(
      await cli('grant', '--to', 'org:st-mary', '--records', 'a', '--types', 'B', ...sign),
      'BAD_ARGUMENT',
    );
    expectError(
      await cli('grant', '--to', 'org:st-mary', '--actions', 'read,write', ...sign),
      'BAD_ARGUMENT',
    );
    expectError(
      await cli('emergency', '--patient', 'p', '--reason', 'r', '--duration', '0h', ...sign),
      'BAD_ARGUMENT',
    );
    expectError(
      await cli('org', 'register', '--id', 'x', '--kind', 'castle', '--admin', path, ...sign),
      'BAD_ARGUMENT',
      /organisation kind/,
    );
    expectError(
      await cli('record', 'get', 'rec-1', '--out', join(dir, 'no', 'such', 'dir.json'), ...sign),
      'FILE_NOT_FOUND',
    );
    expectError(
      await cli('audit', '--patient', 'a', '--actor', 'b', '--node', 'http://127.0.0.1:9'),
      'BAD_ARGUMENT',
    );
    expectError(await cli('audit', '--limit', '0', '--node', 'http://127.0.0.1:9'), 'BAD_ARGUMENT');
    expectError(await cli('status', '--node', 'not a url'), 'BAD_ARGUMENT', /not a URL/);
    expectError(await cli('block', 'show', 'ten'), 'BAD_ARGUMENT');
    expectError(await cli('chain', 'verify'), 'BAD_ARGUMENT', /exactly one/);
    expectError(await cli('chain', 'verify', '--home', dir, '--node', 'http://127.0.0.1:9'), 'BAD_ARGUMENT');
    // Commander's own errors (a missing required option) exit 1 as well.
    expect((await cli('grant', ...sign)).code).toBe(1);
  });

  it('says the node is unreachable, naming it, in one line', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    expectError(
      await cli('status', '--node', url),
      'NODE_UNREACHABLE',
      new RegExp(`cannot reach the node at ${url}`),
    );
    process.env.MEDLEDGER_NODE = url;
    try {
      const path = await keystore('unreachable.key');
      expectError(await cli('revoke', 'gr-00', '--keystore', path), 'NODE_UNREACHABLE', /ECONNREFUSED/);
      const operatorKey = join(dir, 'unreachable-operator.key');
      await writeFile(operatorKey, newOperatorKeyText(), { mode: 0o600 });
      expectError(
        await cli('chain', 'verify', '--node', url, '--operator-key', operatorKey),
        'NODE_UNREACHABLE',
      );
      expectError(await cli('record', 'list', '--patient', 'p', '--keystore', path), 'NODE_UNREACHABLE');
    } finally {
      delete process.env.MEDLEDGER_NODE;
    }
  });

  it('says which credential a command needs before it asks the node anything', async () => {
    const node = ['--node', 'http://127.0.0.1:9'];
    const patient = '0'.repeat(32);
    // Personal data: the node answers only a signed caller, so each read names --keystore.
    for (const args of [
      ['record', 'list', '--patient', patient],
      ['record', 'erasure', 'rec-1'],
      ['policies', '--patient', patient],
      ['requests', '--patient', patient],
      ['audit', '--patient', patient],
      ['audit', 'refusals', '--patient', patient],
      ['audit', 'export', '--fhir', '--patient', patient],
      ['consent', 'export', '--fhir', '--patient', patient],
    ]) {
      const run = await cli(...args, ...node);
      expectError(run, 'KEYSTORE_REQUIRED', /personal data.*pass --keystore FILE/);
    }
    expectError(await cli('sign-request', '/v1/audit', ...node), 'KEYSTORE_REQUIRED', /--operator-key/);
    // The node operator's routes: --operator-key, naming where the key is.
    const where = /--operator-key FILE.*HOME\/operator\.key.*MEDLEDGER_OPERATOR_KEY/;
    expectError(await cli('block', 'show', '1', ...node), 'OPERATOR_KEY_REQUIRED', where);
    expectError(await cli('chain', 'verify', ...node), 'OPERATOR_KEY_REQUIRED', where);
    const tx = await cli('tx', 'show', 'ab'.repeat(32), ...node);
    expectError(tx, 'OPERATOR_KEY_REQUIRED', /--operator-key FILE.*--keystore FILE/);
    expectError(
      await cli('block', 'show', '1', '--operator-key', join(dir, 'absent.key'), ...node),
      'OPERATOR_KEY_NOT_FOUND',
      /absent\.key/,
    );
    const notAKey = join(dir, 'not-an-operator.key');
    await writeFile(notAKey, 'hello\n');
    expectError(await cli('block', 'show', '1', '--operator-key', notAKey, ...node), 'OPERATOR_KEY_INVALID');
    expectError(
      await cli('chain', 'verify', '--home', dir, '--operator-key', notAKey),
      'BAD_ARGUMENT',
      /only with --node/,
    );
  });

  it('has --help with an example on every operator command', async () => {
    for (const command of [
      ['keys', 'new'],
      ['org', 'register'],
      ['org', 'deactivate'],
      ['org', 'activate'],
      ['practitioner', 'add'],
      ['practitioner', 'set-roles'],
      ['patient', 'add'],
      ['identity', 'rotate-keys'],
      ['identity', 'deactivate'],
      ['identity', 'activate'],
      ['record', 'add'],
      ['record', 'get'],
      ['record', 'list'],
      ['record', 'erasure'],
      ['sign-request'],
      ['policies'],
      ['requests'],
      ['grant'],
      ['revoke'],
      ['request'],
      ['approve'],
      ['deny'],
      ['emergency'],
      ['erase'],
      ['audit'],
      ['audit', 'refusals'],
      ['audit', 'export'],
      ['consent', 'export'],
      ['status'],
      ['block', 'show'],
      ['block', 'follow'],
      ['tx', 'show'],
      ['chain', 'verify'],
    ]) {
      const run = await cli(...command, '--help');
      expect(run.code).toBe(0);
      expect(run.stdout, command.join(' ')).toMatch(/Example/);
      if (command[0] !== 'keys' && command[0] !== 'chain') expect(run.stdout).toContain('--json');
    }
  });

  it('parses durations, times and grantees', () => {
    expect(parseDuration('30d', '--expires')).toBe(30 * 86_400_000);
    expect(parseDuration('90s', '--x')).toBe(90_000);
    expect(parseTime('7d', '--from', 1_000_000_000_000)).toBe(1_000_000_000_000 - 7 * 86_400_000);
    expect(parseTime('2026-01-31T00:00:00Z', '--from')).toBe(Date.UTC(2026, 0, 31));
    expect(parseSubject('org:st-mary')).toEqual({ kind: 'organisation', id: 'st-mary' });
    expect(parseSubject('role:st-mary:nurse')).toEqual({
      kind: 'role',
      organisation: 'st-mary',
      role: 'nurse',
    });
    expect(parseSubject('0123456789abcdef0123456789abcdef')).toEqual({
      kind: 'practitioner',
      id: '0123456789abcdef0123456789abcdef',
    });
  });

  it('writes a file whole or not at all', async () => {
    const target = join(dir, 'atomic.bin');
    async function* broken(): AsyncGenerator<Uint8Array> {
      yield new Uint8Array(1000);
      throw new Error('the stream broke');
    }
    await expect(writeFileAtomically(target, broken())).rejects.toThrow('the stream broke');
    async function* whole(): AsyncGenerator<Uint8Array> {
      yield new Uint8Array([1, 2, 3]);
    }
    await expect(
      writeFileAtomically(target, whole(), () => {
        throw new Error('the check failed');
      }),
    ).rejects.toThrow('the check failed');
    expect(existsSync(target)).toBe(false);
    expect(await writeFileAtomically(target, whole())).toBe(3);
    expect([...(await readFile(target))]).toEqual([1, 2, 3]);
    expect((await readdir(dir)).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('reports a node that does not speak the API in one line', async () => {
    const server = createServer((_req, res) => {
      res.writeHead(502, { 'content-type': 'text/html' });
      res.end('<html>bad gateway</html>');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    try {
      expectError(await cli('status', '--node', `http://127.0.0.1:${port}`), 'NODE_BAD_RESPONSE', /HTTP 502/);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("computes a record's CID exactly as the node's store does", async () => {
    const storeDir = join(dir, 'store');
    const store = await BlobStore.open(storeDir);
    try {
      for (const size of [1, 1024 * 1024, 2.5 * 1024 * 1024]) {
        const ciphertext = new Uint8Array(randomBytes(size));
        const stored = await store.putRecord([ciphertext]);
        expect(recordCidOf(ciphertext)).toBe(stored.cid.toString());
        const hasher = new RecordCidHasher(); // fed in uneven pieces
        for (let offset = 0; offset < size; offset += 333_333) {
          hasher.update(ciphertext.subarray(offset, offset + 333_333));
        }
        expect(hasher.cid()).toBe(stored.cid.toString());
      }
    } finally {
      await store.close();
    }
  });
});

describe('the OpenAPI document', () => {
  const doc = JSON.parse(readFileSync(new URL('../src/api/openapi.json', import.meta.url), 'utf8'));

  it('is OpenAPI 3.1 with every route of the API contract, and every $ref resolves', () => {
    expect(doc.openapi).toBe('3.1.0');
    const routes = Object.entries(doc.paths).flatMap(([path, item]: [string, any]) =>
      Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`),
    );
    for (const route of [
      'GET /v1/node',
      'GET /v1/status',
      'POST /v1/txs',
      'GET /v1/txs/{hash}',
      'GET /v1/blocks/{height}',
      'GET /v1/accounts/{signingKey}',
      'GET /v1/identities/{id}',
      'GET /v1/orgs/{id}',
      'GET /v1/records/{id}',
      'GET /v1/records/{id}/erasure',
      'GET /v1/patients/{id}/records',
      'GET /v1/patients/{id}/policies',
      'GET /v1/patients/{id}/requests',
      'GET /v1/audit',
      'GET /v1/fhir/AuditEvent',
      'GET /v1/fhir/Consent',
      'POST /v1/blobs',
      'GET /v1/reads/{readTxHash}',
      'POST /v1/reads/{readTxHash}/false-shares',
      'GET /v1/reads/{readTxHash}/content',
      'GET /v1/chain/verify',
      'GET /healthz',
      'GET /readyz',
      'GET /metrics',
      'GET /openapi.json',
    ]) {
      expect(routes).toContain(route);
    }
    const refs = JSON.stringify(doc).match(/"\$ref":"[^"]+"/g) ?? [];
    for (const ref of new Set(refs)) {
      const name = /#\/components\/schemas\/([A-Za-z0-9]+)/.exec(ref)?.[1];
      expect(doc.components.schemas[name ?? ''], ref).toBeDefined();
    }
  });

  it("names the rule engine's fields and vocabularies exactly", () => {
    const schemas = doc.components.schemas;
    const fieldsOf = (name: string) => Object.keys(schemas[name].properties);
    expect(fieldsOf('Identity')).toEqual(Object.keys(Identity.fields));
    expect(fieldsOf('Organisation')).toEqual([...Object.keys(Organisation.fields), 'encryptionKey']);
    expect(fieldsOf('RecordMeta')).toEqual(Object.keys(RecordMeta.fields));
    expect(fieldsOf('Policy')).toEqual(Object.keys(Policy.fields));
    expect(fieldsOf('AccessRequest')).toEqual(Object.keys(AccessRequest.fields));
    expect(fieldsOf('AuditEntry')).toEqual([...Object.keys(AuditEntry.fields), 'served']);
    expect(schemas.AuditEntry.properties.action.enum).toEqual([...AUDIT_ACTIONS]);
    expect(schemas.Identity.properties.kind.enum).toEqual([...IDENTITY_KINDS]);
    expect(schemas.Identity.properties.roles.items.enum).toEqual([...ROLES]);
    expect(schemas.Organisation.properties.kind.enum).toEqual([...ORGANISATION_KINDS]);
    expect(schemas.AccessRequest.properties.purpose.enum).toEqual([...PURPOSES]);
    expect(schemas.Policy.properties.purpose.enum).toEqual([...GRANT_PURPOSES]);
  });
});

describe('operator commands against four validator processes', () => {
  let cluster: ProcessCluster;
  let node0 = '';
  let node1 = '';
  const plaintext = Buffer.from(
    JSON.stringify({
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'Glucose' },
      valueQuantity: { value: 7.2, unit: 'mmol/L' },
    }),
  );
  const files: Record<string, string> = {};
  const ids: Record<string, string> = {};

  /** `medledger ARGS --node URL --json`, expecting success. */
  async function run(node: string, ...args: string[]): Promise<any> {
    return ok(await cli(...args, '--node', node, '--json'));
  }

  /** The operator key in validator `i`'s home, which signs its node-operator routes. */
  const operatorKey = (i: number) => join(cluster.dir, `validator-${i}`, 'operator.key');

  beforeAll(async () => {
    cluster = await startProcesses(4, undefined, undefined, 1);
    node0 = cluster.api[0]!;
    node1 = cluster.api[1]!;
    files.admin = await keystore('network-admin.key', {
      signing: cluster.admins[0]!,
      encryption: generateEncryptionKeyPair(),
    });
    for (const name of [
      'stMaryAdmin',
      'cityLabAdmin',
      'doctor',
      'registrar',
      'labDoctor',
      'erNurse',
      'patient',
    ]) {
      files[name] = await keystore(`${name}.key`);
    }
    files.observation = join(dir, 'observation.json');
    await writeFile(files.observation, plaintext);
  }, 60_000);

  afterAll(async () => {
    await cluster?.close();
  });

  it('registers organisations, their custodian key being their own node’s', async () => {
    const stMary = await run(
      node0,
      'org',
      'register',
      '--id',
      'st-mary',
      '--kind',
      'hospital',
      '--admin',
      files.stMaryAdmin!,
      '--keystore',
      files.admin!,
    );
    const nodeInfo0 = (await (await fetch(`${node0}/v1/node`)).json()) as { encryptionKey: string };
    expect(stMary).toMatchObject({
      organisation: 'st-mary',
      kind: 'hospital',
      encryptionKey: nodeInfo0.encryptionKey,
    });

    // A bare hex admin key, and the organisation's node named explicitly.
    const labAdmin = (await cli('keys', 'show', files.cityLabAdmin!, '--json')).json;
    const lab = await run(
      node0,
      'org',
      'register',
      '--id',
      'city-lab',
      '--kind',
      'diagnostic-lab',
      '--admin',
      labAdmin.signingKey,
      '--custodian-node',
      node1,
      '--keystore',
      files.admin!,
    );
    const nodeInfo1 = (await (await fetch(`${node1}/v1/node`)).json()) as { encryptionKey: string };
    expect(lab).toMatchObject({
      organisation: 'city-lab',
      admin: labAdmin.id,
      encryptionKey: nodeInfo1.encryptionKey,
    });

    // The rule engine refuses a second st-mary: its code and sentence, in one line.
    expectError(
      await cli(
        'org',
        'register',
        '--id',
        'st-mary',
        '--kind',
        'hospital',
        '--admin',
        files.cityLabAdmin!,
        '--keystore',
        files.admin!,
        '--node',
        node0,
      ),
      'ORGANISATION_EXISTS',
      /already exists/,
    );
  });

  it('adds practitioners and a patient', async () => {
    ids.doctor = (
      await run(
        node0,
        'practitioner',
        'add',
        '--key',
        files.doctor!,
        '--roles',
        'doctor',
        '--keystore',
        files.stMaryAdmin!,
      )
    ).practitioner;
    ids.registrar = (
      await run(
        node0,
        'practitioner',
        'add',
        '--key',
        files.registrar!,
        '--roles',
        'registrar',
        '--keystore',
        files.stMaryAdmin!,
      )
    ).practitioner;
    const lab = (await cli('keys', 'show', files.labDoctor!, '--json')).json;
    const labDoctor = await run(
      node1,
      'practitioner',
      'add',
      '--key',
      lab.signingKey,
      '--encryption-key',
      lab.encryptionKey,
      '--roles',
      'doctor,lab-technician',
      '--keystore',
      files.cityLabAdmin!,
    );
    expect(labDoctor).toMatchObject({
      practitioner: lab.id,
      organisation: 'city-lab',
      roles: ['doctor', 'lab-technician'],
    });
    ids.labDoctor = labDoctor.practitioner;
    ids.erNurse = (
      await run(
        node1,
        'practitioner',
        'add',
        '--key',
        files.erNurse!,
        '--roles',
        'emergency-staff,nurse',
        '--keystore',
        files.cityLabAdmin!,
      )
    ).practitioner;

    const patient = await run(
      node0,
      'patient',
      'add',
      '--patient-keystore',
      files.patient!,
      '--keystore',
      files.registrar!,
    );
    expect(patient).toMatchObject({ registrar: ids.registrar });
    ids.patient = patient.patient;
    expect(ids.patient).toBe((await cli('keys', 'show', files.patient!, '--json')).json.id);

    // Only a registrar registers patients.
    expectError(
      await cli(
        'patient',
        'add',
        '--patient-keystore',
        files.erNurse!,
        '--keystore',
        files.doctor!,
        '--node',
        node0,
      ),
      'WRONG_ROLE',
    );
  });

  it('adds a record: encrypted here, uploaded, committed; the patient reads it back byte for byte', async () => {
    const added = await run(
      node0,
      'record',
      'add',
      files.observation!,
      '--patient',
      ids.patient!,
      '--type',
      'Observation',
      '--keystore',
      files.doctor!,
    );
    expect(added).toMatchObject({ custodian: 'st-mary', plaintext_bytes: plaintext.length });
    expect(added.record).toMatch(/^rec-/);
    expect(added.size_bytes).toBeGreaterThan(plaintext.length);
    ids.record = added.record;

    const out = join(dir, 'patient-copy.json');
    const read = await run(node0, 'record', 'get', ids.record!, '--out', out, '--keystore', files.patient!);
    expect(read).toMatchObject({ record: ids.record, bytes: plaintext.length, emergency: false });
    expect(compareBytes(await readFile(out), plaintext)).toBe(0);
    // Without --force an existing file is left alone.
    expectError(
      await cli('record', 'get', ids.record!, '--out', out, '--keystore', files.patient!, '--node', node0),
      'FILE_EXISTS',
    );

    const listed = await run(
      node1,
      'record',
      'list',
      '--patient',
      ids.patient!,
      '--keystore',
      files.patient!,
    );
    expect(listed.records).toEqual([
      expect.objectContaining({
        id: ids.record,
        version: 1,
        contentType: 'Observation',
        author: ids.doctor,
        custodian: 'st-mary',
      }),
    ]);
    const table = await cli(
      'record',
      'list',
      '--patient',
      ids.patient!,
      '--keystore',
      files.doctor!, // its author, at the patient's hospital
      '--node',
      node1,
    );
    expect(table.stdout).toMatch(/^ID\s+VERSION\s+TYPE/);
    expect(table.stdout).toContain(ids.record);
  });

  it("refuses a practitioner without a permit the patient's records, and the patient sees the refusal", async () => {
    const list = (keystore: string) =>
      cli('record', 'list', '--patient', ids.patient!, '--keystore', keystore, '--node', node1);
    expectError(await list(files.labDoctor!), 'API_NOT_IN_SCOPE', /not in your scope/);
    expectError(
      await cli('policies', '--patient', ids.patient!, '--keystore', files.labDoctor!, '--node', node1),
      'API_NOT_IN_SCOPE',
    );
    // Each node keeps the refusals it made: node1's, as the patient sees them.
    const seen = await run(
      node1,
      'audit',
      'refusals',
      '--patient',
      ids.patient!,
      '--keystore',
      files.patient!,
    );
    expect(seen.cursor).toBeNull();
    expect(seen.entries.map((e: any) => e.route)).toEqual([
      `GET /v1/patients/${ids.patient}/policies`,
      `GET /v1/patients/${ids.patient}/records`,
    ]);
    expect(seen.entries[1]).toMatchObject({
      actor: ids.labDoctor,
      patient: ids.patient,
      code: 'API_NOT_IN_SCOPE',
      time_ms: expect.any(Number),
    });
    const table = await cli(
      'audit',
      'refusals',
      '--patient',
      ids.patient!,
      '--keystore',
      files.patient!,
      '--node',
      node1,
    );
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^TIME\s+ACTOR\s+PATIENT\s+RECORD\s+ROUTE\s+CODE/);
    expect(table.stdout).toContain(`GET /v1/patients/${ids.patient}/records`);
    // The asker sees their own refusals; node0 refused nothing.
    const own = await run(
      node1,
      'audit',
      'refusals',
      '--actor',
      ids.labDoctor!,
      '--keystore',
      files.labDoctor!,
    );
    expect(own.entries).toHaveLength(2);
    const elsewhere = await cli(
      'audit',
      'refusals',
      '--patient',
      ids.patient!,
      '--keystore',
      files.patient!,
      '--node',
      node0,
    );
    expect(elsewhere.stdout).toContain('no refused queries');
    // Someone else's refusals are not the lab doctor's to see.
    expectError(
      await cli(
        'audit',
        'refusals',
        '--patient',
        ids.patient!,
        '--keystore',
        files.labDoctor!,
        '--node',
        node1,
      ),
      'API_NOT_IN_SCOPE',
    );
  });

  it('denies a read without consent (no file written), permits it after a grant, denies it after revoke', async () => {
    const out = join(dir, 'lab-copy.json');
    const get = () =>
      cli('record', 'get', ids.record!, '--out', out, '--keystore', files.labDoctor!, '--node', node1);
    expectError(await get(), 'DENIED', /Access denied: .*rule none/);
    expect(existsSync(out)).toBe(false);

    const grant = await run(
      node0,
      'grant',
      '--to',
      ids.labDoctor!,
      '--records',
      ids.record!,
      '--keystore',
      files.patient!,
    );
    expect(grant.policy).toMatch(/^gr-/);
    const policies = await run(node0, 'policies', '--patient', ids.patient!, '--keystore', files.patient!);
    expect(policies.policies).toEqual([
      expect.objectContaining({
        subject: { kind: 'practitioner', id: ids.labDoctor },
        policy: expect.objectContaining({ id: grant.policy }),
      }),
    ]);

    const read = await get();
    expect(read.code, read.stderr).toBe(0);
    expect(compareBytes(await readFile(out), plaintext)).toBe(0);

    // sign-request: the headers that let the reader call the API directly (curl), good once.
    const again = ok(
      await cli(
        'record',
        'get',
        ids.record!,
        '--out',
        out,
        '--force',
        '--keystore',
        files.labDoctor!,
        '--node',
        node1,
        '--json',
      ),
    );
    const path = `/v1/reads/${again.txHash}`;
    const signed = ok(
      await cli('sign-request', path, '--keystore', files.labDoctor!, '--node', node1, '--json'),
    );
    expect(signed.headers.signature).toMatch(/^sig=:/);
    expect((await fetch(`${node1}${path}`)).status).toBe(401); // unsigned
    expect((await fetch(`${node1}${path}`, { headers: signed.headers })).status).toBe(200);
    expect((await fetch(`${node1}${path}`, { headers: signed.headers })).status).toBe(401); // replayed
    const curl = await cli('sign-request', path, '--keystore', files.labDoctor!, '--node', node1, '--curl');
    expect(curl.code, curl.stderr).toBe(0);
    expect(curl.stdout).toMatch(/^curl -sS -X GET -H 'signature(-input)?: sig=/);
    expect(curl.stdout).toContain(`'signature-input: sig=`);

    ok(await cli('revoke', grant.policy, '--keystore', files.patient!, '--node', node0));
    await rm(out);
    expectError(await get(), 'DENIED', /Access denied/);
    expect(existsSync(out)).toBe(false);
    expect((await readdir(dir)).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('refuses a transaction about an unknown patient with the rule engine’s code', async () => {
    const unknown = '0'.repeat(32);
    expectError(
      await cli(
        'request',
        '--patient',
        unknown,
        '--purpose',
        'treatment',
        '--reason',
        'follow-up',
        '--keystore',
        files.labDoctor!,
        '--node',
        node1,
      ),
      'UNKNOWN_PATIENT',
      new RegExp(unknown),
    );
    expectError(
      await cli(
        'record',
        'add',
        files.observation!,
        '--patient',
        unknown,
        '--type',
        'Observation',
        '--keystore',
        files.doctor!,
        '--node',
        node0,
      ),
      'UNKNOWN_PATIENT',
    );
  });

  it('requests access; the patient denies one request and approves another', async () => {
    const request = () =>
      run(
        node1,
        'request',
        '--patient',
        ids.patient!,
        '--types',
        'Observation',
        '--purpose',
        'treatment',
        '--reason',
        'second opinion',
        '--keystore',
        files.labDoctor!,
      );
    const first = (await request()).request;
    const second = (await request()).request;
    expect(first).toMatch(/^rq-/);
    const pending = await run(node1, 'requests', '--patient', ids.patient!, '--keystore', files.patient!);
    expect(pending.requests.map((r: any) => r.status)).toEqual(['pending', 'pending']);

    ok(await cli('deny', first, '--keystore', files.patient!, '--node', node0));
    const approved = await run(node0, 'approve', second, '--expires', '1h', '--keystore', files.patient!);
    expect(approved.policy).toMatch(/^gr-/);
    expectError(await cli('approve', first, '--keystore', files.patient!, '--node', node0), 'REQUEST_CLOSED');
    const decided = await run(node0, 'requests', '--patient', ids.patient!, '--keystore', files.admin!);
    expect(decided.requests.map((r: any) => r.status).sort()).toEqual(['approved', 'denied']);
    ok(await cli('revoke', approved.policy, '--keystore', files.patient!, '--node', node0));
  });

  it('breaks the glass: the read is flagged as an emergency', async () => {
    const window = await run(
      node1,
      'emergency',
      '--patient',
      ids.patient!,
      '--reason',
      'unconscious on arrival',
      '--duration',
      '15m',
      '--keystore',
      files.erNurse!,
    );
    expect(window.window).toMatch(/^em-/);
    const out = join(dir, 'er-copy.json');
    const read = await run(
      node1,
      'record',
      'get',
      ids.record!,
      '--out',
      out,
      '--purpose',
      'emergency',
      '--keystore',
      files.erNurse!,
    );
    expect(read.emergency).toBe(true);
    expect(compareBytes(await readFile(out), plaintext)).toBe(0);
    expectError(
      await cli(
        'emergency',
        '--patient',
        ids.patient!,
        '--reason',
        'x',
        '--keystore',
        files.doctor!,
        '--node',
        node0,
      ),
      'WRONG_ROLE',
    );
  });

  it("lists the patient's audit trail newest first, flagged, paged with the cursor", async () => {
    const asPatient = ['--keystore', files.patient!];
    const all = await run(node0, 'audit', '--patient', ids.patient!, '--limit', '1000', ...asPatient);
    const entries = all.entries as any[];
    expect(all.cursor).toBeNull();
    const times = entries.map((e) => e.timestamp_ms);
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    expect(entries.filter((e) => e.action === 'read' && e.decision === 'deny').length).toBeGreaterThanOrEqual(
      2,
    );
    expect(
      entries
        .filter((e) => e.emergency)
        .map((e) => `${e.action} ${e.decision}`)
        .sort(),
    ).toEqual(['emergency deny', 'emergency permit', 'read permit']);
    expect(entries.find((e) => e.action === 'emergency' && e.decision === 'permit')).toMatchObject({
      actor: ids.erNurse,
      reason: 'unconscious on arrival',
    });
    // The doctor's refused break-glass is in the trail too, flagged, naming why.
    expect(entries.find((e) => e.action === 'emergency' && e.decision === 'deny')).toMatchObject({
      actor: ids.doctor,
      rule: 'wrong-role',
      reason: 'x',
    });

    const paged = await run(node0, 'audit', '--patient', ids.patient!, '--limit', '2', '--all', ...asPatient);
    expect(paged.entries).toEqual(entries);
    const firstPage = await run(node0, 'audit', '--patient', ids.patient!, '--limit', '2', ...asPatient);
    expect(firstPage.entries).toEqual(entries.slice(0, 2));
    const nextPage = await run(
      node0,
      'audit',
      '--patient',
      ids.patient!,
      '--limit',
      '2',
      '--cursor',
      firstPage.cursor,
      ...asPatient,
    );
    expect(nextPage.entries).toEqual(entries.slice(2, 4));

    const human = await cli('audit', '--patient', ids.patient!, '--node', node0, ...asPatient);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/!! EMERGENCY\s+read/);
    const byRecord = await run(node0, 'audit', '--record', ids.record!, '--from', '1h', ...asPatient);
    expect(byRecord.entries.length).toBeGreaterThan(0);
    expect(byRecord.entries.every((e: any) => e.record === ids.record)).toBe(true);

    // An organisation's admin sees its own staff's entries about the patient, and no one else's.
    const lab = await run(node0, 'audit', '--patient', ids.patient!, '--keystore', files.cityLabAdmin!);
    expect(lab.entries.length).toBeGreaterThan(0);
    expect(lab.entries.every((e: any) => [ids.labDoctor, ids.erNurse].includes(e.actor))).toBe(true);
    // A practitioner asks for their own actions only.
    const own = await run(node0, 'audit', '--actor', ids.erNurse!, '--keystore', files.erNurse!);
    expect(own.entries.length).toBeGreaterThan(0);
    expectError(
      await cli('audit', '--patient', ids.patient!, '--keystore', files.erNurse!, '--node', node0),
      'API_NOT_IN_SCOPE',
    );
  });

  it('shows status, a block and a transaction with its receipt', async () => {
    const served = await fetch(`${node0}/openapi.json`);
    expect(served.status).toBe(200);
    expect(((await served.json()) as { openapi: string }).openapi).toBe('3.1.0');
    const status = await run(node0, 'status');
    expect(status.node.chainId).toBe(cluster.genesis.chainId);
    expect(status.status.height).toBeGreaterThan(0);
    const asOperator = ['--operator-key', operatorKey(0)];
    const block = await run(node0, 'block', 'show', '1', ...asOperator);
    expect(block.txs.length).toBeGreaterThan(0);
    // The operator sees any transaction; its sender (here the network admin) sees its own.
    const tx = await run(node0, 'tx', 'show', block.txs[0], ...asOperator);
    expect(tx).toMatchObject({ txHash: block.txs[0], height: 1, receipt: { code: 'OK' } });
    expect(await run(node0, 'tx', 'show', block.txs[0], '--keystore', files.admin!)).toEqual(tx);
    const human = await cli('tx', 'show', block.txs[0], '--node', node0, '--keystore', files.admin!);
    expect(human.stdout).toMatch(/result\s+OK/);
    expectError(
      await cli('tx', 'show', block.txs[0], '--node', node0, '--keystore', files.patient!),
      'API_NOT_IN_SCOPE',
    );
    expectError(await cli('tx', 'show', 'ab'.repeat(32), '--node', node0, ...asOperator), 'API_TX_NOT_FOUND');
    expectError(await cli('block', 'show', '999999', '--node', node0, ...asOperator), 'API_BLOCK_NOT_FOUND');
    // Following: one JSON line per block, in order, the same blocks `block show` gives; --to ends it.
    const followed = await cli(
      'block',
      'follow',
      '--from',
      '1',
      '--to',
      '2',
      '--json',
      '--node',
      node0,
      ...asOperator,
    );
    expect(followed.code, followed.stderr).toBe(0);
    expect(followed.json.map((b: { height: number }) => b.height)).toEqual([1, 2]);
    expect(followed.json[0]).toEqual(block);
    const followedText = await cli(
      'block',
      'follow',
      '--from',
      '1',
      '--to',
      '1',
      '--node',
      node0,
      ...asOperator,
    );
    expect(followedText.stdout).toMatch(
      new RegExp(`^1 .* view \\d+ {2}${block.txs.length} txs.* ${block.hash}$`, 'm'),
    );
    // Without the operator key the command stops before asking; another node's key is refused by this one.
    expectError(await cli('block', 'show', '1', '--node', node0), 'OPERATOR_KEY_REQUIRED', /--operator-key/);
    expectError(
      await cli('block', 'show', '1', '--node', node0, '--operator-key', operatorKey(1)),
      'API_SIGNATURE_INVALID',
    );
    // $MEDLEDGER_OPERATOR_KEY stands for the option.
    process.env.MEDLEDGER_OPERATOR_KEY = operatorKey(0);
    try {
      expect(await run(node0, 'block', 'show', '1')).toEqual(block);
    } finally {
      delete process.env.MEDLEDGER_OPERATOR_KEY;
    }
    expectError(
      await cli(
        'record',
        'list',
        '--patient',
        hex(new Uint8Array(16)),
        '--node',
        node0,
        '--keystore',
        files.admin!,
      ),
      'API_UNKNOWN_PATIENT',
    );
  });

  it('erases a record: it stays listed as erased, and reading it is refused', async () => {
    expectError(await cli('erase', ids.record!, '--keystore', files.doctor!, '--node', node0), 'NOT_PATIENT');
    ok(await cli('erase', ids.record!, '--keystore', files.patient!, '--node', node0));
    const listed = await run(
      node0,
      'record',
      'list',
      '--patient',
      ids.patient!,
      '--keystore',
      files.patient!,
    );
    expect(listed.records[0].erased_ms).toEqual(expect.any(Number));
    expectError(
      await cli(
        'record',
        'get',
        ids.record!,
        '--out',
        join(dir, 'erased.json'),
        '--keystore',
        files.patient!,
        '--node',
        node0,
      ),
      'RECORD_ERASED',
    );
    // Every validator confirms with a signed receipt; the command checks them and says what they prove.
    let erasure: any;
    for (let tries = 0; tries < 100; tries++) {
      erasure = await run(node1, 'record', 'erasure', ids.record!, '--keystore', files.patient!);
      if (erasure.receipts.length === 4) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(erasure).toMatchObject({ erased: true, validators: 4, needed: 3, shredded: true, rejected: [] });
    const human = await cli('record', 'erasure', ids.record!, '--node', node1, '--keystore', files.patient!);
    expect(human.stdout).toContain('4 of 4 validators confirmed');
    expect(human.stdout).toContain('the key cannot be rebuilt');
  });

  it('adds a PDF with --no-fhir: not validated, streamed from the file, read back byte for byte', async () => {
    // Over one 1 MiB chunk, so the streamed path encrypts more than one segment.
    const pdf = Buffer.concat([Buffer.from('%PDF-1.7\n'), randomBytes(1536 * 1024)]);
    const file = join(dir, 'discharge-letter.pdf');
    await writeFile(file, pdf);
    const added = await run(
      node0,
      'record',
      'add',
      file,
      '--patient',
      ids.patient!,
      '--type',
      'application/pdf',
      '--no-fhir',
      '--keystore',
      files.doctor!,
    );
    expect(added).toMatchObject({ contentType: 'application/pdf', plaintext_bytes: pdf.length });
    const out = join(dir, 'discharge-letter-copy.pdf');
    const read = await run(node0, 'record', 'get', added.record, '--out', out, '--keystore', files.patient!);
    expect(read).toMatchObject({ contentType: 'application/pdf', bytes: pdf.length });
    expect(compareBytes(await readFile(out), pdf)).toBe(0);
  });

  it('the patient adds a record to their own file: patient-provided, kept by their registering organisation', async () => {
    const diary = join(dir, 'glucose-diary.pdf');
    await writeFile(diary, Buffer.from('%PDF-1.7\nmorning 6.1 mmol/L\n'));
    const added = await run(
      node1,
      'record',
      'add',
      diary,
      '--patient',
      ids.patient!,
      '--type',
      'application/pdf',
      '--no-fhir',
      '--keystore',
      files.patient!,
    );
    expect(added).toMatchObject({ custodian: 'st-mary', contentType: 'application/pdf' });
    const listed = await run(
      node0,
      'record',
      'list',
      '--patient',
      ids.patient!,
      '--keystore',
      files.patient!,
    );
    expect(listed.records.find((r: any) => r.id === added.record)).toMatchObject({
      author: ids.patient,
      custodian: 'st-mary',
      patientProvided: true,
    });
    const out = join(dir, 'diary-copy.pdf');
    ok(await cli('record', 'get', added.record, '--out', out, '--keystore', files.patient!, '--node', node0));
    expect(await readFile(out, 'utf8')).toContain('6.1 mmol/L');
  });

  it('rotates keys, deactivates and reactivates an identity and an organisation, and sets roles', async () => {
    // The network admin looks identities and organisations up (a signed request).
    const admin = cluster.admins[0]!;
    const client = new NodeClient(node0).as({ id: identityId(admin.publicKey), secretKey: admin.secretKey });
    // The doctor's keys: the new keystore signs from now on, under the same id.
    files.doctorNext = await keystore('doctor-next.key');
    const next = ok(await cli('keys', 'show', files.doctorNext, '--json'));
    const rotated = await run(
      node0,
      'identity',
      'rotate-keys',
      '--keystore',
      files.doctor!,
      '--new-keystore',
      files.doctorNext,
    );
    expect(rotated).toMatchObject({ identity: ids.doctor, signingKey: next.signingKey });
    expect((await client.identity(ids.doctor!)).signingKey).toBe(next.signingKey);
    expectError(
      await cli(
        'identity',
        'rotate-keys',
        '--keystore',
        files.doctor!,
        '--new-keystore',
        files.doctorNext,
        '--node',
        node0,
      ),
      'NOT_REGISTERED',
    );

    // Roles, by the doctor's organisation admin only.
    const roles = await run(
      node0,
      'practitioner',
      'set-roles',
      ids.doctor!,
      '--roles',
      'researcher,doctor',
      '--keystore',
      files.stMaryAdmin!,
    );
    expect(roles).toMatchObject({
      practitioner: ids.doctor,
      organisation: 'st-mary',
      roles: ['doctor', 'researcher'],
    });
    expect((await client.identity(ids.doctor!)).roles).toEqual(['doctor', 'researcher']);
    expectError(
      await cli(
        'practitioner',
        'set-roles',
        ids.doctor!,
        '--roles',
        'nurse',
        '--keystore',
        files.cityLabAdmin!,
        '--node',
        node0,
      ),
      'WRONG_ORGANISATION',
    );

    // Deactivated, the doctor's new key can do nothing; reactivated, it can.
    const emergency = (keystore: string, node: string) =>
      cli(
        'emergency',
        '--patient',
        ids.patient!,
        '--reason',
        'check',
        '--keystore',
        keystore,
        '--node',
        node,
      );
    const off = await run(node0, 'identity', 'deactivate', ids.doctor!, '--keystore', files.stMaryAdmin!);
    expect(off).toMatchObject({ identity: ids.doctor, active: false });
    expect((await client.identity(ids.doctor!)).active).toBe(false);
    expectError(await emergency(files.doctorNext, node0), 'IDENTITY_INACTIVE');
    ok(await cli('identity', 'activate', ids.doctor!, '--keystore', files.stMaryAdmin!, '--node', node0));
    expect((await client.identity(ids.doctor!)).active).toBe(true);
    expectError(await emergency(files.doctorNext, node0), 'WRONG_ROLE');

    // An organisation, by a network admin: its staff can do nothing until it is reactivated.
    const orgOff = await run(node1, 'org', 'deactivate', 'city-lab', '--keystore', files.admin!);
    expect(orgOff).toMatchObject({ organisation: 'city-lab', active: false });
    // Committed at node1; node0, which `client` reads, applies the block a moment later.
    await expect.poll(async () => (await client.organisation('city-lab')).active).toBe(false);
    expectError(await emergency(files.erNurse!, node1), 'ORGANISATION_INACTIVE');
    expectError(
      await cli('org', 'activate', 'city-lab', '--keystore', files.stMaryAdmin!, '--node', node1),
      'WRONG_ROLE',
    );
    ok(await cli('org', 'activate', 'city-lab', '--keystore', files.admin!, '--node', node1));
    await expect.poll(async () => (await client.organisation('city-lab')).active).toBe(true);
  });

  it('shows a block whole: its hash links, roots, proposer and the validators that certified it', async () => {
    const asOperator = ['--operator-key', operatorKey(0)];
    const [one, two] = [
      ok(await cli('block', 'show', '2', '--json', '--node', node0, ...asOperator)),
      ok(await cli('block', 'show', '3', '--json', '--node', node0, ...asOperator)),
    ];
    expect(two.prevHash).toBe(one.hash);
    expect(one).toMatchObject({ height: 2, version: expect.any(Number), chainId: 'process-test' });
    expect(one.stateRoot).toMatch(/^[0-9a-f]{64}$/);
    expect(one.txRoot).toMatch(/^[0-9a-f]{64}$/);
    expect(one.certificate.signers.length).toBeGreaterThanOrEqual(3); // 2f + 1 of 4
    expect(one.certificate.signers[0]).toMatchObject({
      validator: expect.stringMatching(/^[0-9a-f]{64}$/),
      signature: expect.stringMatching(/^[0-9a-f]{128}$/),
    });
    const text = await cli('block', 'show', '2', '--node', node0, ...asOperator);
    expect(text.stdout).toContain(`previous hash  ${one.prevHash}`);
    expect(text.stdout).toMatch(/certificate +\d COMMIT signatures \(view \d+\): /);
    const genesis = ok(await cli('block', 'show', '0', '--json', '--node', node0, ...asOperator));
    expect(genesis.certificate).toBeNull();
  });

  it('verifies the chain online through a node, then offline from a stopped node’s home', async () => {
    const online = await cli('chain', 'verify', '--node', node0, '--operator-key', operatorKey(0));
    expect(online.code, online.stderr).toBe(0);
    expect(online.stdout).toMatch(/^chain process-test verified: \d+ blocks/);
    await cluster.stopAll();
    const offline = await cli('chain', 'verify', '--home', join(cluster.dir, 'validator-0'), '--json');
    expect(offline.code, offline.stderr).toBe(0);
    expect(offline.json).toMatchObject({ ok: true, problem: null });
    expect(offline.json.blocks).toBeGreaterThan(10);
  });

  it('talks to the node through the client library too', async () => {
    // After stopAll the node is gone: the client says so, naming it.
    await expect(new NodeClient(node0).status()).rejects.toMatchObject({ code: 'NODE_UNREACHABLE' });
  });
});
