/**
 * Every operation of the API's OpenAPI document against a real node: four in-process validators with
 * their record stores (a record's key is split among at least two), the HTTP API over the first, with
 * its refusal log and an operator key. A network admin (genesis) registers two hospitals; hospital A
 * registers a patient, a doctor who writes a record for them and an auditor; hospital B a doctor the
 * patient grants a read (who then reads), and a doctor without any grant.
 *
 * The table below has one row per operation, and the test fails for an operation without one. Each
 * row names the scope openapi.json must declare (x-scope, and the matching `security`), who may call
 * it and who may not. For a signed operation: unsigned gets 401 API_UNSIGNED; each caller outside
 * its scope gets 403 with the code that fits; the first caller within it gets 2xx, then 401
 * API_SIGNATURE_REPLAYED for the very same headers sent again, and 401 API_SIGNATURE_STALE for a
 * signature created two minutes ago; every other caller within it gets 2xx. An open operation
 * answers unsigned requests. Then: the routes' own `access` agrees with the document, refused
 * queries are logged and shown to those they concern, and a deactivated identity, an unknown key
 * and a wrong key are refused.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { httpbis } from 'http-message-signatures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Route } from '../src/api/context.ts';
import { API_ROUTES, type ApiOptions, startApi } from '../src/api/server.ts';
import { hex } from '../src/bytes.ts';
import { NodeClient } from '../src/client/http.ts';
import { addRecord } from '../src/client/records.ts';
import { submitAndWait } from '../src/client/submit.ts';
import { encode } from '../src/codec/index.ts';
import {
  buildTx,
  identityId,
  signPatientRegistration,
  type TxBody,
  type TxType,
} from '../src/contracts/index.ts';
import { contentDigest, OPERATOR_KEY_ID, signRequest } from '../src/crypto/http-signature.ts';
import {
  generateEncryptionKeyPair,
  generateIdentityKeys,
  generateSigningKeyPair,
  type IdentityKeys,
  sign,
} from '../src/crypto/index.ts';
import { Transaction } from '../src/ledger/index.ts';
import { parseFaults } from '../src/node/config.ts';
import { RefusalLog } from '../src/node/refusal-log.ts';
import { FAST_PARAMS, startValidators, type TestValidators } from './fixtures/validators.ts';

const doc = JSON.parse(readFileSync(new URL('../src/api/openapi.json', import.meta.url), 'utf8'));
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'];

/** Everyone who signs in this test; `operator` is the node's operator key. */
type Who =
  | 'admin'
  | 'adminA'
  | 'adminB'
  | 'registrar'
  | 'doctorA'
  | 'doctorB'
  | 'doctorC'
  | 'auditor'
  | 'patient'
  | 'operator';

const keys: Record<Exclude<Who, 'operator'>, IdentityKeys> = {
  admin: generateIdentityKeys(), // replaced by the genesis admin's key
  adminA: generateIdentityKeys(),
  adminB: generateIdentityKeys(),
  registrar: generateIdentityKeys(), // hospital A
  doctorA: generateIdentityKeys(), // hospital A: writes the record
  doctorB: generateIdentityKeys(), // hospital B: granted a read by the patient, and reads
  doctorC: generateIdentityKeys(), // hospital B: no grant
  auditor: generateIdentityKeys(), // hospital A's auditor
  patient: generateIdentityKeys(), // registered at hospital A
};
const operator = generateSigningKeyPair();

const id = (who: Exclude<Who, 'operator'>) => identityId(keys[who].signing.publicKey);
const signerOf = (who: Who) =>
  who === 'operator'
    ? { keyId: OPERATOR_KEY_ID, secretKey: operator.secretKey }
    : { keyId: id(who), secretKey: keys[who].signing.secretKey };

let cluster: TestValidators;
let refusals: RefusalLog;
const servers: Server[] = [];
let url = '';
let client: NodeClient;
let recordId = '';
let recordTx = '';
let readTx = '';

interface Reply {
  status: number;
  /** The JSON body, or null for another content type. */
  body: any;
  text: string;
  headers: Headers;
}

async function call(
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: Uint8Array,
  at = url,
): Promise<Reply> {
  const res = await fetch(`${at}${path}`, { method, headers, body });
  const text = await res.text();
  const json = (res.headers.get('content-type') ?? '').startsWith('application/json');
  return { status: res.status, body: json ? JSON.parse(text) : null, text, headers: res.headers };
}

