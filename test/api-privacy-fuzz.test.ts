/**
 * No personal data to a caller the rules would not show it to, under random requests: four
 * in-process validators with their record stores and the API over the first. Hospital A registers
 * two patients and a doctor who writes a record for each; patient 1 grants a doctor of hospital B a
 * read of theirs, which that doctor makes. Then doctors of hospital B without any grant, and other
 * patients, send random signed GETs to every route of the OpenAPI document, with path and query
 * values drawn from the real ids (patients, records, organisations, practitioners, keys,
 * transactions) and from junk. No answer to them may carry patient 1's identity, record id, record
 * CIDs or the transactions about them, except what the caller put in its own request (a directory
 * entry asked for by id, an error naming the id asked for). Patient 1 asking the same shows the
 * oracle can see what it looks for. `npm run fuzz:api` runs more (MEDLEDGER_FUZZ_RUNS, at most 2,000
 * here: each caller may sign 600 requests a minute).
 */
import type { Server } from 'node:http';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import openapi from '../src/api/openapi.json' with { type: 'json' };
import { startApi } from '../src/api/server.ts';
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
import { generateIdentityKeys, type IdentityKeys } from '../src/crypto/index.ts';
import { Transaction, txHash } from '../src/ledger/index.ts';
import { RefusalLog } from '../src/node/refusal-log.ts';
import { type RequestSigner, signedFetch, signerOf } from './fixtures/signed.ts';
import { FAST_PARAMS, startValidators, type TestValidators } from './fixtures/validators.ts';

const RUNS = Math.min(2_000, Number(process.env.MEDLEDGER_FUZZ_RUNS ?? 300));
/** Callers without any right to patient 1's data, each signing at most RUNS / CALLERS requests. */
const CALLERS = 4;

let cluster: TestValidators;
let server: Server;
let url = '';
let client: NodeClient;
let refusals: RefusalLog;
/** The doctor's refused read, as submitted. */
let deniedTx_: Transaction;

const adminA = generateIdentityKeys();
const adminB = generateIdentityKeys();
const registrar = generateIdentityKeys();
const author = generateIdentityKeys(); // hospital A: writes both records
const granted = generateIdentityKeys(); // hospital B: granted a read of patient 1's record
const refused = generateIdentityKeys(); // hospital B: tries a read of it without a grant
const patient1 = generateIdentityKeys();
const patient2 = generateIdentityKeys();
/** Hospital B's doctors without a grant, and patients of hospital A other than patient 1. */
const outsiders = Array.from({ length: CALLERS }, (_, i) => ({
  keys: generateIdentityKeys(),
  doctor: i % 2 === 0,
}));

const idOf = (keys: IdentityKeys) => identityId(keys.signing.publicKey);
/** What patient 1's data is known by, and what unlocks each (a request holding it may see it). */
let secrets: Array<{ marker: string; unlockedBy: string[] }> = [];
/** Values requests are built from: the real ids, keys and transactions, and junk. */
let pool: string[] = [];

function commit<T extends TxType>(keys: IdentityKeys, type: T, body: TxBody<T>) {
  return submitAndWait(client, keys, type, body);
}

async function registerPatient(keys: IdentityKeys) {
  const patientKeys = { signingKey: keys.signing.publicKey, encryptionKey: keys.encryption.publicKey };
  const coSignature = signPatientRegistration(
    cluster.genesis.chainId,
    idOf(registrar),
    patientKeys,
    keys.signing.secretKey,
  );
  await commit(registrar, 'patient.register', { ...patientKeys, coSignature });
}

async function addObservation(patient: IdentityKeys) {
  const bytes = new TextEncoder().encode('{"resourceType":"Observation","status":"final"}');
  const content = { file: 'observation.json', contentType: 'Observation', size: bytes.length, bytes };
  return addRecord(client, author, { patient: idOf(patient), content, previous: null, purpose: 'treatment' });
}

