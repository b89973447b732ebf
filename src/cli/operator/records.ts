/**
 * Record commands: `record add` (encrypt, upload, commit), `record get` (audited read, decrypt,
 * write atomically), `record list` (a patient's records), `erase` (the patient crypto-shreds) and
 * `record erasure` (the validators' signed receipts that they deleted an erased record). Each signs
 * as its --keystore identity; the node lists and describes only records in the caller's scope.
 */
import type { Command } from 'commander';
import type { VerifiedErasure } from '../../client/http.ts';
import {
  addRecord,
  checkRecordContent,
  checkWritable,
  readRecord,
  submitAndWait,
} from '../../client/index.ts';
import { isoTime, type Out, printFields, printJson, printTable } from '../../client/output.ts';
import { parsePurpose } from '../../client/parse.ts';
import {
  type CommonOptions,
  callerClient,
  clientFor,
  operatorOptions,
  READERS,
  signerKeys,
  withExample,
} from './common.ts';

interface AddOptions extends CommonOptions {
  patient: string;
  type: string;
  /** False with --no-fhir. */
  fhir: boolean;
  previous?: string;
  purpose: string;
}

interface GetOptions extends CommonOptions {
  out: string;
  purpose: string;
  force?: boolean;
}

export function addRecordCommands(program: Command, out: Out): void {
  const record = program.command('record').description('encrypted medical records');

  withExample(
    operatorOptions(
      record
        .command('add')
        .description(
          "encrypt FILE on this machine, upload the ciphertext to the node, seal its key to the patient and the author's organisation, and commit the record",
        )
        .argument('<file>', 'the plaintext file (e.g. a FHIR R4 JSON resource)')
        .requiredOption('--patient <id>', "the patient's id")
        .requiredOption(
          '--type <type>',
          'a FHIR resourceType (Observation, Bundle for a document such as a patient summary): FILE must ' +
            'be one valid R4 resource of that type, checked before anything is encrypted; ' +
            'application/fhir+json: the same, the record typed as its resourceType; or the MIME type ' +
            'of other content (application/pdf, image/png), which is not checked',
        )
        .option(
          '--no-fhir',
          'FILE is not FHIR (a PDF, an image, DICOM): --type must be its MIME type; refused with a FHIR type',
        )
        .option('--previous <record>', 'the record this one amends (its latest version)')
        .option('--purpose <purpose>', 'why: treatment, emergency, payment, operations, …', 'treatment'),
      'author (a clinician, or the patient adding to their own file)',
    ),
    'medledger record add observation.json --patient 3f1c… --type Observation --keystore dr-adams.key',
    'medledger record add scan.pdf --patient 3f1c… --type application/pdf --no-fhir --keystore dr-adams.key',
    '# the patient themself: the record is marked patient-provided, kept by their registering organisation',
    'medledger record add glucose-diary.pdf --patient 3f1c… --type application/pdf --no-fhir --keystore patient.key',
  ).action(async (file: string, options: AddOptions) => {
    const purpose = parsePurpose(options.purpose);
    // The file is checked before the passphrase is asked for: a refusal costs the clinician nothing.
    const content = await checkRecordContent(file, options.type, { fhir: options.fhir });
    const author = await signerKeys(options, 'author');
    const added = await addRecord(clientFor(options), author, {
      patient: options.patient,
      content,
      previous: options.previous ?? null,
      purpose,
    });
    if (options.json) return printJson(out, added);
    printFields(out, {
      record: `${added.record} (${added.contentType})`,
      cid: added.cid,
      size: `${added.size_bytes} bytes encrypted (${added.plaintext_bytes} bytes plaintext)`,
      custodian: added.custodian,
      transaction: `${added.txHash} at height ${added.height}`,
    });
  });

  withExample(
    operatorOptions(
      record
        .command('get')
        .description(
          'read a record: the read is a transaction the rule engine decides and audits; if permitted, ' +
            'the ciphertext is fetched and decrypted on this machine',
        )
        .argument('<record>', 'the record id (rec-…)')
        .requiredOption('--out <file>', 'where to write the plaintext (written whole or not at all)')
        .option('--purpose <purpose>', 'why: treatment, emergency, payment, operations, …', 'treatment')
        .option('--force', 'replace an existing --out file'),
      'reader',
    ),
    'medledger record get rec-5d2e… --out observation.json --keystore dr-adams.key',
  ).action(async (id: string, options: GetOptions) => {
    const purpose = parsePurpose(options.purpose);
    await checkWritable(options.out, options.force ?? false);
    const reader = await signerKeys(options, 'reader');
    const read = await readRecord(clientFor(options), reader, { record: id, purpose, out: options.out });
    const result = {
      record: read.record.id,
      bytes: read.bytes,
      out: options.out,
      contentType: read.record.contentType,
      emergency: read.emergency,
      sharesFrom: read.sharesFrom,
      falseShares: read.falseShares,
      txHash: read.txHash,
      height: read.height,
    };
    if (options.json) return printJson(out, result);
    printFields(out, {
      record: `${result.record} (${result.contentType}, version ${read.record.version})`,
      written: `${result.bytes} bytes to ${result.out}`,
      emergency: read.emergency ? 'YES: break-glass access, flagged in the audit trail' : 'no',
      key:
        read.sharesFrom.length > 0
          ? `rebuilt from the shares of ${read.sharesFrom.join(', ')}`
          : 'your own envelope (you are the patient)',
      ...(read.falseShares.length > 0
        ? { warning: `false key shares from ${read.falseShares.join(', ')} were refused` }
        : {}),
      transaction: `${result.txHash} at height ${result.height}`,
    });
  });

  withExample(
    operatorOptions(
      record
        .command('list')
        .description("a patient's records, every version, erased ones included")
        .requiredOption('--patient <id>', "the patient's id"),
      { reads: READERS.records },
    ),
    'medledger record list --patient 3f1c… --keystore patient.key',
    '# a practitioner sees only the records the rules let them read (else 403 API_NOT_IN_SCOPE)',
    'medledger record list --patient 3f1c… --keystore dr-adams.key',
  ).action(async (options: CommonOptions & { patient: string }) => {
    const client = await callerClient(options, READERS.records);
    const records = await client.patientRecords(options.patient);
    if (options.json) return printJson(out, { records });
    printTable(
      out,
      ['id', 'version', 'type', 'author', 'custodian', 'size', 'created', 'erased'],
      records.map((r) => [
        r.id,
        r.version,
        r.contentType,
        r.author,
        r.custodian,
        r.size_bytes,
        isoTime(r.created_ms),
        isoTime(r.erased_ms),
      ]),
      'no records',
    );
  });

  withExample(
    operatorOptions(
      record
        .command('erasure')
        .description(
          "the validators' signed receipts that they deleted an erased record's ciphertext and key blob, " +
            'each checked here; with n − f of them at most f key shares survive, so the key cannot be rebuilt',
        )
        .argument('<record>', 'the record id (rec-…)'),
      { reads: READERS.records },
    ),
    'medledger record erasure rec-5d2e… --keystore patient.key',
  ).action(async (id: string, options: CommonOptions) => {
    const client = await callerClient(options, READERS.records);
    const erasure = await client.erasure(id);
    if (options.json) return printJson(out, erasure);
    printErasure(out, erasure);
  });

  withExample(
    operatorOptions(
      program
        .command('erase')
        .description(
          "crypto-shred a record's content: its ciphertext and key envelopes are deleted on every node; " +
            'the metadata stays as a tombstone',
        )
        .argument('<record>', 'the record id (rec-…)'),
      'patient',
    ),
    'medledger erase rec-5d2e… --keystore patient.key',
  ).action(async (id: string, options: CommonOptions) => {
    const patient = await signerKeys(options, 'patient');
    const committed = await submitAndWait(clientFor(options), patient, 'record.erase', { record: id });
    const result = { record: id, erased: true, txHash: committed.txHash, height: committed.height };
    if (options.json) return printJson(out, result);
    printFields(out, { erased: id, transaction: `${result.txHash} at height ${result.height}` });
  });
}

