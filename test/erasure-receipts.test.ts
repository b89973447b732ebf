/**
 * Signed erasure receipts: the signature and its checks (src/ledger/erasure-receipt.ts); the node
 * component over real libp2p hosts on 127.0.0.1 (issue, push, query, list, punishing peers that send
 * forged or malformed receipts); the API route (to the record's patient, signed; refused to anyone
 * else and unsigned), the client's own check of each receipt, and the `record erasure` command.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ApiContext } from '../src/api/context.ts';
import { startApi } from '../src/api/server.ts';
import { hex } from '../src/bytes.ts';
import { addRecordCommands } from '../src/cli/operator/records.ts';
import { NodeClient } from '../src/client/http.ts';
import { decode, encode } from '../src/codec/index.ts';
import { Identity, identityId, RecordMeta, stateKey } from '../src/contracts/index.ts';
import {
  generateIdentityKeys,
  generateSigningKeyPair,
  randomBytes,
  type SigningKeyPair,
  sign,
  writeKeystore,
} from '../src/crypto/index.ts';
import {
  ErasureReceipt,
  erasureReceiptPayload,
  signErasureReceipt,
  UnsignedErasureReceipt,
  verifyErasureReceipt,
} from '../src/ledger/erasure-receipt.ts';
import type { Logger } from '../src/logger.ts';
import {
  ERASURE_RECEIPTS_PROTOCOL,
  type ErasureHost,
  ErasureReceipts,
  ErasureRequest,
} from '../src/node/erasure-receipts.ts';
import type { ValidatorNode } from '../src/node/validator.ts';
import { P2PHost } from '../src/p2p/host.ts';
import { signedFetch } from './fixtures/signed.ts';

const CHAIN = 'erasure-test';
const recordId = (c: string) => `rec-${c.repeat(32)}`;
const until = async (condition: () => boolean | Promise<boolean>, timeout_ms = 15_000) => {
  const deadline = Date.now() + timeout_ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 25));
  }
};

function validatorSet(n: number) {
  const keys = Array.from({ length: n }, () => generateSigningKeyPair());
  const genesis = {
    chainId: CHAIN,
    validators: keys.map((k, i) => ({ name: `validator-${i}`, publicKey: k.publicKey })),
  };
  return { keys, genesis };
}

/** A logger that keeps every line, to check what was logged and that it names no one. */
function recordingLogger() {
  const lines: Array<{ level: string; fields: Record<string, unknown>; message: string }> = [];
  const at =
    (level: string) =>
    (fields: object, message: string): void =>
      void lines.push({ level, fields: fields as Record<string, unknown>, message });
  const log: Logger = { info: at('info'), warn: at('warn'), debug: at('debug') };
  return { log, lines };
}