beforeAll(async () => {
  cluster = await startValidators(4, FAST_PARAMS, 1, { records: true });
  refusals = await RefusalLog.open(join(cluster.dir, 'refusals'));
  server = await startApi(
    {
      node: cluster.nodes[0]!,
      records: cluster.records[0]!,
      erasure: cluster.erasures[0]!,
      refusals,
      version: 'test',
    },
    '127.0.0.1',
    0,
  );
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  client = new NodeClient(url);
  const networkAdmin = { signing: cluster.admins[0]!, encryption: generateIdentityKeys().encryption };
  for (const [org, admin] of [
    ['hospital-a', adminA],
    ['hospital-b', adminB],
  ] as const) {
    await commit(networkAdmin, 'org.register', {
      id: org,
      kind: 'hospital',
      adminKey: admin.signing.publicKey,
      encryptionKey: admin.encryption.publicKey,
    });
  }
  const staff: Array<[IdentityKeys, IdentityKeys, 'registrar' | 'doctor']> = [
    [adminA, registrar, 'registrar'],
    [adminA, author, 'doctor'],
    [adminB, granted, 'doctor'],
    [adminB, refused, 'doctor'],
    ...outsiders
      .filter((o) => o.doctor)
      .map((o): [IdentityKeys, IdentityKeys, 'doctor'] => [adminB, o.keys, 'doctor']),
  ];
  for (const [admin, who, role] of staff) {
    await commit(admin, 'practitioner.register', {
      signingKey: who.signing.publicKey,
      encryptionKey: who.encryption.publicKey,
      roles: [role],
    });
  }
  for (const patient of [patient1, patient2, ...outsiders.filter((o) => !o.doctor).map((o) => o.keys)])
    await registerPatient(patient);
  const record1 = await addObservation(patient1);
  const record2 = await addObservation(patient2);
  const grant = await commit(patient1, 'consent.grant', {
    subject: { kind: 'practitioner', id: idOf(granted) },
    scope: { kind: 'records', records: [record1.record] },
    actions: ['read'],
    purpose: 'treatment',
    expires_ms: Date.now() + 86_400_000,
  });
  const read = await commit(granted, 'record.read', { record: record1.record, purpose: 'treatment' });
  // Refused by the rule engine: its receipt says why, which is the reader's business alone.
  const deniedTx = buildTx(
    'record.read',
    { record: record1.record, purpose: 'treatment' },
    1,
    cluster.genesis.chainId,
    refused.signing.secretKey,
  );
  const denied = { txHash: hex(txHash(deniedTx)) };
  deniedTx_ = deniedTx;
  expect((await client.submitTx(encode(Transaction, deniedTx), 10_000)).committed).toBeTruthy();

  const patient1Key = hex(patient1.signing.publicKey);
  secrets = [
    { marker: idOf(patient1), unlockedBy: [idOf(patient1), patient1Key] },
    { marker: record1.record, unlockedBy: [record1.record] },
    { marker: record1.cid, unlockedBy: [record1.cid] },
    { marker: record1.keyCid, unlockedBy: [record1.keyCid] },
    { marker: record1.txHash, unlockedBy: [record1.txHash] },
    { marker: grant.txHash, unlockedBy: [grant.txHash] },
    { marker: read.txHash, unlockedBy: [read.txHash] },
    { marker: denied.txHash, unlockedBy: [denied.txHash] },
  ];
  pool = [
    ...secrets.map((s) => s.marker),
    patient1Key,
    idOf(patient2),
    record2.record,
    record2.cid,
    'hospital-a',
    'hospital-b',
    ...[adminA, adminB, registrar, author, granted, refused].map(idOf),
    ...outsiders.map((o) => idOf(o.keys)),
    hex(author.signing.publicKey),
  ];
}, 180_000);

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  await refusals?.close();
  await cluster?.close();
});

const GET_ROUTES = Object.entries(openapi.paths).flatMap(([template, operations]) => {
  const get = (operations as Record<string, { parameters?: Array<{ name?: string; in?: string }> }>).get;
  return get
    ? [{ template, query: (get.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name!) }]
    : [];
});

const QUERY_WORDS: Record<string, readonly string[]> = {
  by: ['patient', 'actor', 'record', 'time'],
  served: ['true', 'false'],
};