/** The headers signing one request as `who`, as the client signs them (a fresh nonce, created now). */
function signed(who: Who, method: string, path: string, body?: Uint8Array, at = url) {
  const { keyId, secretKey } = signerOf(who);
  return signRequest({ method, url: `${at}${path}`, headers: {}, body }, keyId, secretKey);
}

/** The same signature, but created at `created` (the client never does this; a replayer might). */
async function signedAt(created: Date, who: Who, method: string, path: string, body?: Uint8Array) {
  const { keyId, secretKey } = signerOf(who);
  const headers: Record<string, string> = {};
  const fields = ['@method', '@path', '@query'];
  if (body && body.length > 0) {
    headers['content-digest'] = contentDigest(body);
    fields.push('content-digest');
  }
  const result = await httpbis.signMessage(
    {
      key: { id: keyId, alg: 'ed25519', sign: async (data) => Buffer.from(sign(secretKey, data)) },
      fields,
      params: ['created', 'nonce', 'keyid', 'alg'],
      paramValues: { created, nonce: randomBytes(16).toString('base64url') },
    },
    { method, url: `${url}${path}`, headers },
  );
  return Object.fromEntries(Object.entries(result.headers).map(([k, v]) => [k.toLowerCase(), String(v)]));
}

const codeOf = (reply: Reply) => reply.body?.error?.code as string | undefined;

/** Submits a transaction signed by `who` and waits for its OK receipt. */
function commit<T extends TxType>(who: Exclude<Who, 'operator'>, type: T, body: TxBody<T>) {
  return submitAndWait(client, keys[who], type, body);
}

async function serve(options: ApiOptions = {}): Promise<string> {
  const server = await startApi(
    {
      node: cluster.nodes[0]!,
      records: cluster.records[0]!,
      erasure: cluster.erasures[0]!,
      refusals,
      parseFaults,
      version: 'test',
    },
    '127.0.0.1',
    0,
    { operatorKey: operator.publicKey, faultInjection: true, ...options },
  );
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

beforeAll(async () => {
  cluster = await startValidators(4, FAST_PARAMS, 1, { records: true });
  keys.admin = { signing: cluster.admins[0]!, encryption: generateEncryptionKeyPair() };
  refusals = await RefusalLog.open(join(cluster.dir, 'refusals'));
  url = await serve();
  client = new NodeClient(url);

  for (const [org, admin] of [
    ['hospital-a', 'adminA'],
    ['hospital-b', 'adminB'],
  ] as const) {
    await commit('admin', 'org.register', {
      id: org,
      kind: 'hospital',
      adminKey: keys[admin].signing.publicKey,
      encryptionKey: keys[admin].encryption.publicKey,
    });
  }
  for (const [admin, who, role] of [
    ['adminA', 'registrar', 'registrar'],
    ['adminA', 'doctorA', 'doctor'],
    ['adminA', 'auditor', 'auditor'],
    ['adminB', 'doctorB', 'doctor'],
    ['adminB', 'doctorC', 'doctor'],
  ] as const) {
    await commit(admin, 'practitioner.register', {
      signingKey: keys[who].signing.publicKey,
      encryptionKey: keys[who].encryption.publicKey,
      roles: [role],
    });
  }
  const patientKeys = {
    signingKey: keys.patient.signing.publicKey,
    encryptionKey: keys.patient.encryption.publicKey,
  };
  await commit('registrar', 'patient.register', {
    ...patientKeys,
    coSignature: signPatientRegistration(
      cluster.genesis.chainId,
      id('registrar'),
      patientKeys,
      keys.patient.signing.secretKey,
    ),
  });
  const plaintext = new TextEncoder().encode('{"resourceType":"Observation","status":"final"}');
  const added = await addRecord(client, keys.doctorA, {
    patient: id('patient'),
    content: {
      file: 'observation.json',
      contentType: 'Observation',
      size: plaintext.length,
      bytes: plaintext,
    },
    previous: null,
    purpose: 'treatment',
  });
  recordId = added.record;
  recordTx = added.txHash;
  await commit('patient', 'consent.grant', {
    subject: { kind: 'practitioner', id: id('doctorB') },
    scope: { kind: 'records', records: [recordId] },
    actions: ['read'],
    purpose: 'treatment',
    expires_ms: Date.now() + 86_400_000,
  });
  readTx = (await commit('doctorB', 'record.read', { record: recordId, purpose: 'treatment' })).txHash;
}, 120_000);

afterAll(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  await refusals?.close();
  await cluster?.close();
});

