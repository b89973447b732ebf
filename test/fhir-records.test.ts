/**
 * FHIR validation of a record's content on the client, before anything is encrypted: the checks of
 * checkRecordContent without a node (valid resources, each way a file is refused, a document Bundle,
 * non-FHIR content under --no-fhir), then the command line: a refusal is one line, exit 1, and no
 * request reaches the node; and the validator is loaded only by the command that needs it.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bytesEqual } from '../src/bytes.ts';
import { checkRecordContent } from '../src/client/record-content.ts';
import { generateIdentityKeys, writeKeystore } from '../src/crypto/index.ts';
import { MedledgerError } from '../src/errors.ts';

const root = new URL('..', import.meta.url).pathname;
const PASSPHRASE = 'fhir records passphrase';

const observation = {
  resourceType: 'Observation',
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '4548-4', display: 'Hemoglobin A1c' }] },
  valueQuantity: { value: 7.2, unit: '%', system: 'http://unitsofmeasure.org', code: '%' },
};

/**
 * A minimal International Patient Summary: a document Bundle with the identifier, timestamp and
 * leading Composition that R4's bdl-9, bdl-10 and bdl-11 ask of a document, and the patient.
 */
const patientSummary = {
  resourceType: 'Bundle',
  identifier: { system: 'urn:oid:2.16.840.1.113883.2.9.4.3.2', value: 'ips-st-mary-0001' },
  type: 'document',
  timestamp: '2026-03-01T09:30:00Z',
  entry: [
    {
      fullUrl: 'urn:uuid:5b0e7d2a-8f1c-4d7e-9a3b-2c6f1e0d4a01',
      resource: {
        resourceType: 'Composition',
        status: 'final',
        type: {
          coding: [{ system: 'http://loinc.org', code: '60591-5', display: 'Patient summary Document' }],
        },
        subject: { reference: 'urn:uuid:5b0e7d2a-8f1c-4d7e-9a3b-2c6f1e0d4a02' },
        date: '2026-03-01T09:30:00Z',
        author: [{ display: "St Mary's Hospital" }],
        title: 'International Patient Summary',
        section: [
          {
            title: 'Allergies and intolerances',
            code: { coding: [{ system: 'http://loinc.org', code: '48765-2' }] },
            text: {
              status: 'generated',
              div: '<div xmlns="http://www.w3.org/1999/xhtml">No known allergies</div>',
            },
            emptyReason: {
              coding: [
                { system: 'http://terminology.hl7.org/CodeSystem/list-empty-reason', code: 'nilknown' },
              ],
            },
          },
        ],
      },
    },
    {
      fullUrl: 'urn:uuid:5b0e7d2a-8f1c-4d7e-9a3b-2c6f1e0d4a02',
      resource: {
        resourceType: 'Patient',
        name: [{ family: 'Doe', given: ['Jane'] }],
        gender: 'female',
        birthDate: '1980-01-01',
      },
    },
  ],
};

let dir = '';
/** Writes `content` (JSON unless a string or bytes) to a file in the test directory. */
async function file(name: string, content: unknown): Promise<string> {
  const path = join(dir, name);
  const bytes =
    typeof content === 'string' || content instanceof Uint8Array ? content : JSON.stringify(content);
  await writeFile(path, bytes);
  return path;
}

/** Expects `check` to be refused with `code`, its message matching every one of `texts`. */
async function refused(
  check: Promise<unknown>,
  code: string,
  ...texts: (string | RegExp)[]
): Promise<string> {
  const error = await check.then(
    () => expect.fail(`expected a refusal with ${code}`),
    (error: unknown) => error,
  );
  expect(error).toBeInstanceOf(MedledgerError);
  const { code: actual, message } = error as MedledgerError;
  expect(actual, message).toBe(code);
  for (const text of texts) expect(message).toMatch(text);
  expect(message).not.toContain('\n');
  return message;
}

