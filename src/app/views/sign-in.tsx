/**
 * Sign in with one's own keystore file and its passphrase. Both stay in this tab: the file is read
 * and decrypted here (which takes a second or two: the keystore's key derivation is slow on purpose).
 */
import { useState } from 'preact/hooks';
import { ErrorNote } from '../components.tsx';
import { looksLikeOperatorKey, type OperatorSession, signInAsOperator } from '../operator-session.ts';
import { type Session, signIn } from '../session.ts';

export function SignIn({
  onSignedIn,
  onOperator,
}: {
  onSignedIn: (session: Session) => void;
  /** A node's operator.key instead of a keystore: no passphrase, the operator's view. */
  onOperator?: (session: OperatorSession) => void;
}) {
  const [file, setFile] = useState<File | null>(null);
  const [operatorKey, setOperatorKey] = useState<string | null>(null);
  const [passphrase, setPassphrase] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);

  const submit = async (event: Event) => {
    event.preventDefault();
    if (!file) return;
    setBusy(true);
    setError(undefined);
    try {
      if (operatorKey !== null && onOperator) {
        onOperator(await signInAsOperator(operatorKey));
        return;
      }
      const session = await signIn(file, passphrase);
      setPassphrase('');
      onSignedIn(session);
    } catch (caught) {
      setError(caught);
      setBusy(false);
    }
  };

  return (
    <section class="card narrow" data-testid="sign-in">
      <h1>Sign in</h1>
      <p class="muted">
        Open your keystore file and type its passphrase. Your keys stay in this browser tab: they are never
        sent, nor stored, and signing out forgets them.
      </p>
      <form onSubmit={submit}>
        <label>
          Keystore file
          <input
            type="file"
            data-testid="keystore-file"
            onChange={(event) => {
              const chosen = event.currentTarget.files?.[0] ?? null;
              setFile(chosen);
              setOperatorKey(null);
              if (onOperator && chosen && chosen.size < 256) {
                void chosen.text().then((text) => looksLikeOperatorKey(text) && setOperatorKey(text));
              }
            }}
            required
          />
        </label>
        {operatorKey !== null && (
          <p class="muted" data-testid="operator-key-note">
            This is a node’s operator key: it signs in to the node’s dashboard, with no passphrase.
          </p>
        )}
        <label hidden={operatorKey !== null}>
          Passphrase
          <input
            type="password"
            autocomplete="current-password"
            data-testid="passphrase"
            value={passphrase}
            onInput={(event) => setPassphrase(event.currentTarget.value)}
            required={operatorKey === null}
          />
        </label>
        <button type="submit" disabled={busy || !file} data-testid="sign-in-submit">
          {busy ? 'Opening your keystore…' : 'Sign in'}
        </button>
      </form>
      <ErrorNote error={error} testid="sign-in-error" />
    </section>
  );
}