interface Row {
  /** What openapi.json must say of the operation (x-scope). */
  scope: string;
  /** The path and query `who` asks (unsigned: `who` is null). */
  path: (who: Who | null) => string;
  body?: () => Uint8Array | Promise<Uint8Array>;
  /** The status a caller within the scope gets. */
  ok: number;
  /** Callers within the scope: the first is also replayed and made stale. Empty for open rows. */
  allowed: Who[];
  /** Callers outside it, and the 403 code each gets. */
  refused: Array<[Who, string]>;
  /** What `who` (within the scope) must see. */
  check?: (who: Who | null, reply: Reply) => void;
}

const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
const fixed = (path: string) => () => path;
const open = (path: string, ok = 200, check?: Row['check']): Row => ({
  scope: 'open',
  path: fixed(path),
  ok,
  allowed: [],
  refused: [],
  check,
});

const NOT_IN_SCOPE = 'API_NOT_IN_SCOPE';
const NOT_OPERATOR = 'API_NOT_OPERATOR';
const NOT_AN_IDENTITY = 'API_NOT_AN_IDENTITY';

/** One row per operation of openapi.json, keyed `METHOD /path`. */
const TABLE: Record<string, Row> = {
  'GET /healthz': open('/healthz'),
  'GET /readyz': open('/readyz'),
  'GET /metrics': open('/metrics'),
  'GET /openapi.json': open('/openapi.json'),
  'GET /v1/node': open('/v1/node'),
  'GET /v1/status': open('/v1/status'),
  'POST /v1/txs': {
    ...open('/v1/txs', 202),
    // A transaction is signed already: its sender's key, not the request, says who sends it.
    body: async () => {
      const { nonce } = await client.account(hex(keys.doctorC.signing.publicKey));
      const tx = buildTx(
        'record.read',
        { record: recordId, purpose: 'treatment' },
        nonce + 1,
        cluster.genesis.chainId,
        keys.doctorC.signing.secretKey,
      );
      return encode(Transaction, tx);
    },
  },
  'GET /v1/accounts/{signingKey}': {
    ...open(''),
    path: () => `/v1/accounts/${hex(keys.patient.signing.publicKey)}`,
    // Open, so who registered the patient (where they are treated) is not said.
    check: (_who, reply) =>
      expect(reply.body.identity).toMatchObject({ id: id('patient'), registeredBy: null }),
  },
  'GET /v1/txs/{hash}': {
    scope: 'sender-or-operator',
    path: () => `/v1/txs/${recordTx}`,
    ok: 200,
    allowed: ['doctorA', 'operator'],
    refused: [
      ['doctorC', NOT_IN_SCOPE],
      ['patient', NOT_IN_SCOPE],
    ],
  },
  'GET /v1/blocks/stream': {
    scope: 'operator',
    path: fixed('/v1/blocks/stream?from=1&to=1'),
    ok: 200,
    allowed: ['operator'],
    refused: [
      ['admin', NOT_OPERATOR],
      ['doctorA', NOT_OPERATOR],
    ],
  },
  'GET /v1/blocks/{height}': {
    scope: 'operator',
    path: fixed('/v1/blocks/1'),
    ok: 200,
    allowed: ['operator'],
    refused: [
      ['admin', NOT_OPERATOR],
      ['doctorA', NOT_OPERATOR],
    ],
  },
  'GET /v1/chain/verify': {
    scope: 'operator',
    path: fixed('/v1/chain/verify'),
    ok: 200,
    allowed: ['operator'],
    refused: [
      ['admin', NOT_OPERATOR],
      ['adminA', NOT_OPERATOR],
    ],
  },
  'PUT /v1/debug/faults': {
    scope: 'operator',
    path: fixed('/v1/debug/faults'),
    body: () => json({}),
    ok: 200,
    allowed: ['operator'],
    refused: [['admin', NOT_OPERATOR]],
  },
  'GET /v1/identities/{id}': {
    scope: 'member',
    path: () => `/v1/identities/${id('patient')}`,
    ok: 200,
    allowed: ['doctorC', 'patient', 'admin', 'doctorA'],
    refused: [['operator', NOT_AN_IDENTITY]],
    // Who registered the patient: to the patient, admins and the registering hospital's staff only.
    check: (who, reply) => expect(reply.body.registeredBy).toBe(who === 'doctorC' ? null : id('registrar')),
  },
  'GET /v1/orgs/{id}': {
    scope: 'member',
    path: fixed('/v1/orgs/hospital-a'),
    ok: 200,
    allowed: ['doctorC', 'patient'],
    refused: [['operator', NOT_AN_IDENTITY]],
  },
  'GET /v1/orgs/{id}/members': {
    scope: 'overseer, admin',
    path: fixed('/v1/orgs/hospital-a/members'),
    ok: 200,
    allowed: ['adminA', 'auditor', 'admin'],
    refused: [
      ['doctorA', NOT_IN_SCOPE], // staff, not an overseer
      ['adminB', NOT_IN_SCOPE], // another hospital's overseer
      ['patient', NOT_IN_SCOPE],
      ['operator', NOT_AN_IDENTITY],
    ],
    // Hospital A's staff, and no one else: its admin identity, registrar, doctor and auditor.
    check: (_who, reply) =>
      expect(reply.body.members.map((m: { id: string }) => m.id).sort()).toEqual(
        [id('adminA'), id('registrar'), id('doctorA'), id('auditor')].sort(),
      ),
  },
  'GET /v1/records/{id}': {
    scope: 'patient, permit, overseer, admin',
    path: () => `/v1/records/${recordId}`,
    ok: 200,
    // The patient, the author, the grantee, the custodian's auditor and admin identity, a network admin.
    allowed: ['patient', 'doctorA', 'doctorB', 'auditor', 'adminA', 'admin'],
    refused: [
      ['doctorC', NOT_IN_SCOPE],
      ['adminB', NOT_IN_SCOPE], // another hospital's overseer
      ['registrar', NOT_IN_SCOPE], // the registering hospital's registrar: no rule permits a read
      ['operator', NOT_AN_IDENTITY],
    ],
    check: (_who, reply) => expect(reply.body.id).toBe(recordId),
  },
  'GET /v1/records/{id}/erasure': {
    scope: 'patient, permit, overseer, admin',
    path: () => `/v1/records/${recordId}/erasure`,
    ok: 200,
    allowed: ['patient', 'doctorB', 'auditor', 'admin'],
    refused: [
      ['doctorC', NOT_IN_SCOPE],
      ['adminB', NOT_IN_SCOPE],
      ['operator', NOT_AN_IDENTITY],
    ],
    check: (_who, reply) => expect(reply.body).toMatchObject({ record: recordId, erased: false }),
  },
  'GET /v1/patients/{id}/records': {
    scope: 'patient, permit, overseer, admin',
    path: () => `/v1/patients/${id('patient')}/records`,
    ok: 200,
    allowed: ['patient', 'doctorB', 'doctorA', 'auditor', 'admin', 'adminB'],
    refused: [
      ['doctorC', NOT_IN_SCOPE],
      ['registrar', NOT_IN_SCOPE],
      ['operator', NOT_AN_IDENTITY],
    ],
    // Another hospital's overseer may list, and sees none: the record is in hospital A's custody.
    check: (who, reply) =>
      expect(reply.body.records.map((r: { id: string }) => r.id)).toEqual(who === 'adminB' ? [] : [recordId]),
  },
  'GET /v1/patients/{id}/policies': {
    scope: 'patient, admin',
    path: () => `/v1/patients/${id('patient')}/policies`,
    ok: 200,
    allowed: ['patient', 'admin'],
    refused: [
      ['doctorB', NOT_IN_SCOPE], // the grantee
      ['auditor', NOT_IN_SCOPE],
      ['adminA', NOT_IN_SCOPE],
      ['operator', NOT_AN_IDENTITY],
    ],
    check: (_who, reply) => expect(reply.body.policies).toHaveLength(1),
  },
  'GET /v1/patients/{id}/requests': {
    scope: 'patient, admin',
    path: () => `/v1/patients/${id('patient')}/requests`,
    ok: 200,
    allowed: ['patient', 'admin'],
    refused: [
      ['doctorB', NOT_IN_SCOPE],
      ['auditor', NOT_IN_SCOPE],
      ['operator', NOT_AN_IDENTITY],
    ],
  },
  'GET /v1/audit': {
    scope: 'patient, self, overseer, admin',
    // Anyone asks for their own actions.
    path: (who) =>
      who === 'doctorB'
        ? `/v1/audit?by=actor&id=${id('doctorB')}`
        : `/v1/audit?by=patient&id=${id('patient')}`,
    ok: 200,
    allowed: ['patient', 'auditor', 'admin', 'doctorB'],
    refused: [
      ['doctorC', NOT_IN_SCOPE],
      ['operator', NOT_AN_IDENTITY],
    ],
    check: (who, reply) => {
      const entries = reply.body.entries as Array<{ actor: string; patient: string | null }>;
      expect(entries.length).toBeGreaterThan(0);
      if (who === 'doctorB') expect(entries.every((e) => e.actor === id('doctorB'))).toBe(true);
      // An overseer sees its staff's entries (and its own), not hospital B's doctor's read.
      if (who === 'auditor') expect(entries.some((e) => e.actor === id('doctorB'))).toBe(false);
      if (who === 'patient') expect(entries.some((e) => e.actor === id('doctorB'))).toBe(true);
    },
  },
  'GET /v1/audit/refusals': {
    scope: 'patient, self, overseer, admin',
    path: (who) =>
      who === 'doctorC'
        ? `/v1/audit/refusals?by=actor&id=${id('doctorC')}`
        : `/v1/audit/refusals?by=patient&id=${id('patient')}`,
    ok: 200,
    allowed: ['patient', 'auditor', 'admin', 'doctorC'],
    refused: [
      ['doctorB', NOT_IN_SCOPE],
      ['operator', NOT_AN_IDENTITY],
    ],
  },
  'GET /v1/fhir/AuditEvent': {
    scope: 'patient, self, overseer, admin',
    path: (who) =>
      who === 'doctorB'
        ? `/v1/fhir/AuditEvent?actor=${id('doctorB')}`
        : who === 'adminA'
          ? '/v1/fhir/AuditEvent?org=hospital-a'
          : `/v1/fhir/AuditEvent?patient=${id('patient')}`,
    ok: 200,
    allowed: ['patient', 'auditor', 'admin', 'doctorB', 'adminA'],
    refused: [
      ['doctorC', NOT_IN_SCOPE],
      ['operator', NOT_AN_IDENTITY],
    ],
    check: (_who, reply) => {
      const events = reply.text
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line));
      expect(events.length).toBeGreaterThan(0);
      expect(events.every((event) => event.resourceType === 'AuditEvent')).toBe(true);
    },
  },
  'GET /v1/fhir/Consent': {
    scope: 'patient, admin',
    path: () => `/v1/fhir/Consent?patient=${id('patient')}`,
    ok: 200,
    allowed: ['patient', 'admin'],
    refused: [
      ['doctorB', NOT_IN_SCOPE],
      ['auditor', NOT_IN_SCOPE],
      ['operator', NOT_AN_IDENTITY],
    ],
    check: (_who, reply) => expect(JSON.parse(reply.text.trim()).resourceType).toBe('Consent'),
  },
  'POST /v1/blobs': {
    scope: 'patient, clinician',
    path: fixed('/v1/blobs'),
    body: () => new Uint8Array(randomBytes(64)),
    ok: 201,
    allowed: ['doctorA', 'patient', 'doctorC'],
    refused: [
      ['auditor', NOT_IN_SCOPE],
      ['registrar', NOT_IN_SCOPE],
      ['adminA', NOT_IN_SCOPE],
      ['operator', NOT_AN_IDENTITY],
    ],
  },
  'GET /v1/reads/{readTxHash}': {
    scope: 'reader',
    path: () => `/v1/reads/${readTx}`,
    ok: 200,
    allowed: ['doctorB'],
    refused: [
      ['doctorC', NOT_IN_SCOPE],
      ['patient', NOT_IN_SCOPE],
      ['operator', NOT_AN_IDENTITY],
    ],
    check: (_who, reply) => expect(reply.body.shares.length).toBeGreaterThanOrEqual(reply.body.threshold),
  },
  'POST /v1/reads/{readTxHash}/false-shares': {
    scope: 'reader',
    path: () => `/v1/reads/${readTx}/false-shares`,
    body: () => json({ shares: [] }),
    ok: 200,
    allowed: ['doctorB'],
    refused: [
      ['doctorC', NOT_IN_SCOPE],
      ['operator', NOT_AN_IDENTITY],
    ],
    check: (_who, reply) => expect(reply.body).toEqual({ punished: [], unproven: [] }),
  },
  'GET /v1/reads/{readTxHash}/content': {
    scope: 'reader',
    path: () => `/v1/reads/${readTx}/content`,
    ok: 200,
    allowed: ['doctorB'],
    refused: [
      ['doctorC', NOT_IN_SCOPE],
      ['admin', NOT_IN_SCOPE],
      ['operator', NOT_AN_IDENTITY],
    ],
  },
};