describe('erasure receipts: signature', () => {
  const { keys, genesis } = validatorSet(4);
  const validatorKeys = genesis.validators.map((v) => v.publicKey);
  const eraseTx = randomBytes(32);
  const signed = signErasureReceipt(
    { chainId: CHAIN, record: recordId('a'), eraseTx, erased_ms: 1_767_225_600_000 },
    keys[1]!.secretKey,
  );

  it('verifies a receipt signed by a genesis validator, and survives the canonical round trip', () => {
    expect(signed.validator).toEqual(keys[1]!.publicKey);
    expect(verifyErasureReceipt(signed, CHAIN, validatorKeys)).toBe(true);
    const bytes = encode(ErasureReceipt, signed);
    const back = decode(ErasureReceipt, bytes);
    expect(back).toEqual(signed);
    expect(verifyErasureReceipt(back, CHAIN, validatorKeys)).toBe(true);
  });

  it('fails when any field is tampered with', () => {
    const flip = (b: Uint8Array) => {
      const copy = new Uint8Array(b);
      copy[0]! ^= 1;
      return copy;
    };
    const tampered: ErasureReceipt[] = [
      { ...signed, chainId: 'another-chain' },
      { ...signed, record: recordId('b') },
      { ...signed, eraseTx: flip(signed.eraseTx) },
      { ...signed, validator: keys[2]!.publicKey }, // another genesis validator's key
      { ...signed, erased_ms: signed.erased_ms + 1 },
      { ...signed, signature: flip(signed.signature) },
    ];
    for (const receipt of tampered)
      expect(verifyErasureReceipt(receipt, receipt.chainId, validatorKeys)).toBe(false);
    expect(verifyErasureReceipt(signed, 'another-chain', validatorKeys)).toBe(false);
  });

  it('fails for a key outside the genesis, and without the domain tag', () => {
    const outsider = generateSigningKeyPair();
    const foreign = signErasureReceipt(
      { chainId: CHAIN, record: recordId('a'), eraseTx, erased_ms: 1 },
      outsider.secretKey,
    );
    expect(verifyErasureReceipt(foreign, CHAIN, [...validatorKeys, outsider.publicKey])).toBe(true);
    expect(verifyErasureReceipt(foreign, CHAIN, validatorKeys)).toBe(false);
    // A signature over the bare encoding (no domain tag) is not a receipt signature.
    const unsigned = {
      chainId: CHAIN,
      record: recordId('a'),
      eraseTx,
      validator: keys[0]!.publicKey,
      erased_ms: 1,
    };
    const bare = {
      ...unsigned,
      signature: sign(keys[0]!.secretKey, encode(UnsignedErasureReceipt, unsigned)),
    };
    expect(verifyErasureReceipt(bare, CHAIN, validatorKeys)).toBe(false);
    const proper = { ...unsigned, signature: sign(keys[0]!.secretKey, erasureReceiptPayload(unsigned)) };
    expect(verifyErasureReceipt(proper, CHAIN, validatorKeys)).toBe(true);
  });

  it('gives false, not an exception, for malformed values', () => {
    const malformed = [
      { ...signed, validator: new Uint8Array(31) },
      { ...signed, signature: new Uint8Array(63) },
      { ...signed, erased_ms: -1 },
      { ...signed, record: 'x'.repeat(65) },
      { ...signed, eraseTx: 'nope' as unknown as Uint8Array },
    ];
    for (const receipt of malformed) expect(verifyErasureReceipt(receipt, CHAIN, validatorKeys)).toBe(false);
  });
});

