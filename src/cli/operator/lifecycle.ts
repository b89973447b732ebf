/**
 * The people's lifecycle after registration: `identity rotate-keys` (anyone, for themself; the new
 * key proves possession), `identity deactivate|activate` (a network admin for anyone, an
 * organisation's admin for its practitioners), `org deactivate|activate` (a network admin) and
 * `practitioner set-roles` (the practitioner's organisation admin). Each is one transaction the rule
 * engine checks; a refusal prints its code.
 */
import type { Command } from 'commander';
import { accountOf, eventAttribute, hex, submitAndWait, unlockKeystore } from '../../client/index.ts';
import { type Out, printFields, printJson } from '../../client/output.ts';
import { parseRoles } from '../../client/parse.ts';
import { ROLES, signKeyRotation } from '../../contracts/index.ts';
import { MedledgerError } from '../../errors.ts';
import { type CommonOptions, clientFor, operatorOptions, signerKeys, withExample } from './common.ts';

interface RotateOptions extends CommonOptions {
  newKeystore: string;
}

/** `identity rotate-keys|deactivate|activate`; `org` and `practitioner` get theirs from the caller. */
export function addLifecycleCommands(
  program: Command,
  groups: { org: Command; practitioner: Command },
  out: Out,
): void {
  const identity = program
    .command('identity')
    .description('registered identities: key rotation, deactivation and reactivation');

  withExample(
    operatorOptions(
      identity
        .command('rotate-keys')
        .description(
          "replace the signing and encryption keys of the --keystore's identity by those of --new-keystore; " +
            'the id stays, the old key stops working at once, and the new key signs the rotation to prove ' +
            'it is held. A patient keeps the old keystore: the records added before the rotation seal ' +
            'their key to the old encryption key',
        )
        .requiredOption('--new-keystore <file>', 'the keystore with the new keys (same passphrase source)'),
      'rotating identity',
    ),
    'medledger keys new --out dr-adams-2026.key',
    'medledger identity rotate-keys --keystore dr-adams.key --new-keystore dr-adams-2026.key',
  ).action(async (options: RotateOptions) => {
    const client = clientFor(options);
    const current = await signerKeys(options, 'rotating identity');
    const next = await unlockKeystore(options.newKeystore);
    try {
      const [chainId, account] = await Promise.all([client.chainId(), accountOf(client, current)]);
      if (account.identity === null) {
        throw new MedledgerError('NOT_REGISTERED', 'The sender is not registered on this network.');
      }
      const keys = { signingKey: next.signing.publicKey, encryptionKey: next.encryption.publicKey };
      const proof = signKeyRotation(chainId, account.identity.id, keys, next.signing.secretKey);
      const committed = await submitAndWait(client, current, 'identity.rotate-keys', { ...keys, proof });
      const result = {
        identity: account.identity.id,
        kind: account.identity.kind,
        signingKey: hex(keys.signingKey),
        encryptionKey: hex(keys.encryptionKey),
        previousSigningKey: hex(current.signing.publicKey),
        keystore: options.newKeystore,
        txHash: committed.txHash,
        height: committed.height,
      };
      if (options.json) return printJson(out, result);
      printFields(out, {
        identity: `${result.identity} (${result.kind})`,
        'signing key': `${result.signingKey} (was ${result.previousSigningKey})`,
        'encryption key': result.encryptionKey,
        'sign with': `${result.keystore} from now on; the old keystore no longer signs`,
        transaction: `${result.txHash} at height ${result.height}`,
      });
    } finally {
      for (const keys of [current, next]) {
        keys.signing.secretKey.fill(0);
        keys.encryption.secretKey.fill(0);
      }
    }
  });

  for (const active of [false, true]) {
    const verb = active ? 'activate' : 'deactivate';
    withExample(
      operatorOptions(
        identity
          .command(verb)
          .description(
            active
              ? 'reactivate a deactivated identity'
              : 'deactivate an identity: it can sign nothing more and is denied every access (audited) ' +
                  'until reactivated. A network admin deactivates anyone; an organisation admin, its practitioners',
          )
          .argument('<id>', 'the identity id (32 hex digits)'),
        'admin',
      ),
      `medledger identity ${verb} 3f1c… --keystore st-mary-admin.key`,
    ).action(async (id: string, options: CommonOptions) => {
      const signer = await signerKeys(options, 'admin');
      const committed = await submitAndWait(clientFor(options), signer, 'identity.set-active', {
        id,
        active,
      });
      const result = { identity: id, active, txHash: committed.txHash, height: committed.height };
      if (options.json) return printJson(out, result);
      printFields(out, {
        identity: `${id} ${active ? 'active' : 'deactivated'}`,
        transaction: `${result.txHash} at height ${result.height}`,
      });
    });

    withExample(
      operatorOptions(
        groups.org
          .command(verb)
          .description(
            active
              ? 'reactivate a deactivated organisation: its staff can act again'
              : 'deactivate an organisation: none of its staff (nor its admin) can sign anything more, and ' +
                  'their reads are denied (audited), until it is reactivated',
          )
          .argument('<id>', 'the organisation id'),
        'network admin',
      ),
      `medledger org ${verb} city-lab --keystore network-admin.key`,
    ).action(async (id: string, options: CommonOptions) => {
      const signer = await signerKeys(options, 'network admin');
      const committed = await submitAndWait(clientFor(options), signer, 'org.set-active', { id, active });
      const result = { organisation: id, active, txHash: committed.txHash, height: committed.height };
      if (options.json) return printJson(out, result);
      printFields(out, {
        organisation: `${id} ${active ? 'active' : 'deactivated'}`,
        transaction: `${result.txHash} at height ${result.height}`,
      });
    });
  }

  withExample(
    operatorOptions(
      groups.practitioner
        .command('set-roles')
        .description(
          "replace a practitioner's roles (the rule table in the README says what each allows); " +
            'takes effect from the next transaction on, open emergency windows included',
        )
        .argument('<id>', "the practitioner's identity id (32 hex digits)")
        .requiredOption('--roles <roles>', `comma-separated: ${ROLES.join(', ')}`),
      "practitioner's organisation admin",
    ),
    'medledger practitioner set-roles 9a0b… --roles doctor,emergency-staff --keystore st-mary-admin.key',
  ).action(async (id: string, options: CommonOptions & { roles: string }) => {
    const roles = parseRoles(options.roles);
    const signer = await signerKeys(options, 'organisation admin');
    const committed = await submitAndWait(clientFor(options), signer, 'practitioner.set-roles', {
      practitioner: id,
      roles,
    });
    const set = eventAttribute(committed.receipt, 'practitioner.roles-set', 'roles');
    const result = {
      practitioner: id,
      organisation: eventAttribute(committed.receipt, 'practitioner.roles-set', 'organisation') ?? null,
      // As stored: unique, in the rule engine's order.
      roles: set === undefined ? roles : set.split(','),
      txHash: committed.txHash,
      height: committed.height,
    };
    if (options.json) return printJson(out, result);
    printFields(out, {
      practitioner: result.practitioner,
      organisation: result.organisation,
      roles: result.roles.join(', '),
      transaction: `${result.txHash} at height ${result.height}`,
    });
  });
}