/** Every operation of the document: `METHOD /path` and the operation object. */
const OPERATIONS: Array<[string, any]> = Object.entries(doc.paths).flatMap(([path, item]: [string, any]) =>
  Object.entries(item)
    .filter(([method]) => METHODS.includes(method))
    .map(([method, op]): [string, any] => [`${method.toUpperCase()} ${path}`, op]),
);

/** What `security` an operation of this scope declares. */
function securityOf(scope: string): unknown {
  if (scope === 'open') return [];
  if (scope === 'operator') return [{ operatorSignature: [] }];
  if (scope === 'sender-or-operator') return [{ httpSignature: [] }, { operatorSignature: [] }];
  return [{ httpSignature: [] }];
}

describe('the OpenAPI document names every operation’s scope', () => {
  it('every operation has a row in the table, and every row an operation', () => {
    const operations = OPERATIONS.map(([key]) => key);
    expect(operations.filter((key) => !(key in TABLE))).toEqual([]);
    expect(Object.keys(TABLE).filter((key) => !operations.includes(key))).toEqual([]);
  });

  it('each declares its x-scope, in the words x-scopes defines, and the security that goes with it', () => {
    const words = Object.keys(doc['x-scopes']);
    expect(Object.keys(doc.components.securitySchemes).sort()).toEqual([
      'httpSignature',
      'operatorSignature',
    ]);
    for (const [key, op] of OPERATIONS) {
      const row = TABLE[key];
      if (!row) continue;
      expect(op['x-scope'], key).toBe(row.scope);
      for (const word of row.scope.split(', ')) expect(words, `${key}: ${word}`).toContain(word);
      expect(op.security, key).toEqual(securityOf(row.scope));
      const codes = Object.keys(op.responses);
      if (row.scope === 'open') {
        expect(codes, key).not.toContain('401');
        continue;
      }
      for (const code of ['401', '403', '429']) expect(codes, `${key} ${code}`).toContain(code);
      const said = (code: string) => op.responses[code].description as string;
      for (const error of [
        'API_UNSIGNED',
        'API_SIGNATURE_INVALID',
        'API_SIGNATURE_STALE',
        'API_SIGNATURE_REPLAYED',
      ]) {
        expect(said('401'), `${key} ${error}`).toContain(error);
      }
      for (const [, code] of row.refused) expect(said('403'), `${key} ${code}`).toContain(code);
      expect(said('429'), key).toContain(key === 'POST /v1/blobs' ? 'API_UPLOAD_QUOTA' : 'API_RATE_LIMITED');
    }
  });

  it("agrees with each route's own access: open, operator, a signed identity, or checked in the handler", () => {
    const identityScope = (scope: string) => !['open', 'operator', 'sender-or-operator'].includes(scope);
    const fits: Record<Route['access'], (scope: string) => boolean> = {
      open: (scope) => scope === 'open',
      operator: (scope) => scope === 'operator',
      member: identityScope,
      // The handler authenticates (a body it reads, or either an identity or the operator).
      'in-handler': (scope) => scope !== 'open',
    };
    for (const route of API_ROUTES) {
      const matches = Object.entries(TABLE).filter(([key, row]) => {
        const [method] = key.split(' ');
        const pathname = new URL(row.path(row.allowed[0] ?? null), 'http://node').pathname;
        return method === route.method && route.path.test(pathname);
      });
      expect(
        matches.map(([key]) => key),
        `${route.method} ${route.path}`,
      ).toHaveLength(1);
      const [key, row] = matches[0]!;
      expect(fits[route.access](row.scope), `${key}: access ${route.access}, x-scope ${row.scope}`).toBe(
        true,
      );
    }
  });
});