describe('erasure receipts between validators (real libp2p on 127.0.0.1)', () => {
  let dir: string;
  let hosts: P2PHost[] = [];
  let components: ErasureReceipts[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'medledger-erasure-'));
  });
  afterEach(async () => {
    await Promise.all(components.map((c) => c.stop()));
    await Promise.all(hosts.map((h) => h.stop()));
    components = [];
    hosts = [];
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** n hosts of a genesis of n validators, every pair connected. */
  async function mesh(n: number) {
    const { keys, genesis } = validatorSet(n);
    const started = await Promise.all(
      keys.map((k) =>
        P2PHost.start({
          secretKey: k.secretKey,
          listen: ['/ip4/127.0.0.1/tcp/0'],
          peers: genesis.validators
            .filter((v) => v.publicKey !== k.publicKey)
            .map((v) => ({ publicKey: v.publicKey, addresses: [], name: v.name })),
        }),
      ),
    );
    hosts.push(...started);
    for (let i = 0; i < n; i++)
      for (let j = i + 1; j < n; j++) started[i]!.setPeerAddresses(keys[j]!.publicKey, started[j]!.addresses);
    await until(() => started.every((h) => h.connectedPeers().length === n - 1));
    return { keys, genesis, hosts: started };
  }

  let dirs = 0;
  async function component(
    host: ErasureHost,
    genesis: ReturnType<typeof validatorSet>['genesis'],
    key: SigningKeyPair,
    options: { log?: Logger; dir?: string } = {},
  ): Promise<ErasureReceipts> {
    const started = await ErasureReceipts.start({
      host,
      genesis,
      secretKey: key.secretKey,
      dir: options.dir ?? join(dir, `receipts-${dirs++}`),
      log: options.log ?? recordingLogger().log,
    });
    components.push(started);
    return started;
  }

  /** What a node holds for a record, asked over the wire from another host (no gathering). */
  async function heldBy(asker: P2PHost, target: Uint8Array, record: string): Promise<number> {
    const frames = await asker.request(
      { ...ERASURE_RECEIPTS_PROTOCOL, maxResponseBytes: 64 * 1024 },
      hex(target),
      encode(ErasureRequest, { kind: 'query', record }),
      5000,
    );
    return frames.length;
  }

  it('gathers on the fourth node the receipts three others issued, and keeps them', async () => {
    const { keys, genesis, hosts: h } = await mesh(4);
    const issuers = await Promise.all([0, 1, 2].map((i) => component(h[i]!, genesis, keys[i]!)));
    const record = recordId('c');
    const eraseTx = randomBytes(32);
    const issued = await Promise.all(issuers.map((c) => c.issue(record, eraseTx)));
    for (const [i, receipt] of issued.entries()) {
      expect(receipt).not.toBeNull();
      expect(receipt!.validator).toEqual(keys[i]!.publicKey);
      expect(
        verifyErasureReceipt(
          receipt!,
          CHAIN,
          genesis.validators.map((v) => v.publicKey),
        ),
      ).toBe(true);
    }
    // A second issue returns the stored receipt: signed once per record.
    expect(await issuers[0]!.issue(record, eraseTx)).toEqual(issued[0]);

    // The fourth starts only now, so it missed every push: list gathers by query.
    const fourthDir = join(dir, 'fourth');
    const fourth = await component(h[3]!, genesis, keys[3]!, { dir: fourthDir });
    expect(await heldBy(h[0]!, keys[3]!.publicKey, record)).toBe(0);
    const listed = await fourth.list(record);
    expect(listed.map((r) => hex(r.validator))).toEqual([0, 1, 2].map((i) => hex(keys[i]!.publicKey)));
    expect(listed).toEqual(issued);
    expect(await fourth.list(recordId('d'))).toEqual([]);

    // What it gathered is stored: reopened with no peer at all, it still lists all three.
    await fourth.stop();
    components = components.filter((c) => c !== fourth);
    const alone: ErasureHost = {
      onRequest: async () => {},
      request: async () => {
        throw new Error('no peers');
      },
      connectedPeers: () => [],
      punish: () => {},
    };
    const reopened = await component(alone, genesis, keys[3]!, { dir: fourthDir });
    expect(await reopened.list(record)).toEqual(issued);
  });

  it('pushes an issued receipt to every connected validator', async () => {
    const { keys, genesis, hosts: h } = await mesh(4);
    const all = await Promise.all(h.map((host, i) => component(host, genesis, keys[i]!)));
    const record = recordId('e');
    await all[2]!.issue(record, randomBytes(32));
    for (const i of [0, 1, 3])
      await until(async () => (await heldBy(h[(i + 1) % 4]!, keys[i]!.publicKey, record)) === 1);
  });

  it('punishes a peer that pushes a forged or malformed receipt, and keeps serving', async () => {
    const { keys, genesis, hosts: h } = await mesh(4);
    const { log, lines } = recordingLogger();
    const victim = await component(h[0]!, genesis, keys[0]!, { log });
    const honest = await component(h[1]!, genesis, keys[1]!);
    const record = recordId('f');
    const genuine = await victim.issue(record, randomBytes(32));
    const attacker = h[3]!; // a validator's host, playing a lying peer without the component
    const victimKey = hex(keys[0]!.publicKey);
    const punished = (reason: string) => h[0]!.metrics.disconnectedForMisbehaviour.get(reason) ?? 0;
    const attack = async (frame: Uint8Array, reason: string) => {
      const before = punished(reason);
      await until(() => attacker.connectedPeers().includes(victimKey));
      await attacker.request(ERASURE_RECEIPTS_PROTOCOL, victimKey, frame, 5000).catch(() => {});
      await until(() => punished(reason) > before);
    };
    const forged = record.replace('f', '9');
    const outsider = generateSigningKeyPair();
    const fromOutsider = signErasureReceipt(
      { chainId: CHAIN, record: forged, eraseTx: randomBytes(32), erased_ms: 5 },
      outsider.secretKey,
    );
    await attack(encode(ErasureRequest, { kind: 'push', receipt: fromOutsider }), 'forged-erasure-receipt');
    const byAttacker = signErasureReceipt(
      { chainId: CHAIN, record: forged, eraseTx: randomBytes(32), erased_ms: 5 },
      keys[3]!.secretKey,
    );
    const altered = { ...byAttacker, erased_ms: 6 };
    await attack(encode(ErasureRequest, { kind: 'push', receipt: altered }), 'forged-erasure-receipt');
    const wrongChain = signErasureReceipt(
      { chainId: 'other-chain', record: forged, eraseTx: randomBytes(32), erased_ms: 5 },
      keys[3]!.secretKey,
    );
    await attack(encode(ErasureRequest, { kind: 'push', receipt: wrongChain }), 'forged-erasure-receipt');
    await attack(new Uint8Array([0x92, 0xc4, 0x01, 0x00]), 'malformed-erasure-request');
    expect(punished('forged-erasure-receipt')).toBe(3);
    expect(lines.filter((l) => l.message === 'punished a peer')).toHaveLength(4);

    // None of it was stored, and the victim still serves: the honest node gathers its receipt.
    expect(await heldBy(h[1]!, keys[0]!.publicKey, forged)).toBe(0);
    await until(() => h[1]!.connectedPeers().includes(victimKey));
    const listed = await honest.list(record);
    expect(listed).toContainEqual(genuine);
    // A genuine push from the attacker's key (it is a validator) is taken.
    await until(() => attacker.connectedPeers().includes(victimKey));
    await attacker.request(
      ERASURE_RECEIPTS_PROTOCOL,
      victimKey,
      encode(ErasureRequest, { kind: 'push', receipt: byAttacker }),
      5000,
    );
    expect(await heldBy(h[1]!, keys[0]!.publicKey, forged)).toBe(1);
    // The logs name validators and record ids, nothing else.
    for (const line of lines) {
      for (const key of Object.keys(line.fields))
        expect(['record', 'peer', 'reason', 'validator', 'err']).toContain(key);
    }
  });

  it('punishes a peer that answers a query with a receipt that does not check, and ignores it', async () => {
    const { keys, genesis, hosts: h } = await mesh(4);
    const asker = await component(h[0]!, genesis, keys[0]!);
    const honest = await component(h[1]!, genesis, keys[1]!);
    const record = recordId('7');
    const genuine = await honest.issue(record, randomBytes(32));
    // Validator 2 answers with a genuine receipt of its own, but for another record; validator 3
    // with bytes that are no receipt.
    const otherRecord = signErasureReceipt(
      { chainId: CHAIN, record: recordId('8'), eraseTx: randomBytes(32), erased_ms: 1 },
      keys[2]!.secretKey,
    );
    await h[2]!.onRequest(ERASURE_RECEIPTS_PROTOCOL, async () => [encode(ErasureReceipt, otherRecord)]);
    await h[3]!.onRequest(ERASURE_RECEIPTS_PROTOCOL, async () => [new Uint8Array([1, 2, 3])]);
    const listed = await asker.list(record);
    expect(listed).toEqual([genuine]);
    const count = (reason: string) => h[0]!.metrics.disconnectedForMisbehaviour.get(reason) ?? 0;
    expect(count('forged-erasure-receipt')).toBe(1);
    expect(count('malformed-erasure-response')).toBe(1);
  });
});

