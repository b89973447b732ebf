/**
 * A clinician asks a patient for access (access.request): why (a purpose and a reason the patient
 * reads), which records (all, or some types) and which actions. The patient approves or denies it in
 * their portal or the CLI; until then the request is pending.
 */
import { useState } from 'preact/hooks';
import { createdIdOf } from '../../client/submit.ts';
import { type Action, PURPOSES, type Purpose, type Scope } from '../../contracts/model.ts';
import { submit, useAction } from '../actions.ts';
import { ErrorNote, ReasonField } from '../components.tsx';
import { dateTime, scopeText, shortId } from '../format.ts';
import type { Session } from '../session.ts';

export interface SentRequest {
  id: string;
  scope: Scope;
  actions: Action[];
  purpose: Purpose;
  sent_ms: number;
}

const PURPOSE_WORDS: Record<Purpose, string> = {
  treatment: 'Treatment',
  emergency: 'Emergency',
  payment: 'Payment',
  operations: 'Operations',
  research: 'Research',
  'public-health': 'Public health',
};

export function RequestAccess(props: {
  session: Session;
  patient: string;
  sent: SentRequest | null;
  onSent: (request: SentRequest) => void;
  onCheck: () => void;
}) {
  const { session, patient, sent, onSent, onCheck } = props;
  const [purpose, setPurpose] = useState<Purpose>('treatment');
  const [reason, setReason] = useState('');
  const [which, setWhich] = useState<'all' | 'types'>('all');
  const [types, setTypes] = useState('');
  const [actions, setActions] = useState<Action[]>(['read']);
  const [problem, setProblem] = useState<string | null>(null);
  const action = useAction(() => {});

  const toggle = (name: Action) =>
    setActions(actions.includes(name) ? actions.filter((a) => a !== name) : [...actions, name].sort());

  const send = async (event: Event) => {
    event.preventDefault();
    setProblem(null);
    const why = reason.trim();
    if (!why) return setProblem('Say why you need access: the patient reads it before deciding.');
    let scope: Scope = { kind: 'all' };
    if (which === 'types') {
      const list = [...new Set(types.split(',').map((t) => t.trim()))].filter(Boolean).sort();
      if (list.length === 0) return setProblem('Name at least one record type, e.g. Observation.');
      scope = { kind: 'types', types: list };
    }
    if (actions.length === 0) return setProblem('Choose at least one action.');
    await action.run(async () => {
      const committed = await submit(session, 'access.request', {
        patient,
        scope,
        actions,
        purpose,
        reason: why,
      });
      onSent({ id: createdIdOf('request', committed), scope, actions, purpose, sent_ms: Date.now() });
      setReason('');
    });
  };

  return (
    <div class="request-access" data-testid="request-access">
      {sent && (
        <div class="pending" role="status" data-testid="request-pending" data-request={sent.id}>
          <span class="tag warn">pending</span> Your request {shortId(sent.id)} ({sent.actions.join(' and ')}{' '}
          {scopeText(sent.scope).replace('my records', 'records')} for {sent.purpose}) was sent{' '}
          {dateTime(sent.sent_ms)}. The patient decides; once they approve, their records appear here.{' '}
          <button type="button" class="secondary" onClick={onCheck} data-testid="request-check">
            Check again
          </button>
        </div>
      )}
      <form onSubmit={send}>
        <label>
          Purpose
          <select
            value={purpose}
            onChange={(e) => setPurpose(e.currentTarget.value as Purpose)}
            data-testid="request-purpose"
          >
            {PURPOSES.map((p) => (
              <option key={p} value={p}>
                {PURPOSE_WORDS[p]}
              </option>
            ))}
          </select>
        </label>
        <ReasonField
          label="Reason (the patient reads it)"
          value={reason}
          onInput={setReason}
          testid="request-reason"
        />
        <label>
          Records
          <select
            value={which}
            onChange={(e) => setWhich(e.currentTarget.value as 'all' | 'types')}
            data-testid="request-scope"
          >
            <option value="all">All records</option>
            <option value="types">Records of some types</option>
          </select>
          {which === 'types' && (
            <input
              type="text"
              placeholder="types, comma-separated: Observation, Condition"
              value={types}
              onInput={(e) => setTypes(e.currentTarget.value)}
              data-testid="request-types"
            />
          )}
        </label>
        <fieldset>
          <legend>Actions</legend>
          {(['read', 'append'] as const).map((name) => (
            <label class="inline" key={name}>
              <input
                type="checkbox"
                checked={actions.includes(name)}
                onChange={() => toggle(name)}
                data-testid={`request-action-${name}`}
              />
              {name === 'read' ? 'read' : 'add records'}
            </label>
          ))}
        </fieldset>
        <button type="submit" disabled={action.busy} data-testid="request-submit">
          {action.busy ? 'Waiting for the network…' : 'Request access'}
        </button>
      </form>
      {problem && (
        <p class="error" role="alert" data-testid="request-problem">
          {problem}
        </p>
      )}
      <ErrorNote error={action.error} testid="request-error" />
    </div>
  );
}
