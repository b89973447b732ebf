/**
 * `medledger audit`: the audit trail, newest first, by patient, actor, record or time, paged with
 * the node's cursor. Break-glass entries are flagged so they stand out. `audit refusals` lists the
 * queries for personal data the node refused (outside the caller's scope). Both are signed by the
 * caller (--keystore) and show only what the caller's scope covers. Its `export` subcommand is in
 * fhir-export.ts.
 */
import type { Command } from 'commander';
import type { AuditEntryJson, RefusedQueryJson } from '../../client/api-types.ts';
import type { AuditParams, RefusalParams } from '../../client/index.ts';
import { isoTime, type Out, printJson, printTable } from '../../client/output.ts';
import { parseCount, parseTime } from '../../client/parse.ts';
import { MedledgerError } from '../../errors.ts';
import { type CommonOptions, callerClient, operatorOptions, READERS, withExample } from './common.ts';

const MAX_PAGE = 1000;

interface AuditOptions extends CommonOptions {
  patient?: string;
  actor?: string;
  record?: string;
  from?: string;
  to?: string;
  limit: string;
  cursor?: string;
  all?: boolean;
}

function query(options: AuditOptions): Omit<AuditParams, 'cursor'> {
  const chosen = (['patient', 'actor', 'record'] as const).filter((by) => options[by] !== undefined);
  if (chosen.length > 1) {
    throw new MedledgerError('BAD_ARGUMENT', '--patient/--actor/--record: give at most one of them');
  }
  const by = chosen[0] ?? 'time';
  return {
    by,
    id: by === 'time' ? undefined : options[by],
    from_ms: options.from === undefined ? undefined : parseTime(options.from, '--from'),
    to_ms: options.to === undefined ? undefined : parseTime(options.to, '--to'),
    limit: parseCount(options.limit, '--limit', MAX_PAGE),
  };
}

/** For a permitted read: whether enough validators released a key share for it to be decrypted. */
function served(entry: AuditEntryJson): string {
  if (!entry.served) return '';
  const { releasedBy, needed } = entry.served;
  return entry.served.served
    ? `served (${releasedBy.length} shares)`
    : `NOT SERVED: ${releasedBy.length} of ${needed} key shares released`;
}

function row(entry: AuditEntryJson): Array<string | number | null> {
  return [
    isoTime(entry.timestamp_ms),
    entry.emergency ? '!! EMERGENCY' : '',
    entry.action,
    entry.decision,
    served(entry),
    entry.actor,
    entry.patient,
    entry.record,
    entry.purpose,
    entry.rule,
    entry.reason,
  ];
}

/** Adds `audit` and returns it, for its subcommands. */
export function addAuditCommand(program: Command, out: Out): Command {
  const audit = withExample(
    operatorOptions(
      program
        .command('audit')
        .description(
          'the audit trail (every access decision, permitted or denied), newest first; break-glass ' +
            'entries are flagged, and each permitted read says whether the validators released its key ' +
            '(served) or too few did (NOT SERVED: decided, but never readable)',
        )
        .option('--patient <id>', "one patient's entries")
        .option('--actor <id>', "one practitioner's (or anyone's) actions")
        .option('--record <id>', "one record's entries")
        .option('--from <time>', 'from this time on (ISO 8601, epoch ms, or a duration ago like 7d)')
        .option('--to <time>', 'before this time (same forms)')
        .option('--limit <n>', `entries per page (1-${MAX_PAGE})`, '50')
        .option('--cursor <cursor>', 'continue after a previous page (its cursor)')
        .option('--all', 'follow the cursor through every page'),
      { reads: READERS.audit },
    ),
    'medledger audit --patient 3f1c… --from 30d --all --keystore patient.key',
    'medledger audit --actor 9a0b… --keystore st-mary-auditor.key',
  ).action(async (options: AuditOptions) => {
    const params = query(options);
    const client = await callerClient(options, READERS.audit);
    const { entries, cursor } = await pages<AuditEntryJson>(options, (cursor) =>
      client.audit({ ...params, cursor, served: true }),
    );
    if (options.json) return printJson(out, { entries, cursor });
    printTable(
      out,
      [
        'time',
        'flag',
        'action',
        'decision',
        'served',
        'actor',
        'patient',
        'record',
        'purpose',
        'rule',
        'reason',
      ],
      entries.map(row),
      'no audit entries',
    );
    if (cursor !== null) out(`more entries: add --cursor ${cursor} (or --all)`);
  });
  addRefusalsCommand(audit, out);
  return audit;
}

interface RefusalOptions extends CommonOptions {
  patient?: string;
  actor?: string;
  limit: string;
  cursor?: string;
  all?: boolean;
}

function refusalQuery(options: RefusalOptions): Omit<RefusalParams, 'cursor'> {
  if (options.patient !== undefined && options.actor !== undefined) {
    throw new MedledgerError('BAD_ARGUMENT', '--patient/--actor: give at most one of them');
  }
  const limit = parseCount(options.limit, '--limit', MAX_PAGE);
  if (options.patient !== undefined) return { by: 'patient', id: options.patient, limit };
  if (options.actor !== undefined) return { by: 'actor', id: options.actor, limit };
  return { by: 'time', limit };
}

/** One page from `--cursor`, or with `--all` every page after it: the entries and the last cursor. */
async function pages<T>(
  options: { cursor?: string; all?: boolean },
  read: (cursor: string | null) => Promise<{ entries: T[]; cursor: string | null }>,
): Promise<{ entries: T[]; cursor: string | null }> {
  const entries: T[] = [];
  let cursor: string | null = options.cursor ?? null;
  do {
    const page = await read(cursor);
    entries.push(...page.entries);
    cursor = page.cursor;
  } while (options.all && cursor !== null);
  return { entries, cursor };
}

/** `audit refusals`: the queries for personal data this node refused, newest first. */
function addRefusalsCommand(audit: Command, out: Out): void {
  withExample(
    operatorOptions(
      audit
        .command('refusals')
        .description(
          'the queries for personal data this node refused (403 API_NOT_IN_SCOPE: outside the ' +
            "asker's scope), newest first; each node keeps those it refused, so ask each node",
        )
        .option('--patient <id>', "those about one patient's data")
        .option('--actor <id>', 'those one identity made')
        .option('--limit <n>', `refusals per page (1-${MAX_PAGE})`, '50')
        .option('--cursor <cursor>', 'continue after a previous page (its cursor)')
        .option('--all', 'follow the cursor through every page'),
      { reads: READERS.audit },
    ),
    'medledger audit refusals --patient 3f1c… --keystore patient.key --node http://127.0.0.1:26701',
  ).action(async (options: RefusalOptions) => {
    const params = refusalQuery(options);
    const client = await callerClient(options, READERS.audit);
    const { entries, cursor } = await pages<RefusedQueryJson>(options, (cursor) =>
      client.refusals({ ...params, cursor }),
    );
    if (options.json) return printJson(out, { entries, cursor });
    printTable(
      out,
      ['time', 'actor', 'patient', 'record', 'route', 'code'],
      entries.map((entry) => [
        isoTime(entry.time_ms),
        entry.actor,
        entry.patient,
        entry.record,
        entry.route,
        entry.code,
      ]),
      'no refused queries',
    );
    if (cursor !== null) out(`more refusals: add --cursor ${cursor} (or --all)`);
  });
}
