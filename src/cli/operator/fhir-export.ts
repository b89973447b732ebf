/**
 * FHIR exports: `medledger audit export --fhir` writes the audit trail as AuditEvents and
 * `medledger consent export --fhir` a patient's grants and forbids as Consents, as NDJSON (one
 * resource a line) on stdout or into a file (written whole or not at all). They follow the node's
 * cursor to the end of the trail; the mapping is src/fhir/audit-event.ts and src/fhir/consent.ts.
 * Both are signed by the caller (--keystore): the node exports only what the caller's scope covers.
 */
import type { Command } from 'commander';
import type { NdjsonPage } from '../../client/http.ts';
import { checkWritable, writeFileAtomically } from '../../client/index.ts';
import { type Out, printFields, printJson } from '../../client/output.ts';
import { parseTime } from '../../client/parse.ts';
import { MedledgerError } from '../../errors.ts';
import { type CommonOptions, callerClient, operatorOptions, READERS, withExample } from './common.ts';

interface ExportOptions extends CommonOptions {
  fhir?: boolean;
  out?: string;
  force?: boolean;
}

interface AuditExportOptions extends ExportOptions {
  patient?: string;
  actor?: string;
  org?: string;
  since?: string;
}

/** Adds `--fhir`, `--out` and `--force` to an export command. */
function exportOptions(command: Command): Command {
  return command
    .option('--fhir', 'as FHIR R4 NDJSON (the one format there is; required, so others can come)')
    .option('--out <file>', 'write to this file (whole or not at all) instead of stdout')
    .option('--force', 'replace an existing --out file');
}

function requireFhir(options: ExportOptions): void {
  if (!options.fhir) {
    throw new MedledgerError('BAD_ARGUMENT', 'give the format: --fhir (FHIR R4 NDJSON, the only one so far)');
  }
}

/** Refuses an --out file that exists (without --force) before the passphrase is asked for. */
async function checkOut(options: ExportOptions): Promise<void> {
  if (options.out !== undefined) await checkWritable(options.out, options.force ?? false);
}

/** Every page of an export, following the node's cursor. */
async function* pagesOf(fetch: (cursor: string | null) => Promise<NdjsonPage>): AsyncGenerator<NdjsonPage> {
  let cursor: string | null = null;
  do {
    const page: NdjsonPage = await fetch(cursor);
    yield page;
    cursor = page.cursor;
  } while (cursor !== null);
}

const linesOf = (ndjson: string) => ndjson.split('\n').filter((line) => line !== '');

/** Writes the export to stdout, or to `--out` with a one-line summary of what it wrote. */
async function writeExport(
  out: Out,
  options: ExportOptions,
  what: string,
  fetch: (cursor: string | null) => Promise<NdjsonPage>,
): Promise<void> {
  if (options.out === undefined) {
    for await (const page of pagesOf(fetch)) for (const line of linesOf(page.ndjson)) out(line);
    return;
  }
  await checkWritable(options.out, options.force ?? false);
  let resources = 0;
  const bytes = await writeFileAtomically(
    options.out,
    (async function* () {
      for await (const page of pagesOf(fetch)) {
        resources += linesOf(page.ndjson).length;
        yield Buffer.from(page.ndjson, 'utf8');
      }
    })(),
  );
  const summary = { out: options.out, resourceType: what, resources, bytes };
  if (options.json) return printJson(out, summary);
  printFields(out, { wrote: `${resources} ${what} resources to ${options.out}`, bytes });
}

function auditFilter(options: AuditExportOptions): { patient?: string; actor?: string; org?: string } {
  const chosen = (['patient', 'actor', 'org'] as const).filter((name) => options[name] !== undefined);
  if (chosen.length > 1) {
    throw new MedledgerError('BAD_ARGUMENT', '--patient/--actor/--org: give at most one of them');
  }
  const name = chosen[0];
  return name === undefined ? {} : { [name]: options[name] };
}

/** `audit export` under `audit`, and `consent export` under a new `consent` command. */
export function addFhirExportCommands(program: Command, audit: Command, out: Out): void {
  // `audit` has options of its own (--patient, …) and an action: commander would give
  // `audit export --patient P`'s --patient to `audit`, and `export` would never see it. With
  // positional options, each command takes only the options before its subcommand's name; that
  // needs the program's too, whose own options (--version, --help) now go before any command.
  program.enablePositionalOptions();
  audit.enablePositionalOptions();
  withExample(
    operatorOptions(
      exportOptions(
        audit
          .command('export')
          .description(
            'export the audit trail as FHIR AuditEvents (IHE BALP patterns), NDJSON, newest first; ' +
              'each event names the block height and transaction that recorded it',
          )
          .option('--patient <id>', "one patient's entries")
          .option('--actor <id>', "one practitioner's (or anyone's) actions")
          .option('--org <id>', "the actions of an organisation's members")
          .option('--since <time>', 'from this time on (ISO 8601, epoch ms, or a duration ago like 7d)'),
      ),
      { reads: READERS.audit },
    ),
    'medledger audit export --fhir --patient 3f1c… --since 30d --out audit.ndjson --keystore patient.key',
    'medledger audit export --fhir --org st-mary --keystore st-mary-admin.key > st-mary-audit.ndjson',
  ).action(async (options: AuditExportOptions) => {
    requireFhir(options);
    const filter = auditFilter(options);
    const since_ms = options.since === undefined ? undefined : parseTime(options.since, '--since');
    await checkOut(options);
    const client = await callerClient(options, READERS.audit);
    await writeExport(out, options, 'AuditEvent', (cursor) =>
      client.fhirAuditEvents({ ...filter, since_ms, cursor }),
    );
  });

  const consent = program
    .command('consent')
    .description("a patient's consent as data (grant, forbid and revoke change it)");
  withExample(
    operatorOptions(
      exportOptions(
        consent
          .command('export')
          .description(
            "export a patient's grants and forbids as FHIR Consents, NDJSON; revoked and expired ones " +
              'are included as inactive',
          )
          .requiredOption('--patient <id>', "the patient's id"),
      ),
      { reads: READERS.consent },
    ),
    'medledger consent export --fhir --patient 3f1c… --out consents.ndjson --keystore patient.key',
  ).action(async (options: ExportOptions & { patient: string }) => {
    requireFhir(options);
    await checkOut(options);
    const client = await callerClient(options, READERS.consent);
    await writeExport(out, options, 'Consent', (cursor) => client.fhirConsents(options.patient, { cursor }));
  });
}
