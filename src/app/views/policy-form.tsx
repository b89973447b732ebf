/**
 * The form of a grant (consent.grant) or a forbid (consent.forbid): who (a practitioner, everyone at
 * an organisation, or a role there), which records (all, some types, or chosen records), which
 * actions, and for a grant the purpose and the expiry.
 */
import { useState } from 'preact/hooks';
import type { RecordMetaJson } from '../../client/api-types.ts';
import { ORGANISATION_ID } from '../../contracts/ids.ts';
import {
  type Action,
  GRANT_PURPOSES,
  type GrantPurpose,
  ROLES,
  type Role,
  type Scope,
  type Subject,
} from '../../contracts/model.ts';
import { submit, useAction } from '../actions.ts';
import { ErrorNote } from '../components.tsx';
import { date } from '../format.ts';
import type { Session } from '../session.ts';

type Who = Subject['kind'];
type Which = Scope['kind'];
const DAY_MS = 24 * 60 * 60 * 1000;

/** yyyy-mm-dd of a time, in local time, as a date input takes it. */
function dayOf(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

interface Fields {
  who: Who;
  practitioner: string;
  organisation: string;
  role: Role;
  which: Which;
  types: string;
  records: string[];
  actions: Action[];
  purpose: GrantPurpose;
  until: string;
}

/** The subject and scope the fields describe, or the sentence saying what is missing. */
function read(fields: Fields): { subject: Subject; scope: Scope } | string {
  let subject: Subject;
  const organisation = fields.organisation.trim();
  if (fields.who === 'practitioner') {
    const id = fields.practitioner.trim().toLowerCase();
    if (!/^[0-9a-f]{32}$/.test(id)) return 'A practitioner id is 32 hexadecimal characters: ask them for it.';
    subject = { kind: 'practitioner', id };
  } else if (!ORGANISATION_ID.test(organisation)) {
    return 'An organisation id is lower-case letters, digits and dashes, e.g. st-mary.';
  } else {
    subject =
      fields.who === 'organisation'
        ? { kind: 'organisation', id: organisation }
        : { kind: 'role', organisation, role: fields.role };
  }
  let scope: Scope = { kind: 'all' };
  if (fields.which === 'types') {
    const types = fields.types
      .split(',')
      .map((type) => type.trim())
      .filter(Boolean);
    if (types.length === 0) return 'Name at least one record type, e.g. Observation.';
    scope = { kind: 'types', types };
  } else if (fields.which === 'records') {
    if (fields.records.length === 0) return 'Choose at least one record.';
    scope = { kind: 'records', records: fields.records };
  }
  if (fields.actions.length === 0) return 'Choose at least one action.';
  return { subject, scope };
}

export function PolicyForm(props: {
  session: Session;
  records: RecordMetaJson[];
  effect: 'grant' | 'forbid';
  onDone: () => void;
}) {
  const { session, records, effect } = props;
  const initial: Fields = {
    who: 'practitioner',
    practitioner: '',
    organisation: '',
    role: 'doctor',
    which: 'all',
    types: '',
    records: [],
    actions: ['read'],
    purpose: 'any',
    until: dayOf(Date.now() + 30 * DAY_MS),
  };
  const [fields, setFields] = useState<Fields>(initial);
  const [problem, setProblem] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const action = useAction(props.onDone);
  const set = (change: Partial<Fields>) => setFields({ ...fields, ...change });
  const id = (name: string) => `${effect}-${name}`;
  const toggle = <T,>(list: T[], item: T, on: boolean) =>
    on ? [...list, item] : list.filter((x) => x !== item);

  const send = async (event: Event) => {
    event.preventDefault();
    setDone(null);
    const parsed = read(fields);
    if (typeof parsed === 'string') return setProblem(parsed);
    setProblem(null);
    const actions = (['read', 'append'] as const).filter((a) => fields.actions.includes(a));
    const expires_ms = new Date(`${fields.until}T23:59:59.999`).getTime();
    if (effect === 'grant' && !(expires_ms > Date.now()))
      return setProblem('The expiry must be a day in the future.');
    const ok = await action.run(() =>
      effect === 'grant'
        ? submit(session, 'consent.grant', { ...parsed, actions, purpose: fields.purpose, expires_ms })
        : submit(session, 'consent.forbid', { ...parsed, actions }),
    );
    if (ok) {
      setFields(initial);
      setDone(effect === 'grant' ? 'Granted.' : 'Forbidden.');
    }
  };

  return (
    <section class="card" data-testid={`${effect}-form`}>
      <h2>{effect === 'grant' ? 'Grant access' : 'Forbid access'}</h2>
      <form onSubmit={send}>
        <fieldset>
          <legend>Who</legend>
          <select
            value={fields.who}
            onChange={(e) => set({ who: e.currentTarget.value as Who })}
            data-testid={id('who')}
          >
            <option value="practitioner">A practitioner</option>
            <option value="organisation">Everyone at an organisation</option>
            <option value="role">A role at an organisation</option>
          </select>
          {fields.who === 'practitioner' ? (
            <input
              placeholder="practitioner id (32 characters)"
              value={fields.practitioner}
              onInput={(e) => set({ practitioner: e.currentTarget.value })}
              data-testid={id('practitioner')}
            />
          ) : (
            <input
              placeholder="organisation id, e.g. st-mary"
              value={fields.organisation}
              onInput={(e) => set({ organisation: e.currentTarget.value })}
              data-testid={id('organisation')}
            />
          )}
          {fields.who === 'role' && (
            <select
              value={fields.role}
              onChange={(e) => set({ role: e.currentTarget.value as Role })}
              data-testid={id('role')}
            >
              {ROLES.map((role) => (
                <option key={role} value={role}>
                  {role}
                </option>
              ))}
            </select>
          )}
        </fieldset>
        <fieldset>
          <legend>Which records</legend>
          <select
            value={fields.which}
            onChange={(e) => set({ which: e.currentTarget.value as Which })}
            data-testid={id('which')}
          >
            <option value="all">All my records</option>
            <option value="types">Records of some types</option>
            <option value="records">Chosen records</option>
          </select>
          {fields.which === 'types' && (
            <input
              placeholder="types, comma-separated: Observation, application/pdf"
              value={fields.types}
              onInput={(e) => set({ types: e.currentTarget.value })}
              data-testid={id('types')}
            />
          )}
          {fields.which === 'records' && (
            <div class="choices" data-testid={id('records')}>
              {records.length === 0 && <span class="muted">You have no records yet.</span>}
              {records.map((record) => (
                <label class="inline" key={record.id}>
                  <input
                    type="checkbox"
                    checked={fields.records.includes(record.id)}
                    onChange={(e) =>
                      set({ records: toggle(fields.records, record.id, e.currentTarget.checked) })
                    }
                    data-testid={id('record-choice')}
                    value={record.id}
                  />
                  {record.contentType}, {date(record.created_ms)}
                </label>
              ))}
            </div>
          )}
        </fieldset>
        <fieldset>
          <legend>Actions</legend>
          {(['read', 'append'] as const).map((a) => (
            <label class="inline" key={a}>
              <input
                type="checkbox"
                checked={fields.actions.includes(a)}
                onChange={(e) => set({ actions: toggle(fields.actions, a, e.currentTarget.checked) })}
                data-testid={id(`action-${a}`)}
              />
              {a === 'read' ? 'read' : 'add records (append)'}
            </label>
          ))}
        </fieldset>
        {effect === 'grant' && (
          <fieldset>
            <legend>Purpose and expiry</legend>
            <select
              value={fields.purpose}
              onChange={(e) => set({ purpose: e.currentTarget.value as GrantPurpose })}
              data-testid={id('purpose')}
            >
              {GRANT_PURPOSES.map((purpose) => (
                <option key={purpose} value={purpose}>
                  {purpose === 'any' ? 'any purpose' : purpose}
                </option>
              ))}
            </select>
            <label class="inline">
              until the end of
              <input
                type="date"
                value={fields.until}
                min={dayOf(Date.now())}
                onInput={(e) => set({ until: e.currentTarget.value })}
                data-testid={id('until')}
              />
            </label>
          </fieldset>
        )}
        <button type="submit" disabled={action.busy} data-testid={id('submit')}>
          {action.busy ? 'Waiting for the network…' : effect === 'grant' ? 'Grant' : 'Forbid'}
        </button>
      </form>
      {problem && (
        <p class="error" role="alert" data-testid={id('problem')}>
          {problem}
        </p>
      )}
      <ErrorNote error={action.error} testid={id('error')} />
      {done && (
        <p class="ok" data-testid={id('done')}>
          {done}
        </p>
      )}
    </section>
  );
}