function requestArbitrary() {
  const value = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...pool) },
    { weight: 1, arbitrary: fc.constantFrom('', '0', '10', 'x', '1700000000000') },
  );
  return fc.record({
    route: fc.constantFrom(...GET_ROUTES),
    params: fc.array(value, { minLength: 3, maxLength: 3 }),
    query: fc.array(fc.tuple(fc.nat(8), value, fc.nat(3)), { maxLength: 4 }),
    caller: fc.nat(CALLERS - 1),
  });
}

type Sent = ReturnType<typeof requestArbitrary> extends fc.Arbitrary<infer T> ? T : never;

function pathOf({ route, params, query }: Sent): string {
  let at = 0;
  const path = route.template.replace(/\{[^}]+\}/g, () => encodeURIComponent(params[at++]!));
  const search = new URLSearchParams();
  for (const [i, value, word] of query) {
    const name = route.query[i % Math.max(1, route.query.length)];
    if (!name) continue;
    const words = QUERY_WORDS[name];
    search.set(name, words ? words[word % words.length]! : value);
  }
  return search.size > 0 ? `${path}?${search}` : path;
}

/** What of patient 1's data `text` carries that `request` did not hold already. */
function leaked(request: string, text: string): string[] {
  const asked = decodeURIComponent(request);
  return secrets
    .filter((s) => text.includes(s.marker) && !s.unlockedBy.some((key) => asked.includes(key)))
    .map((s) => s.marker);
}

async function ask(signer: RequestSigner, path: string): Promise<{ status: number; text: string }> {
  const response = await signedFetch(`${url}${path}`, signer, { signal: AbortSignal.timeout(5_000) });
  return { status: response.status, text: await response.text() };
}