describe('GET /v1/records/{id}/erasure, the client and `record erasure`', () => {
  const { keys, genesis } = validatorSet(4);
  const erased = recordId('a');
  const live = recordId('b');
  const eraseTx = randomBytes(32);
  const receipts = keys.map((k, i) =>
    signErasureReceipt(
      { chainId: CHAIN, record: erased, eraseTx, erased_ms: Date.UTC(2026, 0, 2, 0, 0, i) },
      k.secretKey,
    ),
  );
  const meta = (id: string, erased_ms: number | null): RecordMeta => ({
    id,
    patient: patient.id,
    author: 'a'.repeat(32),
    custodian: 'st-mary',
    contentType: 'Observation',
    cid: 'bafy',
    size_bytes: 10,
    keyCid: 'bafk',
    version: 1,
    previous: null,
    root: id,
    supersededBy: null,
    created_ms: Date.UTC(2026, 0, 1),
    erased_ms,
    patientProvided: false,
  });
  /** The records' patient, and another patient, each signing their requests. */
  const patientKeys = generateIdentityKeys();
  const otherKeys = generateIdentityKeys();
  const patient = { id: identityId(patientKeys.signing.publicKey), secretKey: patientKeys.signing.secretKey };
  const other = { id: identityId(otherKeys.signing.publicKey), secretKey: otherKeys.signing.secretKey };
  const identity = (id: string, keys: typeof patientKeys): Identity => ({
    id,
    kind: 'patient',
    organisation: null,
    roles: [],
    signingKey: keys.signing.publicKey,
    encryptionKey: keys.encryption.publicKey,
    active: true,
    registered_ms: Date.UTC(2026, 0, 1),
    registeredBy: null,
  });
  const state = new Map([
    [hex(stateKey.record(erased)), encode(RecordMeta, meta(erased, Date.UTC(2026, 0, 2)))],
    [hex(stateKey.record(live)), encode(RecordMeta, meta(live, null))],
    [hex(stateKey.identity(patient.id)), encode(Identity, identity(patient.id, patientKeys))],
    [hex(stateKey.identity(other.id)), encode(Identity, identity(other.id, otherKeys))],
  ]);
  const asPatient = (path: string) => signedFetch(`${url}${path}`, patient);
  /** Stands in for the receipts component: answers what a set of validators would. */
  let held: ErasureReceipt[] = [];
  const fakeErasure = { list: async (id: string) => held.filter((r) => r.record === id) };
  let api: Server;
  let url: string;

  beforeAll(async () => {
    const node = {
      store: { stateReader: { get: (key: Uint8Array) => state.get(hex(key)) }, genesis },
      metrics: { registry: new Registry() },
    };
    const ctx = {
      node: node as unknown as ValidatorNode,
      erasure: fakeErasure as unknown as ApiContext['erasure'],
      version: 'test',
    };
    api = await startApi(ctx, '127.0.0.1', 0);
    url = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => api.close(resolve));
  });

  it("answers the record's patient the receipts with the count needed; refuses others, and unknown records alike", async () => {
    held = receipts.slice(0, 3);
    const response = await asPatient(`/v1/records/${erased}/erasure`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      record: erased,
      erased: true,
      erased_ms: Date.UTC(2026, 0, 2),
      validators: 4,
      needed: 3,
      shredded: true,
      receipts: receipts.slice(0, 3).map((r, i) => ({
        validator: `validator-${i}`,
        publicKey: hex(r.validator),
        eraseTx: hex(eraseTx),
        erased_ms: r.erased_ms,
        signature: hex(r.signature),
      })),
    });
    held = receipts.slice(0, 2);
    const two = (await (await asPatient(`/v1/records/${erased}/erasure`)).json()) as { shredded: boolean };
    expect(two.shredded).toBe(false);
    const notErased = (await (await asPatient(`/v1/records/${live}/erasure`)).json()) as Record<
      string,
      unknown
    >;
    expect(notErased).toMatchObject({ erased: false, erased_ms: null, receipts: [], shredded: false });
    const code = async (response: Response) => [
      response.status,
      ((await response.json()) as { error: { code: string } }).error.code,
    ];
    // Another patient is refused; an unknown record gets the same answer, so an id says nothing.
    const notTheirs = await signedFetch(`${url}/v1/records/${erased}/erasure`, other);
    expect(await code(notTheirs)).toEqual([403, 'API_NOT_IN_SCOPE']);
    const unknown = await asPatient(`/v1/records/${recordId('c')}/erasure`);
    expect(await code(unknown)).toEqual([403, 'API_NOT_IN_SCOPE']);
    expect(await code(await fetch(`${url}/v1/records/${erased}/erasure`))).toEqual([401, 'API_UNSIGNED']);
  });

  it('is documented in the OpenAPI document', async () => {
    const doc = (await (await fetch(`${url}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, unknown>>;
      components: { schemas: Record<string, { properties: Record<string, unknown> }> };
    };
    expect(Object.keys(doc.paths['/v1/records/{id}/erasure'] ?? {})).toEqual(['get']);
    expect(Object.keys(doc.components.schemas.Erasure!.properties)).toEqual([
      'record',
      'erased',
      'erased_ms',
      'validators',
      'needed',
      'shredded',
      'receipts',
    ]);
    expect(Object.keys(doc.components.schemas.ErasureReceipt!.properties)).toEqual([
      'validator',
      'publicKey',
      'eraseTx',
      'erased_ms',
      'signature',
    ]);
  });

  it('client: verifies the receipts the real route lists', async () => {
    held = receipts.slice(0, 3);
    const client = new NodeClient(url, { signer: patient });
    const checked = await client.erasure(erased, { chainId: CHAIN, validators: genesis.validators });
    expect(checked.receipts.map((r) => r.validator)).toEqual(['validator-0', 'validator-1', 'validator-2']);
    expect(checked.rejected).toEqual([]);
    expect(checked.shredded).toBe(true);
  });

  /** A node that lies: it answers GET /v1/node and the erasure route with `answers`. */
  async function lyingNode(
    answers: Record<string, unknown>,
  ): Promise<{ url: string; close(): Promise<void> }> {
    const server = createServer((req, res) => {
      const body = answers[req.url ?? ''];
      res.writeHead(body === undefined ? 404 : 200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body ?? { error: { code: 'API_NOT_FOUND', message: 'no' } }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      close: () => new Promise((resolve) => server.close(() => resolve())),
    };
  }

  const json = (r: ErasureReceipt, name = 'whoever') => ({
    validator: name,
    publicKey: hex(r.validator),
    eraseTx: hex(r.eraseTx),
    erased_ms: r.erased_ms,
    signature: hex(r.signature),
  });
  /** What GET /v1/accounts/{key} answers for the patient's key: the client finds its identity id there. */
  const patientAccount = {
    [`/v1/accounts/${hex(patientKeys.signing.publicKey)}`]: {
      nonce: 0,
      identity: { ...identity(patient.id, patientKeys), signingKey: hex(patientKeys.signing.publicKey) },
    },
  };
  const nodeInfo = {
    chainId: CHAIN,
    validators: genesis.validators.map((v) => ({
      name: v.name,
      publicKey: hex(v.publicKey),
      encryptionKey: hex(randomBytes(32)),
    })),
  };

  it("client: drops and reports receipts that do not verify, and recounts rather than trust the node's count", async () => {
    const outsider = signErasureReceipt(
      { chainId: CHAIN, record: erased, eraseTx, erased_ms: 1 },
      generateSigningKeyPair().secretKey,
    );
    const otherRecord = signErasureReceipt(
      { chainId: CHAIN, record: live, eraseTx, erased_ms: 1 },
      keys[3]!.secretKey,
    );
    const node = await lyingNode({
      '/v1/node': nodeInfo,
      [`/v1/records/${erased}/erasure`]: {
        record: erased,
        erased: true,
        erased_ms: 1,
        validators: 4,
        needed: 1,
        shredded: true,
        receipts: [
          json(receipts[0]!),
          json({ ...receipts[1]!, erased_ms: receipts[1]!.erased_ms + 1 }),
          json(receipts[2]!),
          json(receipts[2]!),
          json(outsider),
          json(otherRecord),
          { publicKey: hex(keys[1]!.publicKey), erased_ms: 'soon' },
        ],
      },
    });
    try {
      const checked = await new NodeClient(node.url).erasure(erased);
      expect(checked.receipts.map((r) => r.validator)).toEqual(['validator-0', 'validator-2']);
      expect(checked).toMatchObject({ validators: 4, needed: 3, shredded: false });
      expect(checked.rejected).toEqual([
        {
          validator: 'validator-1',
          publicKey: hex(keys[1]!.publicKey),
          reason: 'the signature does not verify',
        },
        {
          validator: 'validator-2',
          publicKey: hex(keys[2]!.publicKey),
          reason: 'a second receipt from this validator',
        },
        { validator: null, publicKey: hex(outsider.validator), reason: 'not signed by a genesis validator' },
        {
          validator: 'validator-3',
          publicKey: hex(keys[3]!.publicKey),
          reason: 'the signature does not verify',
        },
        { validator: 'validator-1', publicKey: hex(keys[1]!.publicKey), reason: 'malformed' },
      ]);
    } finally {
      await node.close();
    }
  });

  it('`record erasure` prints one line per confirming validator and what the count means', async () => {
    const node = await lyingNode({
      '/v1/node': nodeInfo,
      ...patientAccount,
      [`/v1/records/${erased}/erasure`]: {
        record: erased,
        erased: true,
        erased_ms: Date.UTC(2026, 0, 2),
        validators: 4,
        needed: 3,
        shredded: true,
        receipts: receipts.slice(0, 3).map((r) => json(r)),
      },
      [`/v1/records/${live}/erasure`]: {
        record: live,
        erased: true,
        erased_ms: Date.UTC(2026, 0, 2),
        validators: 4,
        needed: 3,
        shredded: true,
        receipts: [json(receipts[0]!), json({ ...receipts[1]!, erased_ms: 0 })],
      },
    });
    // The patient asks, signing with their keystore.
    const dir = await mkdtemp(join(tmpdir(), 'medledger-erasure-cli-'));
    const keystore = join(dir, 'patient.key');
    await writeKeystore(keystore, patientKeys, 'erasure test', { scrypt: { N: 2 ** 12, r: 8, p: 1 } });
    const passphrase = process.env.MEDLEDGER_PASSPHRASE;
    process.env.MEDLEDGER_PASSPHRASE = 'erasure test';
    const run = async (...args: string[]) => {
      const lines: string[] = [];
      const program = new Command('medledger').exitOverride();
      addRecordCommands(program, (text) => lines.push(text));
      await program.parseAsync([
        'node',
        'medledger',
        'record',
        'erasure',
        ...args,
        '--node',
        node.url,
        '--keystore',
        keystore,
      ]);
      return lines;
    };
    try {
      expect(await run(erased)).toEqual([
        'validator-0  erased 2026-01-02T00:00:00Z',
        'validator-1  erased 2026-01-02T00:00:01Z',
        'validator-2  erased 2026-01-02T00:00:02Z',
        '3 of 4 validators confirmed; with 3 ≥ n−f = 3 at most f = 1 key share can survive, so the key cannot be rebuilt',
      ]);
      // A receipt that does not verify for this record (signed for another one) is dropped and said.
      expect(await run(live)).toEqual([
        `dropped a receipt from validator-0: the signature does not verify`,
        'dropped a receipt from validator-1: the signature does not verify',
        '0 of 4 validators confirmed; 3 more are needed (n−f = 3) before at most f = 1 key share can survive and the key provably cannot be rebuilt',
      ]);
      const [line] = await run(erased, '--json');
      const parsed = JSON.parse(line!);
      expect(parsed).toMatchObject({
        record: erased,
        validators: 4,
        needed: 3,
        shredded: true,
        rejected: [],
      });
      expect(parsed.receipts).toHaveLength(3);
    } finally {
      if (passphrase === undefined) delete process.env.MEDLEDGER_PASSPHRASE;
      else process.env.MEDLEDGER_PASSPHRASE = passphrase;
      await rm(dir, { recursive: true, force: true });
      await node.close();
    }
  });
});
