/**
 * Where a keystore passphrase comes from: MEDLEDGER_PASSPHRASE; else the file MEDLEDGER_PASSPHRASE_FILE
 * names (a container secret, a systemd credential: the passphrase stays out of the environment and
 * the process list); else a prompt that does not echo on an interactive terminal; else
 * KEYSTORE_NO_PASSPHRASE (a script must set one of the two).
 */
import { readFileSync } from 'node:fs';
import { MedledgerError } from '../errors.ts';

export const PASSPHRASE_ENV = 'MEDLEDGER_PASSPHRASE';
export const PASSPHRASE_FILE_ENV = 'MEDLEDGER_PASSPHRASE_FILE';

/** The passphrase from the environment or its file, if either is set. */
function configuredPassphrase(): string | undefined {
  const fromEnv = process.env[PASSPHRASE_ENV];
  const file = process.env[PASSPHRASE_FILE_ENV];
  if (fromEnv !== undefined && file !== undefined) {
    throw new MedledgerError(
      'KEYSTORE_PASSPHRASE_AMBIGUOUS',
      `both ${PASSPHRASE_ENV} and ${PASSPHRASE_FILE_ENV} are set; set one`,
    );
  }
  if (file === undefined) return fromEnv;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new MedledgerError(
      'KEYSTORE_PASSPHRASE_FILE',
      `cannot read the passphrase file ${file} (${PASSPHRASE_FILE_ENV}): ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
  // Files written by editors and `echo` end with a newline that is not part of the passphrase.
  return text.replace(/\r?\n$/, '');
}

/** The passphrase to unlock the keystore at `path`. */
export async function passphraseFor(path: string): Promise<string> {
  const configured = configuredPassphrase();
  if (configured !== undefined) return configured;
  requireTerminal(path);
  return promptHidden(`Passphrase for ${path}: `);
}

/** The passphrase for a new keystore at `path`, typed twice on a terminal. */
export async function newPassphraseFor(path: string): Promise<string> {
  const configured = configuredPassphrase();
  if (configured !== undefined) return configured;
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
      `no passphrase for ${path}: set ${PASSPHRASE_ENV} or ${PASSPHRASE_FILE_ENV}, or run the command on a terminal`,
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
