/**
 * Sign in with one's own keystore file and its passphrase. Both stay in this tab: the file is read
 * and decrypted here (which takes a second or two: the keystore's key derivation is slow on purpose).
 */
import { useState } from 'preact/hooks';
import { ErrorNote } from '../components.tsx';
import { type Session, signIn } from '../session.ts';

export function SignIn({ onSignedIn }: { onSignedIn: (session: Session) => void }) {
  const [file, setFile] = useState<File | null>(null);
  const [passphrase, setPassphrase] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);

  const submit = async (event: Event) => {
    event.preventDefault();
    if (!file) return;
    setBusy(true);
    setError(undefined);
    try {
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
            onChange={(event) => setFile(event.currentTarget.files?.[0] ?? null)}
            required
          />
        </label>
        <label>
          Passphrase
          <input
            type="password"
            autocomplete="current-password"
            data-testid="passphrase"
            value={passphrase}
            onInput={(event) => setPassphrase(event.currentTarget.value)}
            required
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
