/**
 * "Who accessed my records": the patient's audit trail, newest first (GET /v1/audit?by=patient,
 * with whether each permitted read was served), break-glass reads flagged with their reason and
 * window; then the queries about the patient that nodes refused (GET /v1/audit/refusals).
 */
import { useState } from 'preact/hooks';
import type { AuditEntryJson, RecordMetaJson } from '../../client/api-types.ts';
import { objectId } from '../../contracts/ids.ts';
import { ErrorNote, Loading, Person, Section } from '../components.tsx';
import { dateTime, ruleText, shortId } from '../format.ts';
import { useLoad } from '../hooks.ts';
import type { Session } from '../session.ts';

const PAGE = 100;
/** Entries that are accesses to records (decided by a rule); the others are consent changes. */
const ACCESSES = new Set(['read', 'append', 'emergency', 'erase']);

const ACTIONS: Record<string, string> = {
  read: 'read',
  append: 'added',
  emergency: 'opened emergency access to your records',
  erase: 'erased',
  grant: 'granted access',
  forbid: 'forbade access',
  revoke: 'revoked a grant or forbid',
  request: 'asked for access',
  approve: 'approved a request',
  refuse: 'denied a request',
};

/** The id of the break-glass window an `emergency` entry opened (contracts/handlers/emergency.ts). */
function windowIdOf(entry: AuditEntryJson): string {
  return objectId(
    'window',
    Uint8Array.from(entry.txHash.match(/../g) ?? [], (pair) => Number.parseInt(pair, 16)),
  );
}

function Entry(props: {
  session: Session;
  entry: AuditEntryJson;
  types: Map<string, string>;
  windows: Map<string, AuditEntryJson>;
}) {
  const { session, entry, types, windows } = props;
  const me = session.identity.id;
  const opened = entry.rule.startsWith('emergency:')
    ? windows.get(entry.rule.slice('emergency:'.length))
    : undefined;
  const served = entry.served;
  return (
    <li
      class={entry.emergency ? 'entry emergency' : 'entry'}
      data-testid="audit-entry"
      data-action={entry.action}
      data-decision={entry.decision}
      data-emergency={String(entry.emergency)}
    >
      <div class="when">{dateTime(entry.timestamp_ms)}</div>
      <div>
        {entry.emergency && <span class="tag warn">Emergency</span>}{' '}
        <span class={entry.decision === 'permit' ? 'tag ok' : 'tag deny'}>
          {entry.decision === 'permit' ? 'permitted' : 'denied'}
        </span>{' '}
        <strong>
          <Person client={session.client} id={entry.actor} me={me} />
        </strong>{' '}
        {ACTIONS[entry.action] ?? entry.action}
        {entry.record !== null && (
          <>
            {' '}
            record <span title={entry.record}>{types.get(entry.record) ?? shortId(entry.record)}</span>
          </>
        )}
        {entry.purpose !== null && <> for {entry.purpose}</>}.
        <div class="muted">
          {ACCESSES.has(entry.action) ? `Decided by: ${ruleText(entry.rule)}` : ruleText(entry.rule)}
          {served &&
            !served.served &&
            ` — not served: ${served.releasedBy.length} of ${served.needed} key shares released`}
        </div>
        {entry.reason && (
          <div data-testid="audit-reason">
            Reason given: <q>{entry.reason}</q>
          </div>
        )}
        {opened && (
          <div class="muted" data-testid="audit-window">
            Within the emergency access opened {dateTime(opened.timestamp_ms)}: <q>{opened.reason}</q>
          </div>
        )}
      </div>
    </li>
  );
}

export function AccessLog({ session, records }: { session: Session; records: RecordMetaJson[] }) {
  const me = session.identity.id;
  const [older, setOlder] = useState<{ entries: AuditEntryJson[]; cursor: string | null } | null>(null);
  const [moreError, setMoreError] = useState<unknown>(undefined);
  const first = useLoad(
    () => session.client.audit({ by: 'patient', id: me, served: true, limit: PAGE }),
    [session],
  );
  const refusals = useLoad(() => session.client.refusals({ by: 'patient', id: me, limit: PAGE }), [session]);
  const entries = [...(first.value?.entries ?? []), ...(older?.entries ?? [])];
  const cursor = older ? older.cursor : (first.value?.cursor ?? null);
  const types = new Map(records.map((record) => [record.id, record.contentType]));
  const windows = new Map(entries.filter((e) => e.action === 'emergency').map((e) => [windowIdOf(e), e]));
  const more = async () => {
    try {
      const page = await session.client.audit({ by: 'patient', id: me, served: true, limit: PAGE, cursor });
      setOlder({ entries: [...(older?.entries ?? []), ...page.entries], cursor: page.cursor });
    } catch (error) {
      setMoreError(error);
    }
  };
  return (
    <>
      <Section title="Who accessed my records" testid="audit">
        <p class="muted">
          Every decision about your records is on the chain, permitted or denied, with the rule that decided
          it.
        </p>
        {first.loading && <Loading what="the access log" />}
        <ErrorNote error={first.error} testid="audit-error" />
        {first.value && entries.length === 0 && <p class="muted">Nobody has accessed your records yet.</p>}
        <ol class="timeline" data-testid="audit-list">
          {entries.map((entry) => (
            <Entry
              key={`${entry.height}-${entry.txIndex}-${entry.seq}`}
              session={session}
              entry={entry}
              types={types}
              windows={windows}
            />
          ))}
        </ol>
        {cursor !== null && (
          <button type="button" class="secondary" onClick={more} data-testid="audit-more">
            Show older entries
          </button>
        )}
        <ErrorNote error={moreError} testid="audit-more-error" />
      </Section>
      <Section title="Refused queries about me" testid="refusals">
        <p class="muted">
          Requests to the nodes for your data that were refused because they were not allowed.
        </p>
        {refusals.loading && <Loading what="refused queries" />}
        <ErrorNote error={refusals.error} testid="refusals-error" />
        {refusals.value && refusals.value.entries.length === 0 && <p class="muted">None.</p>}
        <ol class="timeline" data-testid="refusal-list">
          {refusals.value?.entries.map((refusal) => (
            <li
              class="entry"
              key={`${refusal.time_ms}-${refusal.actor}-${refusal.route}`}
              data-testid="refusal-entry"
            >
              <div class="when">{dateTime(refusal.time_ms)}</div>
              <div>
                <span class="tag deny">refused</span>{' '}
                <strong>
                  <Person client={session.client} id={refusal.actor} me={me} />
                </strong>{' '}
                asked for{' '}
                {refusal.record
                  ? `record ${types.get(refusal.record) ?? shortId(refusal.record)}`
                  : 'your data'}{' '}
                <span class="muted">({refusal.route})</span>
              </div>
            </li>
          ))}
        </ol>
      </Section>
    </>
  );
}
