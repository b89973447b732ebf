/**
 * Where a keystore passphrase comes from: MEDLEDGER_PASSPHRASE, else a prompt that does not echo on
 * an interactive terminal, else KEYSTORE_NO_PASSPHRASE (a script must set the variable).
 */
import { MedledgerError } from '../errors.ts';

export const PASSPHRASE_ENV = 'MEDLEDGER_PASSPHRASE';

/** The passphrase to unlock the keystore at `path`. */
export async function passphraseFor(path: string): Promise<string> {
  const fromEnv = process.env[PASSPHRASE_ENV];
  if (fromEnv !== undefined) return fromEnv;
  requireTerminal(path);
  return promptHidden(`Passphrase for ${path}: `);
}

/** The passphrase for a new keystore at `path`, typed twice on a terminal. */
export async function newPassphraseFor(path: string): Promise<string> {
  const fromEnv = process.env[PASSPHRASE_ENV];
  if (fromEnv !== undefined) return fromEnv;
  requireTerminal(path);
  const first = await promptHidden(`New passphrase for ${path}: `);
  const second = await promptHidden('Repeat the passphrase: ');
  if (first !== second) throw new MedledgerError('KEYSTORE_PASSPHRASE_MISMATCH', 'the passphrases differ');
  return first;
}

function requireTerminal(path: string): void {
  if (!process.stdin.isTTY) {
    throw new MedledgerError(
      'KEYSTORE_NO_PASSPHRASE',
      `no passphrase for ${path}: set ${PASSPHRASE_ENV} or run the command on a terminal`,
    );
  }
}

/** Reads one line from the terminal in raw mode, echoing nothing. Ctrl-C cancels. */
function promptHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  stdin.resume();
  return new Promise((resolve, reject) => {
    let typed: string[] = [];
    const finish = () => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
    };
    const onData = (chunk: string) => {
      for (const char of chunk) {
        if (char === '\r' || char === '\n' || char === '\u0004') {
          finish();
          resolve(typed.join(''));
          return;
        }
        if (char === '\u0003') {
          finish();
          reject(new MedledgerError('KEYSTORE_NO_PASSPHRASE', 'passphrase entry cancelled'));
          return;
        }
        if (char === '\u007f' || char === '\b') typed = typed.slice(0, -1);
        else typed.push(char);
      }
    };
    stdin.on('data', onData);
  });
}