describe('every operation against a running node', () => {
  for (const [key] of OPERATIONS) {
    const row = TABLE[key];
    if (!row) continue;
    const method = key.split(' ')[0]!;
    if (row.scope === 'open') {
      it(`${key}: open, answered unsigned`, async () => {
        const body = row.body ? await row.body() : undefined;
        const reply = await call(method, row.path(null), {}, body);
        expect(reply.status, reply.text).not.toBe(401);
        expect(reply.status, reply.text).toBe(row.ok);
        row.check?.(null, reply);
      });
      continue;
    }
    it(`${key}: ${row.scope}`, async () => {
      const body = async () => (row.body ? await row.body() : undefined);
      const send = async (who: Who | null, headers?: Record<string, string>, bytes?: Uint8Array) => {
        const path = row.path(who);
        const payload = bytes ?? (await body());
        return call(method, path, headers ?? (who ? await signed(who, method, path, payload) : {}), payload);
      };

      const unsigned = await send(null);
      expect([unsigned.status, codeOf(unsigned)], 'unsigned').toEqual([401, 'API_UNSIGNED']);

      for (const [who, code] of row.refused) {
        const reply = await send(who);
        expect([reply.status, codeOf(reply)], `signed by ${who}`).toEqual([403, code]);
      }

      // The first caller within the scope; the very same request again is a replay.
      const [first, ...others] = row.allowed;
      const path = row.path(first!);
      const payload = await body();
      const headers = await signed(first!, method, path, payload);
      const answered = await call(method, path, headers, payload);
      expect(answered.status, `${first}: ${answered.text.slice(0, 300)}`).toBe(row.ok);
      row.check?.(first!, answered);
      const replayed = await call(method, path, headers, payload);
      expect([replayed.status, codeOf(replayed)], `${first}, replayed`).toEqual([
        401,
        'API_SIGNATURE_REPLAYED',
      ]);

      // Signed two minutes ago: stale, though the signature verifies.
      const old = await signedAt(new Date(Date.now() - 120_000), first!, method, path, payload);
      const stale = await call(method, path, old, payload);
      expect([stale.status, codeOf(stale)], `${first}, two minutes old`).toEqual([
        401,
        'API_SIGNATURE_STALE',
      ]);

      for (const who of others) {
        const reply = await send(who);
        expect(reply.status, `${who}: ${reply.text.slice(0, 300)}`).toBe(row.ok);
        row.check?.(who, reply);
      }
    });
  }
});

