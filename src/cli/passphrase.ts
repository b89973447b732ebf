/**
 * The keystore passphrase of `init` and `start`: MEDLEDGER_PASSPHRASE if set, else asked on the
 * terminal without echo (twice when a new keystore is written). No terminal and no variable is an
 * error, so a script never hangs waiting for input.
 */
import { MedledgerError } from '../errors.ts';

function ask(question: string): Promise<string> {
  const stdin = process.stdin;
  return new Promise((resolve, reject) => {
    let text = '';
    const done = () => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
    };
    const onData = (chunk: string) => {
      for (const char of chunk) {
        if (char === '\r' || char === '\n' || char === '\u0004') {
          done();
          return resolve(text);
        }
        if (char === '\u0003') {
          done();
          return reject(new MedledgerError('PASSPHRASE_CANCELLED', 'cancelled at the passphrase prompt'));
        }
        if (char === '\u007f' || char === '\b') text = [...text].slice(0, -1).join('');
        else text += char;
      }
    };
    process.stderr.write(question);
    stdin.setEncoding('utf8');
    stdin.setRawMode(true);
    stdin.resume();
    stdin.on('data', onData);
  });
}

/** `confirm`: ask twice and insist both agree (a new keystore). */
export async function readPassphrase(what: string, options: { confirm: boolean }): Promise<string> {
  const fromEnv = process.env.MEDLEDGER_PASSPHRASE;
  if (fromEnv !== undefined) return fromEnv;
  if (!process.stdin.isTTY) {
    throw new MedledgerError(
      'KEYSTORE_NO_PASSPHRASE',
      `set MEDLEDGER_PASSPHRASE (or run on a terminal to be asked) for ${what}`,
    );
  }
  const passphrase = await ask(`Passphrase for ${what}: `);
  if (options.confirm && (await ask('Repeat the passphrase: ')) !== passphrase) {
    throw new MedledgerError('PASSPHRASE_MISMATCH', 'the two passphrases differ; nothing was written');
  }
  return passphrase;
}
