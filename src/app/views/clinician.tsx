/**
 * The clinician's view (a practitioner with a clinical role): find a patient by the id they give,
 * see the records the rules let one see now (grant, care team, authorship, emergency access), read one
 * from the list or by its id, ask the patient for access, add a record, and in an emergency break the
 * glass. Every read and every refusal is decided and audited on chain.
 */
import { useState } from 'preact/hooks';
import type { IdentityJson } from '../../client/api-types.ts';
import { CLINICAL_ROLES, PURPOSES, type Purpose } from '../../contracts/model.ts';
import { CopyButton, ErrorNote, IdForm, Loading, Section } from '../components.tsx';
import { codeOf } from '../errors.ts';
import { useLoad } from '../hooks.ts';
import type { Session } from '../session.ts';
import { MyActivity } from './clinician-activity.tsx';
import { AddRecord } from './clinician-add.tsx';
import { BreakGlass, EmergencyBanner, type EmergencyWindow, useNow } from './clinician-emergency.tsx';
import { ClinicianRecord } from './clinician-read.tsx';
import { RequestAccess, type SentRequest } from './clinician-request.tsx';
import { RecordTable } from './records.tsx';
import '../clinician.css';

const ID = /^[0-9a-f]{32}$/;
const RECORD_ID = /^rec-[0-9a-f]{32}$/;

/** Whether the identity gets this view: a practitioner holding a clinical role. */
export function isClinician(identity: IdentityJson): boolean {
  return identity.kind === 'practitioner' && identity.roles.some((role) => CLINICAL_ROLES.includes(role));
}