describe("an organisation's staff", () => {
  it('pages through with a cursor, one member a page, and ends', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 10; page++) {
      const path: string = `/v1/orgs/hospital-a/members?limit=1${cursor ? `&cursor=${cursor}` : ''}`;
      const reply = await call('GET', path, await signed('adminA', 'GET', path));
      expect(reply.status, reply.text).toBe(200);
      seen.push(...reply.body.members.map((m: { id: string }) => m.id));
      cursor = reply.body.cursor;
      if (cursor === null) break;
    }
    expect(cursor).toBeNull();
    expect(seen.sort()).toEqual([id('adminA'), id('registrar'), id('doctorA'), id('auditor')].sort());
  });
});

describe('refused queries', () => {
  it("are logged, and shown to the patient they concern, the actor, the actor's overseers and admins", async () => {
    const list = async (who: Who, query: string) => {
      const path = `/v1/audit/refusals?${query}`;
      const reply = await call('GET', path, await signed(who, 'GET', path));
      expect(reply.status, reply.text).toBe(200);
      return reply.body.entries as Array<{
        actor: string;
        patient: string | null;
        route: string;
        code: string;
      }>;
    };
    // Hospital B's doctor without a grant, refused the patient's records above.
    const mine = await list('patient', `by=patient&id=${id('patient')}`);
    expect(mine).toContainEqual(
      expect.objectContaining({
        actor: id('doctorC'),
        patient: id('patient'),
        route: `GET /v1/patients/${id('patient')}/records`,
        code: NOT_IN_SCOPE,
      }),
    );
    expect(mine.every((entry) => entry.patient === id('patient'))).toBe(true);
    // The actor sees their own refusals; hospital A's auditor those of A's staff only.
    const own = await list('doctorC', `by=actor&id=${id('doctorC')}`);
    expect(own.length).toBeGreaterThan(0);
    expect(own.every((entry) => entry.actor === id('doctorC'))).toBe(true);
    const audited = await list('auditor', 'by=time&limit=1000');
    const staffOfA = [id('registrar'), id('doctorA'), id('auditor'), id('adminA')];
    expect(audited.length).toBeGreaterThan(0);
    expect(audited.every((entry) => staffOfA.includes(entry.actor))).toBe(true);
    expect(audited.some((entry) => entry.actor === id('registrar'))).toBe(true); // the registrar's upload
    const all = await list('admin', 'by=time&limit=1000');
    expect(all.length).toBeGreaterThan(audited.length);
    // Counted by route, without ids.
    const metrics = await call('GET', '/metrics');
    expect(metrics.text).toMatch(/^medledger_api_refusals_total\{route="\/v1\/patients"\} [1-9]/m);
    // Metrics are open: they carry no personal data, no identity's id nor a record's.
    const people: Array<Exclude<Who, 'operator'>> = [
      'patient',
      'doctorA',
      'doctorB',
      'doctorC',
      'auditor',
      'registrar',
    ];
    for (const who of people) expect(metrics.text).not.toContain(id(who));
    expect(metrics.text).not.toContain(recordId);
  });
});

