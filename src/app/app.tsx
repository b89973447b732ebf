/**
 * The portal's frame: signed out, the sign-in form; signed in, the view for who signed in (a
 * patient, a clinician, or the node's operator with operator.key) under a header with their id and
 * the sign-out button.
 */
import { useState } from 'preact/hooks';
import { type OperatorSession, signOutOperator } from './operator-session.ts';
import { type Session, signOut } from './session.ts';
import { ClinicianView, isClinician } from './views/clinician.tsx';
import { OperatorView } from './views/operator.tsx';
import { PatientView } from './views/patient.tsx';
import { SignIn } from './views/sign-in.tsx';

export function App() {
  const [session, setSession] = useState<Session | null>(null);
  const [operator, setOperator] = useState<OperatorSession | null>(null);
  const leave = () => {
    if (session) signOut(session);
    if (operator) signOutOperator(operator);
    setSession(null);
    setOperator(null);
  };
  return (
    <>
      <header class="top">
        <span class="brand">medledger</span>
        {(session || operator) && (
          <button type="button" class="secondary" onClick={leave} data-testid="sign-out">
            Sign out
          </button>
        )}
      </header>
      <main>
        {operator !== null ? (
          <OperatorView session={operator} />
        ) : session === null ? (
          <SignIn onSignedIn={setSession} onOperator={setOperator} />
        ) : session.identity.kind === 'patient' ? (
          <PatientView session={session} />
        ) : isClinician(session.identity) ? (
          <ClinicianView session={session} />
        ) : (
          <section class="card" data-testid="unsupported-kind">
            <h2>Signed in</h2>
            <p>
              This portal has views for patients, clinicians and the node's operator. Your identity is a{' '}
              {session.identity.kind}: use the medledger command line for your work.
            </p>
          </section>
        )}
      </main>
    </>
  );
}
