/**
 * The portal's frame: signed out, the sign-in form; signed in, the view for the person's kind of
 * identity (patients, for now) under a header with their id and the sign-out button.
 */
import { useState } from 'preact/hooks';
import { type Session, signOut } from './session.ts';
import { PatientView } from './views/patient.tsx';
import { SignIn } from './views/sign-in.tsx';

export function App() {
  const [session, setSession] = useState<Session | null>(null);
  const leave = () => {
    if (session) signOut(session);
    setSession(null);
  };
  return (
    <>
      <header class="top">
        <span class="brand">medledger</span>
        {session && (
          <button type="button" class="secondary" onClick={leave} data-testid="sign-out">
            Sign out
          </button>
        )}
      </header>
      <main>
        {session === null ? (
          <SignIn onSignedIn={setSession} />
        ) : session.identity.kind === 'patient' ? (
          <PatientView session={session} />
        ) : (
          <section class="card" data-testid="unsupported-kind">
            <h2>Signed in</h2>
            <p>
              This portal shows the patient’s view for now. Your identity is a {session.identity.kind}: use
              the medledger command line for your work.
            </p>
          </section>
        )}
      </main>
    </>
  );
}