/** An id as pasted: spaces, quotes and case do not matter. */
const cleanId = (text: string): string =>
  text
    .trim()
    .replace(/^["'`]|["'`]$/g, '')
    .trim()
    .toLowerCase();

export function ClinicianView({ session }: { session: Session }) {
  const [typed, setTyped] = useState('');
  const [patient, setPatient] = useState<string | null>(null);
  // Finding a patient, even the same one again, shows their page afresh.
  const [found, setFound] = useState(0);
  const [problem, setProblem] = useState<string | null>(null);
  // What this tab opened or asked, by patient: kept when the clinician looks at another patient.
  const [windows, setWindows] = useState<Record<string, EmergencyWindow>>({});
  const [requests, setRequests] = useState<Record<string, SentRequest>>({});
  const me = session.identity;

  const find = (event: Event) => {
    event.preventDefault();
    const id = cleanId(typed);
    if (!ID.test(id)) {
      setProblem(
        'A patient id is 32 characters, 0–9 and a–f: the patient finds it at the top of their portal.',
      );
      return;
    }
    setProblem(null);
    setTyped(id);
    setPatient(id);
    setFound(found + 1);
  };

  return (
    <>
      <section class="card identity" data-testid="clinician-header">
        <div>
          <div class="muted">
            Signed in as{' '}
            {me.kind === 'practitioner' ? `${me.roles.join(', ')} at ${me.organisation}` : me.kind}
          </div>
          <code class="patient-id" data-testid="clinician-id">
            {me.id}
          </code>
        </div>
        <CopyButton text={me.id} label="Copy my id" testid="copy-clinician-id" />
      </section>
      <Section title="Find a patient" testid="clinician-search">
        <IdForm
          value={typed}
          onInput={setTyped}
          onSubmit={find}
          placeholder="The patient’s id, as they gave it"
          label="Patient id"
          button="Find"
          problem={problem}
          testids={{
            input: 'clinician-patient-id',
            button: 'clinician-find',
            problem: 'clinician-find-problem',
          }}
        />
      </Section>
      {patient && (
        <PatientPage
          key={`${patient}-${found}`}
          session={session}
          patient={patient}
          window={windows[patient] ?? null}
          onWindow={(w) => setWindows({ ...windows, [patient]: w })}
          request={requests[patient] ?? null}
          onRequest={(r) => setRequests({ ...requests, [patient]: r })}
        />
      )}
    </>
  );
}

function PatientPage(props: {
  session: Session;
  patient: string;
  window: EmergencyWindow | null;
  onWindow: (window: EmergencyWindow) => void;
  request: SentRequest | null;
  onRequest: (request: SentRequest) => void;
}) {
  const { session, patient, onWindow, request, onRequest } = props;
  const now = useNow();
  const window = props.window && props.window.until_ms > now ? props.window : null;
  const records = useLoad(() => session.client.patientRecords(patient), [session, patient]);
  // The record being read, and how many reads were asked (asking again for the same id reads again).
  const [reading, setReading] = useState<{ id: string; n: number } | null>(null);
  const read = (id: string) => setReading({ id, n: (reading?.n ?? 0) + 1 });
  const [typedRecord, setTypedRecord] = useState('');
  // Under an open emergency access, reads are for the emergency.
  const [purpose, setPurpose] = useState<Purpose>(window ? 'emergency' : 'treatment');
  const [recordProblem, setRecordProblem] = useState<string | null>(null);
  const noAccess = codeOf(records.error) === 'API_NOT_IN_SCOPE';
  // Bumped after each action, so that the list of what the clinician did shows it.
  const [version, setVersion] = useState(0);
  const acted = () => setVersion((n) => n + 1);

  const readTyped = (event: Event) => {
    event.preventDefault();
    const id = cleanId(typedRecord);
    if (!RECORD_ID.test(id)) {
      setRecordProblem('A record id is rec- followed by 32 characters, 0–9 and a–f.');
      return;
    }
    setRecordProblem(null);
    setTypedRecord(id);
    read(id);
  };
  const opened = (w: EmergencyWindow) => {
    onWindow(w);
    acted();
    setPurpose('emergency');
    records.reload();
  };

  const list = [...(records.value ?? [])].sort((a, b) => b.created_ms - a.created_ms);
  return (
    <>
      {window && <EmergencyBanner window={window} />}
      <section class="card identity" data-testid="clinician-patient">
        <div>
          <div class="muted">Patient</div>
          <code class="patient-id" data-testid="clinician-patient-shown">
            {patient}
          </code>
        </div>
        <CopyButton text={patient} label="Copy id" testid="copy-patient-id" />
      </section>
      <Section title="Read a record by its id" testid="clinician-read-by-id">
        <p class="muted">
          Reading asks the network: it decides by the patient’s rules and records the decision on the chain,
          permitted or denied.
        </p>
        <IdForm
          value={typedRecord}
          onInput={setTypedRecord}
          onSubmit={readTyped}
          placeholder="Record id"
          label="Record id"
          button="Read"
          problem={recordProblem}
          testids={{
            input: 'clinician-record-id',
            button: 'clinician-read',
            problem: 'clinician-record-problem',
          }}
        />
      </Section>
      {reading ? (
        <ClinicianRecord
          key={`${reading.id}-${reading.n}`}
          session={session}
          record={reading.id}
          purpose={purpose}
          onClose={() => {
            setReading(null);
            records.reload();
            acted();
          }}
        />
      ) : (
        <>
          <Section title="Records you may see" testid="clinician-records-card">
            {records.loading && <Loading what="the patient’s records" />}
            {noAccess ? (
              <div class="notice" data-testid="clinician-no-access">
                <p>
                  <strong>You have no access to this patient’s records yet.</strong> No grant, care-team
                  membership, authorship or emergency access lets you see them now. Ask the patient for
                  access:
                </p>
                <RequestAccess
                  session={session}
                  patient={patient}
                  sent={request}
                  onSent={(r) => {
                    onRequest(r);
                    acted();
                  }}
                  onCheck={records.reload}
                />
              </div>
            ) : (
              <ErrorNote error={records.error} testid="clinician-records-error" />
            )}
            {records.value && list.length === 0 && (
              <p class="muted" data-testid="clinician-records-empty">
                The patient has no record you may see.
              </p>
            )}
            {records.value && list.length > 0 && (
              <RecordTable
                session={session}
                records={list}
                onOpen={(record) => read(record.id)}
                testid="clinician-records"
                openTestid="record-open"
                organisation="Kept by"
              />
            )}
            {records.value && <ReadPurpose purpose={purpose} onChange={setPurpose} />}
          </Section>
          {!noAccess && records.value && (
            <section class="card">
              <details>
                <summary>Ask the patient for more access</summary>
                <RequestAccess
                  session={session}
                  patient={patient}
                  sent={request}
                  onSent={(r) => {
                    onRequest(r);
                    acted();
                  }}
                  onCheck={records.reload}
                />
              </details>
            </section>
          )}
          <AddRecord
            session={session}
            patient={patient}
            onAdded={() => {
              records.reload();
              acted();
            }}
          />
          <BreakGlass session={session} patient={patient} open={window} onOpened={opened} />
          <MyActivity session={session} patient={patient} version={version} />
        </>
      )}
    </>
  );
}

function ReadPurpose({ purpose, onChange }: { purpose: Purpose; onChange: (purpose: Purpose) => void }) {
  return (
    <label class="inline">
      Reading for
      <select
        value={purpose}
        onChange={(e) => onChange(e.currentTarget.value as Purpose)}
        data-testid="read-purpose"
      >
        {PURPOSES.map((p) => (
          <option key={p} value={p}>
            {p}
          </option>
        ))}
      </select>
    </label>
  );
}