describe("patient 1's data under random requests", () => {
  it('reaches patient 1, who may see it: the oracle sees what it looks for', async () => {
    const record = secrets[1]!.marker;
    const { status, text } = await ask(signerOf(patient1), `/v1/patients/${idOf(patient1)}/records`);
    expect(status).toBe(200);
    expect(leaked(`/v1/patients/${idOf(patient1)}/records`, text)).toEqual(
      expect.arrayContaining([record, secrets[2]!.marker]),
    );
  });

  it("a read permit's refusals reach its reader alone: others hear neither its type nor its receipt", async () => {
    const outsider = signerOf(outsiders[0]!.keys);
    for (const marker of [secrets[6]!.marker, secrets[7]!.marker, secrets[5]!.marker]) {
      for (const path of [`/v1/reads/${marker}`, `/v1/reads/${marker}/content`]) {
        const { status, text } = await ask(outsider, path);
        expect(status, path).toBe(403);
        expect(JSON.parse(text).error.code).toBe('API_NOT_IN_SCOPE');
        expect(text).not.toMatch(/record\.read|consent\.grant|DENIED|erased/);
      }
    }
    const { text } = await ask(signerOf(refused), `/v1/reads/${secrets[7]!.marker}`);
    expect(JSON.parse(text).error.code).toBe('API_READ_DENIED');
  });

  it('its refusals, listed to the one who was refused, name only what they asked for', async () => {
    const outsider = outsiders[1]!.keys;
    const asked = [`/v1/records/${secrets[1]!.marker}`, `/v1/reads/${secrets[6]!.marker}`];
    for (const path of asked) expect((await ask(signerOf(outsider), path)).status).toBe(403);
    const list = `/v1/audit/refusals?by=actor&id=${idOf(outsider)}`;
    const { status, text } = await ask(signerOf(outsider), list);
    expect(status).toBe(200);
    const entries = JSON.parse(text).entries as Array<{ patient: string | null; record: string | null }>;
    expect(entries.map((e) => [e.patient, e.record])).toEqual(
      expect.arrayContaining([
        [null, secrets[1]!.marker],
        [null, null],
      ]),
    );
    expect(leaked([...asked, list].join(' '), text)).toEqual([]); // what they asked, and no more
    // The patient sees whole what was asked of their data.
    const mine = `/v1/audit/refusals?by=patient&id=${idOf(patient1)}`;
    const whole = JSON.parse((await ask(signerOf(patient1), mine)).text).entries as Array<{
      actor: string;
      record: string | null;
    }>;
    expect(whole.filter((e) => e.actor === idOf(outsider)).map((e) => e.record)).toEqual([
      secrets[1]!.marker,
      secrets[1]!.marker,
    ]);
  });

  it('a doctor refused a read of it sees the refusal in their own trail and receipt, but not whose record it is', async () => {
    const me = signerOf(refused);
    const patient = idOf(patient1);
    const [record, deniedTx] = [secrets[1]!.marker, secrets[7]!.marker];
    const own = [
      `/v1/audit?by=actor&id=${idOf(refused)}`,
      `/v1/fhir/AuditEvent?actor=${idOf(refused)}`,
      `/v1/txs/${deniedTx}`,
    ];
    for (const path of own) {
      const { status, text } = await ask(me, path);
      expect(status, path).toBe(200);
      expect(text, path).toContain(record); // what they asked for, and that it was refused
      expect(text, path).not.toContain(patient);
    }
    const audit = JSON.parse((await ask(me, own[0]!)).text).entries;
    expect(audit).toMatchObject([{ action: 'read', decision: 'deny', record, patient: null }]);
    // Submitting the same bytes again answers with the receipt: to anyone, so without the patient.
    const again = await fetch(`${url}/v1/txs?wait_ms=1000`, {
      method: 'POST',
      body: encode(Transaction, deniedTx_),
    });
    const receipt = await again.text();
    expect(receipt).toContain('DENIED');
    expect(receipt).not.toContain(patient);
    // The patient sees the attempt whole.
    const mine = await ask(signerOf(patient1), `/v1/audit?by=record&id=${record}`);
    const entries = JSON.parse(mine.text).entries as Array<{ actor: string; patient: string }>;
    expect(entries.filter((e) => e.actor === idOf(refused))).toMatchObject([{ patient }]);
  });

  it('an overseer of another hospital is told no more of their own refusals than anyone', async () => {
    const me = signerOf(adminB);
    const [patient, record] = [idOf(patient1), secrets[1]!.marker];
    expect((await ask(me, `/v1/records/${record}`)).status).toBe(403);
    const { nonce } = await client.account(hex(adminB.signing.publicKey));
    const body = { record, purpose: 'treatment' } as const;
    const tx = buildTx('record.read', body, nonce + 1, cluster.genesis.chainId, adminB.signing.secretKey);
    const submitted = await fetch(`${url}/v1/txs?wait_ms=5000`, {
      method: 'POST',
      body: encode(Transaction, tx),
    });
    expect(await submitted.text()).not.toContain(patient);
    // Their trail and its AuditEvents (an admin identity may not read: refused before a decision,
    // nothing to show there), their refused queries, the receipt: none names the patient.
    const own = [
      [`/v1/audit?by=actor&id=${idOf(adminB)}`, false],
      [`/v1/fhir/AuditEvent?actor=${idOf(adminB)}`, false],
      [`/v1/audit/refusals?by=actor&id=${idOf(adminB)}`, true],
      [`/v1/txs/${hex(txHash(tx))}`, true],
    ] as const;
    for (const [path, namesRecord] of own) {
      const { status, text } = await ask(me, path);
      expect(status, path).toBe(200);
      if (namesRecord) expect(text, path).toContain(record);
      expect(text, path).not.toContain(patient);
    }
  });

  it(`reaches none of ${RUNS} random requests from doctors without a grant and other patients`, async () => {
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(requestArbitrary(), async (sent) => {
        const path = pathOf(sent);
        const { status, text } = await ask(signerOf(outsiders[sent.caller]!.keys), path);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        expect(status, `${path}: ${text.slice(0, 200)}`).toBeLessThan(500);
        expect(leaked(path, text), `${path} → ${status} ${text.slice(0, 300)}`).toEqual([]);
      }),
      { numRuns: RUNS, seed: 1205, endOnFailure: true },
    );
    // The requests went past authentication: some were answered, some refused for scope.
    expect(statuses.get(200) ?? 0).toBeGreaterThan(0);
    expect(statuses.get(403) ?? 0).toBeGreaterThan(0);
  });
});
