/**
 * `medledger audit`: the audit trail, newest first, by patient, actor, record or time, paged with
 * the node's cursor. Break-glass entries are flagged so they stand out. Its `export` subcommand is
 * in fhir-export.ts.
 */
import type { Command } from 'commander';
import type { AuditEntryJson } from '../../client/api-types.ts';
import type { AuditParams } from '../../client/index.ts';
import { isoTime, type Out, printJson, printTable } from '../../client/output.ts';
import { parseCount, parseTime } from '../../client/parse.ts';
import { MedledgerError } from '../../errors.ts';
import { type CommonOptions, clientFor, operatorOptions, withExample } from './common.ts';

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
  return withExample(
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
    ),
    'medledger audit --patient 3f1c… --from 30d --all',
  ).action(async (options: AuditOptions) => {
    const params = query(options);
    const client = clientFor(options);
    const entries: AuditEntryJson[] = [];
    let cursor: string | null = options.cursor ?? null;
    do {
      const page = await client.audit({ ...params, cursor, served: true });
      entries.push(...page.entries);
      cursor = page.cursor;
    } while (options.all && cursor !== null);
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
}
