/** `medledger keys new|show`: identity keystores (Ed25519 signing + X25519 encryption keys). */
import type { Command } from 'commander';
import { createKeystore, describeKeys } from '../../client/index.ts';
import { type Out, printFields, printJson } from '../../client/output.ts';
import { readKeystorePublicKeys } from '../../crypto/index.ts';
import { withExample } from './common.ts';

function print(out: Out, json: boolean | undefined, described: ReturnType<typeof describeKeys>): void {
  if (json) {
    printJson(out, described);
    return;
  }
  printFields(out, {
    id: described.id,
    'signing key': described.signingKey,
    'encryption key': described.encryptionKey,
    keystore: described.keystore,
  });
}

export function addKeysCommands(program: Command, out: Out): void {
  const keys = program.command('keys').description('create and inspect identity keystores');

  withExample(
    keys
      .command('new')
      .description('create a new identity keystore (Ed25519 signing key + X25519 encryption key)')
      .requiredOption('--out <file>', 'where to write the keystore')
      .option('--force', 'replace an existing file')
      .option('--json', 'print one JSON object (for scripts)'),
    'MEDLEDGER_PASSPHRASE=... medledger keys new --out dr-adams.key',
  ).action(async (options: { out: string; force?: boolean; json?: boolean }) => {
    const created = await createKeystore(options.out, options.force ?? false);
    print(
      out,
      options.json,
      describeKeys(options.out, {
        signingKey: created.signing.publicKey,
        encryptionKey: created.encryption.publicKey,
      }),
    );
    created.signing.secretKey.fill(0);
    created.encryption.secretKey.fill(0);
  });

  withExample(
    keys
      .command('show')
      .description("print a keystore's id and public keys (no passphrase needed)")
      .argument('<file>', 'the keystore')
      .option('--json', 'print one JSON object (for scripts)'),
    'medledger keys show dr-adams.key',
  ).action(async (file: string, options: { json?: boolean }) => {
    const keys = await readKeystorePublicKeys(file);
    print(
      out,
      options.json,
      describeKeys(file, { signingKey: keys.signingPublicKey, encryptionKey: keys.encryptionPublicKey }),
    );
  });
}