const fhir = { fhir: true };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'medledger-fhir-records-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('checkRecordContent', () => {
  it('accepts a valid Observation: the bytes validated are the bytes to encrypt', async () => {
    const path = await file('observation.json', observation);
    const content = await checkRecordContent(path, 'Observation', fhir);
    expect(content.contentType).toBe('Observation');
    expect(bytesEqual(content.bytes!, await readFile(path))).toBe(true);
    expect(content.size).toBe(content.bytes!.length);
  });

  it('refuses a file that is not JSON, naming the JSON problem', async () => {
    const path = await file('truncated.json', '{"resourceType": "Observation", "status": ');
    await refused(
      checkRecordContent(path, 'Observation', fhir),
      'FHIR_NOT_JSON',
      /truncated\.json is not FHIR JSON: .*JSON/,
    );
    const latin1 = await file('latin1.json', new Uint8Array([0x7b, 0x22, 0xe9, 0x22, 0x7d]));
    await refused(checkRecordContent(latin1, 'Observation', fhir), 'FHIR_NOT_JSON', /not UTF-8/);
  });

  it('refuses JSON that is not a resource: no resourceType, or not an object', async () => {
    const { resourceType: _, ...bare } = observation;
    const path = await file('bare.json', bare);
    await refused(
      checkRecordContent(path, 'Observation', fhir),
      'FHIR_TYPE_MISMATCH',
      /bare\.json has no resourceType/,
    );
    const list = await file('list.json', [observation]);
    await refused(
      checkRecordContent(list, 'Observation', fhir),
      'FHIR_TYPE_MISMATCH',
      /a JSON array, not a FHIR resource/,
    );
  });

  it('refuses a resource of another type than the record’s, naming both', async () => {
    const path = await file('observation.json', observation);
    await refused(
      checkRecordContent(path, 'Patient', fhir),
      'FHIR_TYPE_MISMATCH',
      /an Observation resource/,
      /type is Patient/,
    );
  });

  it('refuses a type that is not an R4 resource type', async () => {
    const path = await file('foobar.json', { ...observation, resourceType: 'Foobar' });
    await refused(
      checkRecordContent(path, 'Foobar', fhir),
      'FHIR_UNKNOWN_TYPE',
      /^Foobar is not an R4 resource type/,
    );
    // A data type is not a resource either.
    await refused(checkRecordContent(path, 'HumanName', fhir), 'FHIR_UNKNOWN_TYPE');
  });

  it('refuses an invalid resource, naming its problems by FHIRPath, the first few and how many', async () => {
    const { status: _, ...noStatus } = observation;
    const path = await file('no-status.json', noStatus);
    const message = await refused(
      checkRecordContent(path, 'Observation', fhir),
      'FHIR_INVALID',
      'no-status.json is not valid FHIR R4 (1 problem): Observation.status: Missing required property',
    );
    expect(message).not.toContain('more');
    const messy = await file('messy.json', { resourceType: 'Observation', a: 1, b: 2, c: 3 });
    await refused(
      checkRecordContent(messy, 'Observation', fhir),
      'FHIR_INVALID',
      /\(\d+ problems\): Observation\.\w+: .*; and \d+ more$/,
    );
  });

  it('accepts a document Bundle (a patient summary) as one record, and checks what it holds', async () => {
    const path = await file('ips.json', patientSummary);
    expect((await checkRecordContent(path, 'Bundle', fhir)).contentType).toBe('Bundle');

    const { identifier: _, ...anonymous } = patientSummary;
    const noIdentifier = await file('ips-no-identifier.json', anonymous);
    await refused(checkRecordContent(noIdentifier, 'Bundle', fhir), 'FHIR_INVALID', /bdl-9/);
    const badEntry = structuredClone(patientSummary);
    (badEntry.entry[1]!.resource as Record<string, unknown>).gender = 42;
    const badPatient = await file('ips-bad-patient.json', badEntry);
    await refused(
      checkRecordContent(badPatient, 'Bundle', fhir),
      'FHIR_INVALID',
      /Bundle\.entry\[1\]\.resource\.gender/,
    );
  });

  it('refuses bundles other than documents: their resources are records of their own', async () => {
    const transaction = await file('transaction.json', {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [{ resource: observation, request: { method: 'POST', url: 'Observation' } }],
    });
    await refused(
      checkRecordContent(transaction, 'Bundle', fhir),
      'FHIR_INVALID',
      /Bundle\.type: a Bundle record is a document .*not a "transaction" bundle/,
    );
  });

  it('types application/fhir+json content as its resourceType', async () => {
    const path = await file('observation.fhir.json', observation);
    expect((await checkRecordContent(path, 'application/fhir+json', fhir)).contentType).toBe('Observation');
    const unknown = await file('unknown.fhir.json', { resourceType: 'Foobar' });
    await refused(checkRecordContent(unknown, 'application/fhir+json', fhir), 'FHIR_UNKNOWN_TYPE');
  });

  it('adds other content under its MIME type unchecked, and refuses --no-fhir with a FHIR type', async () => {
    const pdf = await file('scan.pdf', new Uint8Array([0x25, 0x50, 0x44, 0x46, 0x2d, 0xff, 0x00]));
    for (const options of [{ fhir: false }, fhir]) {
      const content = await checkRecordContent(pdf, 'application/pdf', options);
      expect(content).toMatchObject({ contentType: 'application/pdf', size: 7, bytes: null });
    }
    const path = await file('observation.json', observation);
    for (const type of ['Observation', 'application/fhir+json']) {
      await refused(checkRecordContent(path, type, { fhir: false }), 'FHIR_REQUIRED', /MIME type/);
    }
  });

  it('still refuses a malformed type and a missing file first', async () => {
    const path = await file('observation.json', observation);
    await refused(checkRecordContent(path, 'not a type', fhir), 'BAD_CONTENT_TYPE');
    await refused(checkRecordContent(join(dir, 'absent.json'), 'Observation', fhir), 'FILE_NOT_FOUND');
    await refused(
      checkRecordContent(dir, 'application/pdf', { fhir: false }),
      'FILE_NOT_FOUND',
      /not a file/,
    );
  });
});