/** One line per validator that confirmed, then what the count means for the record's key. */
export function printErasure(out: Out, erasure: VerifiedErasure): void {
  const { receipts, validators: n, needed } = erasure;
  const f = n - needed;
  if (!erasure.erased) out(`${erasure.record} is not erased on this node's chain`);
  if (receipts.length > 0) {
    printFields(
      out,
      Object.fromEntries(receipts.map((r) => [r.validator, `erased ${isoTime(r.erased_ms)}`])),
    );
  }
  for (const dropped of erasure.rejected) {
    out(`dropped a receipt from ${dropped.validator ?? dropped.publicKey}: ${dropped.reason}`);
  }
  const confirmed = `${receipts.length} of ${n} validators confirmed`;
  const shares = `${f} key share${f === 1 ? '' : 's'}`;
  if (receipts.length >= needed) {
    out(
      `${confirmed}; with ${receipts.length} ≥ n−f = ${needed} at most f = ${shares} can survive, ` +
        'so the key cannot be rebuilt',
    );
  } else {
    const more = needed - receipts.length;
    out(
      `${confirmed}; ${more} more ${more === 1 ? 'is' : 'are'} needed (n−f = ${needed}) before at most ` +
        `f = ${shares} can survive and the key provably cannot be rebuilt`,
    );
  }
}
