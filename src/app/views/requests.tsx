/**
 * Access requests made of the patient (GET /v1/patients/{id}/requests): pending ones to approve
 * (access.approve, which becomes a grant until the chosen day) or deny (access.deny), then the
 * decided ones.
 */
import { useState } from 'preact/hooks';
import type { AccessRequestJson } from '../../client/api-types.ts';
import { submit, useAction } from '../actions.ts';
import { ErrorNote, Loading, Person, Section } from '../components.tsx';
import { date, dateTime, scopeText } from '../format.ts';
import { useLoad } from '../hooks.ts';
import type { Session } from '../session.ts';

const DAYS = [1, 7, 30, 90, 365];

function Pending({
  session,
  request,
  onDone,
}: {
  session: Session;
  request: AccessRequestJson;
  onDone: () => void;
}) {
  const [days, setDays] = useState(30);
  const action = useAction(onDone);
  const approve = () =>
    action.run(() =>
      submit(session, 'access.approve', {
        request: request.id,
        expires_ms: Date.now() + days * 24 * 60 * 60 * 1000,
      }),
    );
  const deny = () => action.run(() => submit(session, 'access.deny', { request: request.id }));
  return (
    <li class="request" data-testid="request-pending" data-request={request.id}>
      <p>
        <strong>
          <Person client={session.client} id={request.requester} me={session.identity.id} />
        </strong>{' '}
        asks to {request.actions.join(' and ')} {scopeText(request.scope)} for {request.purpose}, on{' '}
        {dateTime(request.created_ms)}.
      </p>
      <blockquote data-testid="request-reason">{request.reason}</blockquote>
      <div class="row">
        <label class="inline">
          Allow for
          <select
            value={days}
            onChange={(e) => setDays(Number(e.currentTarget.value))}
            data-testid="approve-days"
          >
            {DAYS.map((n) => (
              <option key={n} value={n}>
                {n === 1 ? '1 day' : `${n} days`}
              </option>
            ))}
          </select>
        </label>
        <button type="button" onClick={approve} disabled={action.busy} data-testid="approve-request">
          Approve
        </button>
        <button
          type="button"
          class="secondary"
          onClick={deny}
          disabled={action.busy}
          data-testid="deny-request"
        >
          Deny
        </button>
      </div>
      <ErrorNote error={action.error} testid="request-error" />
    </li>
  );
}

export function Requests({ session }: { session: Session }) {
  const requests = useLoad(() => session.client.patientRequests(session.identity.id), [session]);
  const list = [...(requests.value ?? [])].sort((a, b) => b.created_ms - a.created_ms);
  const pending = list.filter((r) => r.status === 'pending');
  const decided = list.filter((r) => r.status !== 'pending');
  return (
    <Section title="Requests for access" testid="requests">
      {requests.loading && <Loading what="requests" />}
      <ErrorNote error={requests.error} testid="requests-error" />
      {requests.value && pending.length === 0 && <p class="muted">No request is waiting for you.</p>}
      <ul class="plain" data-testid="request-list">
        {pending.map((request) => (
          <Pending key={request.id} session={session} request={request} onDone={requests.reload} />
        ))}
      </ul>
      {decided.length > 0 && (
        <>
          <h3>Decided</h3>
          <ul class="plain" data-testid="request-decided-list">
            {decided.map((request) => (
              <li key={request.id} data-testid="request-decided" data-request={request.id}>
                <span class={request.status === 'approved' ? 'tag ok' : 'tag warn'}>{request.status}</span>{' '}
                <Person client={session.client} id={request.requester} me={session.identity.id} />,{' '}
                {scopeText(request.scope)} for {request.purpose}
                {request.decided_ms !== null && `, ${date(request.decided_ms)}`}
              </li>
            ))}
          </ul>
        </>
      )}
    </Section>
  );
}