describe('medledger record add', () => {
  let node: Server;
  let nodeUrl = '';
  const requests: string[] = [];
  let keystore = '';

  beforeAll(async () => {
    // A node that records every request it gets: a refused record must not reach it at all.
    node = createServer((request, response) => {
      requests.push(`${request.method} ${request.url}`);
      response.writeHead(500).end();
    });
    await new Promise<void>((resolve) => node.listen(0, '127.0.0.1', resolve));
    nodeUrl = `http://127.0.0.1:${(node.address() as AddressInfo).port}`;
    keystore = join(dir, 'doctor.key');
    await writeKeystore(keystore, generateIdentityKeys(), PASSPHRASE, { scrypt: { N: 2 ** 12, r: 8, p: 1 } });
  });
  afterAll(() => new Promise<void>((resolve) => node.close(() => resolve())));

  /** Runs bin/medledger.js in a process of its own, noting the @medplum modules it loads. */
  function medledger(...args: string[]) {
    const loads = join(dir, `medplum-loads-${requests.length}-${Date.now()}.txt`);
    return new Promise<{ code: number; stdout: string; stderr: string; medplum: () => Promise<string> }>(
      (resolve) => {
        execFile(
          process.execPath,
          [
            '--import',
            join(root, 'test/fixtures/medplum-loads.mjs'),
            join(root, 'bin/medledger.js'),
            ...args,
          ],
          { env: { ...process.env, MEDLEDGER_PASSPHRASE: PASSPHRASE, MEDPLUM_LOADS: loads } },
          (error, stdout, stderr) =>
            resolve({
              code: error ? Number((error as { code?: number }).code ?? 1) : 0,
              stdout,
              stderr,
              medplum: () => readFile(loads, 'utf8').catch(() => ''),
            }),
        );
      },
    );
  }

  it('refuses invalid FHIR in one line, exit 1, before anything reaches the node', async () => {
    const { status: _, ...noStatus } = observation;
    const path = await file('cli-no-status.json', noStatus);
    const run = await medledger(
      'record',
      'add',
      path,
      '--patient',
      '0'.repeat(32),
      '--type',
      'Observation',
      '--keystore',
      keystore,
      '--node',
      nodeUrl,
    );
    expect(run.code, run.stderr).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(
      `medledger: ${path} is not valid FHIR R4 (1 problem): Observation.status: Missing required property [FHIR_INVALID]\n`,
    );
    expect(requests).toEqual([]);
    expect(await run.medplum()).toContain('/@medplum/core/');

    const mismatch = await medledger(
      'record',
      'add',
      path,
      '--patient',
      '0'.repeat(32),
      '--type',
      'Observation',
      '--no-fhir',
      '--keystore',
      keystore,
      '--node',
      nodeUrl,
      '--json',
    );
    expect(mismatch.code).toBe(1);
    expect(JSON.parse(mismatch.stdout)).toMatchObject({ error: { code: 'FHIR_REQUIRED' } });
    expect(requests).toEqual([]);
  }, 30_000);

  it('does not load the validator to start, nor for other commands', async () => {
    const version = await medledger('--version');
    expect(version.code, version.stderr).toBe(0);
    expect(await version.medplum()).toBe('');
    const help = await medledger('record', 'add', '--help');
    expect(help.stdout).toMatch(/--no-fhir/);
    expect(await help.medplum()).toBe('');
  }, 30_000);
});
