/**
 * Whom the patient shares with: their grants and forbids (GET /v1/patients/{id}/policies), each
 * revocable (consent.revoke), and the forms that add one (consent.grant, consent.forbid).
 */
import type { PolicyEntryJson, RecordMetaJson } from '../../client/api-types.ts';
import { submit, useAction } from '../actions.ts';
import { ErrorNote, Loading, Section, SubjectLabel } from '../components.tsx';
import { date, scopeText, shortId } from '../format.ts';
import { useLoad } from '../hooks.ts';
import type { Session } from '../session.ts';
import { PolicyForm } from './policy-form.tsx';

function PolicyRow(props: { session: Session; entry: PolicyEntryJson; onRevoke: () => void; busy: boolean }) {
  const { session, entry, onRevoke, busy } = props;
  const { policy, subject } = entry;
  const expired = policy.expires_ms !== null && policy.expires_ms <= Date.now();
  const grant = policy.effect === 'permit';
  return (
    <tr data-testid="policy-row" data-policy={policy.id} data-effect={policy.effect}>
      <td>
        <span class={grant ? 'tag ok' : 'tag warn'}>{grant ? 'Grant' : 'Forbid'}</span>
      </td>
      <td>
        <SubjectLabel client={session.client} subject={subject} me={session.identity.id} />
      </td>
      <td>{scopeText(policy.scope)}</td>
      <td>{policy.actions.join(', ')}</td>
      <td>{grant ? (policy.purpose === 'any' ? 'any purpose' : policy.purpose) : '—'}</td>
      <td>
        {policy.expires_ms === null
          ? 'until lifted'
          : `${expired ? 'expired' : 'until'} ${date(policy.expires_ms)}`}
      </td>
      <td class="id" title={policy.id}>
        {shortId(policy.id)}
      </td>
      <td>
        {!expired && (
          <button
            type="button"
            class="secondary"
            onClick={onRevoke}
            disabled={busy}
            data-testid="revoke-policy"
          >
            {grant ? 'Revoke' : 'Lift'}
          </button>
        )}
      </td>
    </tr>
  );
}

export function Policies({ session, records }: { session: Session; records: RecordMetaJson[] }) {
  const me = session.identity.id;
  const policies = useLoad(() => session.client.patientPolicies(me), [session]);
  const revoke = useAction(policies.reload);
  const list = [...(policies.value ?? [])].sort((a, b) => b.policy.created_ms - a.policy.created_ms);
  return (
    <>
      <Section title="My grants and forbids" testid="policies">
        <p class="muted">
          A grant lets someone act on your records until it expires; a forbid stops them whatever any grant
          says. Revoking stops every later access; what was already read cannot be recalled.
        </p>
        {policies.loading && <Loading what="your grants and forbids" />}
        <ErrorNote error={policies.error} testid="policies-error" />
        {policies.value && list.length === 0 && <p class="muted">You have no grants or forbids.</p>}
        {list.length > 0 && (
          <table data-testid="policy-list">
            <thead>
              <tr>
                <th />
                <th>Who</th>
                <th>Which records</th>
                <th>Actions</th>
                <th>Purpose</th>
                <th>Expiry</th>
                <th>Id</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {list.map((entry) => (
                <PolicyRow
                  key={entry.policy.id}
                  session={session}
                  entry={entry}
                  busy={revoke.busy}
                  onRevoke={() =>
                    revoke.run(() => submit(session, 'consent.revoke', { policy: entry.policy.id }))
                  }
                />
              ))}
            </tbody>
          </table>
        )}
        <ErrorNote error={revoke.error} testid="revoke-error" />
      </Section>
      <PolicyForm session={session} records={records} effect="grant" onDone={policies.reload} />
      <PolicyForm session={session} records={records} effect="forbid" onDone={policies.reload} />
    </>
  );
}
