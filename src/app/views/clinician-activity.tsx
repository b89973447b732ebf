/**
 * What the clinician did about this patient, as the chain recorded it (GET /v1/audit?by=actor, the
 * entries naming this patient): reads permitted and denied with their rule, records added, access
 * requests and emergency accesses. A practitioner sees the audit entries where they are the actor.
 */
import type { AuditEntryJson } from '../../client/api-types.ts';
import { denialText } from '../clinician-words.ts';
import { ErrorNote, Loading, Section } from '../components.tsx';
import { dateTime, shortId } from '../format.ts';
import { useLoad } from '../hooks.ts';
import type { Session } from '../session.ts';

const PAGE = 100;

const DONE: Record<string, string> = {
  read: 'read',
  append: 'added',
  emergency: 'opened emergency access',
  request: 'asked the patient for access',
};
const TRIED: Record<string, string> = {
  read: 'tried to read',
  append: 'tried to add',
  emergency: 'tried to open emergency access',
  request: 'tried to ask the patient for access',
};

function ruleWords(entry: AuditEntryJson): string {
  const { rule } = entry;
  if (entry.decision === 'deny') return denialText(rule);
  if (rule.startsWith('grant:')) return `the patient’s grant ${shortId(rule.slice('grant:'.length))}`;
  if (rule.startsWith('emergency:')) return 'your emergency access';
  if (rule === 'role:care-team') return 'the care team of the hospital that registered the patient';
  if (rule === 'role:author') return 'you wrote the record';
  if (rule === 'role:emergency-staff') return 'your role as emergency staff';
  return rule;
}

export function MyActivity({
  session,
  patient,
  version,
}: {
  session: Session;
  patient: string;
  version: number;
}) {
  const me = session.identity.id;
  const audit = useLoad(
    () => session.client.audit({ by: 'actor', id: me, limit: PAGE }),
    [session, me, version],
  );
  const entries = (audit.value?.entries ?? []).filter((entry) => entry.patient === patient);
  return (
    <Section title="What you did about this patient" testid="clinician-activity">
      <p class="muted">As the chain recorded it; the patient sees the same entries in their access log.</p>
      {audit.loading && !audit.value && <Loading what="your entries" />}
      <ErrorNote error={audit.error} testid="clinician-activity-error" />
      {audit.value && entries.length === 0 && <p class="muted">Nothing yet.</p>}
      <ol class="timeline">
        {entries.map((entry) => (
          <li
            class={entry.emergency ? 'entry emergency' : 'entry'}
            key={`${entry.height}-${entry.txIndex}-${entry.seq}`}
            data-testid="clinician-activity-entry"
            data-action={entry.action}
            data-decision={entry.decision}
          >
            <div class="when">{dateTime(entry.timestamp_ms)}</div>
            <div>
              {entry.emergency && <span class="tag warn">Emergency</span>}{' '}
              {entry.action === 'request' && entry.decision === 'permit' ? (
                <span class="tag">sent</span>
              ) : (
                <span class={entry.decision === 'permit' ? 'tag ok' : 'tag deny'}>
                  {entry.decision === 'permit' ? 'permitted' : 'denied'}
                </span>
              )}{' '}
              You {(entry.decision === 'permit' ? DONE : TRIED)[entry.action] ?? entry.action}
              {entry.record !== null && (
                <>
                  {' '}
                  record <span title={entry.record}>{shortId(entry.record)}</span>
                </>
              )}
              {entry.purpose !== null && entry.action !== 'emergency' && <> for {entry.purpose}</>}.
              {(entry.action !== 'request' || entry.decision === 'deny') && (
                <div class="muted">
                  {entry.decision === 'permit' ? 'Decided by' : 'Denied'}: {ruleWords(entry)}
                </div>
              )}
              {entry.reason && (
                <div>
                  Reason given: <q>{entry.reason}</q>
                </div>
              )}
            </div>
          </li>
        ))}
      </ol>
    </Section>
  );
}