describe('signatures the node refuses whoever signs', () => {
  it('an unknown key id, and a key id signed with another key, are invalid', async () => {
    const path = `/v1/identities/${id('patient')}`;
    const stranger = generateSigningKeyPair();
    const unknown = await signRequest(
      { method: 'GET', url: `${url}${path}`, headers: {} },
      identityId(stranger.publicKey),
      stranger.secretKey,
    );
    const reply = await call('GET', path, unknown);
    expect([reply.status, codeOf(reply)]).toEqual([401, 'API_SIGNATURE_INVALID']);
    const posing = await signRequest(
      { method: 'GET', url: `${url}${path}`, headers: {} },
      id('admin'),
      keys.doctorC.signing.secretKey,
    );
    const forged = await call('GET', path, posing);
    expect([forged.status, codeOf(forged)]).toEqual([401, 'API_SIGNATURE_INVALID']);
    // The operator's key id on a node that has none.
    const bare = await serve({ operatorKey: undefined });
    const verify = await call(
      'GET',
      '/v1/chain/verify',
      await signed('operator', 'GET', '/v1/chain/verify', undefined, bare),
      undefined,
      bare,
    );
    expect([verify.status, codeOf(verify)]).toEqual([401, 'API_SIGNATURE_INVALID']);
  });

  it('an upload whose body is not the one signed is refused', async () => {
    const signedBody = new Uint8Array(randomBytes(64));
    const headers = await signed('doctorA', 'POST', '/v1/blobs', signedBody);
    const other = new Uint8Array(randomBytes(64));
    const reply = await call('POST', '/v1/blobs', headers, other);
    expect([reply.status, codeOf(reply)]).toEqual([401, 'API_SIGNATURE_INVALID']);
  });

  it("the operator's fault setting whose body is not the one signed is refused", async () => {
    const headers = await signed('operator', 'PUT', '/v1/debug/faults', json({}));
    const reply = await call('PUT', '/v1/debug/faults', headers, json({ dropRate: 1 }));
    expect([reply.status, codeOf(reply)]).toEqual([401, 'API_SIGNATURE_INVALID']);
  });

  it("uploads beyond an identity's daily quota get 429 API_UPLOAD_QUOTA", async () => {
    const small = await serve({ uploadQuotaBytesPerDay: 100 });
    const upload = async (who: Who) => {
      const body = new Uint8Array(randomBytes(64));
      return call('POST', '/v1/blobs', await signed(who, 'POST', '/v1/blobs', body, small), body, small);
    };
    expect((await upload('doctorA')).status).toBe(201);
    const over = await upload('doctorA');
    expect([over.status, codeOf(over)]).toEqual([429, 'API_UPLOAD_QUOTA']);
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(0);
    // Each identity has its own.
    expect((await upload('patient')).status).toBe(201);
  });

  it('a deactivated identity is refused at once', async () => {
    await commit('adminB', 'identity.set-active', { id: id('doctorC'), active: false });
    const path = '/v1/orgs/hospital-b';
    const reply = await call('GET', path, await signed('doctorC', 'GET', path));
    expect([reply.status, codeOf(reply)]).toEqual([403, 'API_IDENTITY_INACTIVE']);
  });
});
