/**
 * Registration commands: `org register` (network admin), `practitioner add` (an organisation's
 * admin) and `patient add` (a registrar, with the patient's co-signature); the lifecycle after it
 * (key rotation, deactivation, roles) is lifecycle.ts's.
 */
import type { Command } from 'commander';
import {
  accountOf,
  eventAttribute,
  hex,
  NodeClient,
  parseHexKey,
  publicKeysFromArgument,
  submitAndWait,
  unlockKeystore,
} from '../../client/index.ts';
import { type Out, printFields, printJson } from '../../client/output.ts';
import { parseOrganisationKind, parseRoles } from '../../client/parse.ts';
import { identityId, ROLES, signPatientRegistration } from '../../contracts/index.ts';
import { MedledgerError } from '../../errors.ts';
import { type CommonOptions, clientFor, operatorOptions, signerKeys, withExample } from './common.ts';
import { addLifecycleCommands } from './lifecycle.ts';

interface OrgOptions extends CommonOptions {
  id: string;
  kind: string;
  admin: string;
  custodianNode?: string;
}

interface PractitionerOptions extends CommonOptions {
  key: string;
  roles: string;
  encryptionKey?: string;
}

interface PatientOptions extends CommonOptions {
  patientKeystore: string;
}

export function addRegistryCommands(program: Command, out: Out): void {
  const org = program.command('org').description('organisations (hospitals, labs, pharmacies, …)');
  withExample(
    operatorOptions(
      org
        .command('register')
        .description(
          "register an organisation and its admin key; its encryption key is its node's X25519 key, " +
            'so that node keeps its records and re-seals their keys for permitted readers',
        )
        .requiredOption('--id <id>', 'the organisation id: 1-64 lowercase letters, digits or dashes')
        .requiredOption('--kind <kind>', 'hospital, diagnostic-lab, pharmacy, insurer or research-institute')
        .requiredOption('--admin <key>', "the admin's Ed25519 key: 64 hex digits or their keystore file")
        .option('--custodian-node <url>', "the organisation's own node, if not --node"),
      'network admin',
    ),
    'medledger org register --id st-mary --kind hospital --admin st-mary-admin.key \\',
    '    --custodian-node http://st-mary.example:26700 --keystore network-admin.key',
  ).action(async (options: OrgOptions) => {
    const kind = parseOrganisationKind(options.kind);
    const admin = await publicKeysFromArgument(options.admin, '--admin');
    const client = clientFor(options);
    const custodian = options.custodianNode ? new NodeClient(options.custodianNode) : client;
    const keys = await signerKeys(options, 'network admin');
    const custodianInfo = await custodian.nodeInfo();
    const encryptionKey = parseHexKey(custodianInfo.encryptionKey, "the custodian node's encryption key");
    const committed = await submitAndWait(client, keys, 'org.register', {
      id: options.id,
      kind,
      adminKey: admin.signingKey,
      encryptionKey,
    });
    const result = {
      organisation: options.id,
      kind,
      admin: identityId(admin.signingKey),
      encryptionKey: hex(encryptionKey),
      custodianNode: custodian.url,
      txHash: committed.txHash,
      height: committed.height,
    };
    if (options.json) return printJson(out, result);
    printFields(out, {
      organisation: `${result.organisation} (${kind})`,
      'admin identity': result.admin,
      'encryption key': `${result.encryptionKey} (node ${custodianInfo.validator.name} at ${custodian.url})`,
      transaction: `${result.txHash} at height ${result.height}`,
    });
  });

  const practitioner = program.command('practitioner').description("an organisation's practitioners");
  withExample(
    operatorOptions(
      practitioner
        .command('add')
        .description("register a practitioner of the signing admin's organisation")
        .requiredOption(
          '--key <key>',
          "the practitioner's keystore file, or their Ed25519 key as 64 hex digits",
        )
        .requiredOption('--roles <roles>', `comma-separated: ${ROLES.join(', ')}`)
        .option('--encryption-key <hex>', "the practitioner's X25519 key (needed when --key is hex)"),
      'organisation admin',
    ),
    'medledger practitioner add --key dr-adams.key --roles doctor --keystore st-mary-admin.key',
  ).action(async (options: PractitionerOptions) => {
    const roles = parseRoles(options.roles);
    const keys = await publicKeysFromArgument(options.key, '--key');
    if (keys.encryptionKey !== null && options.encryptionKey !== undefined) {
      throw new MedledgerError('BAD_ARGUMENT', '--encryption-key: not with a keystore file (it has the key)');
    }
    const encryptionKey =
      keys.encryptionKey ??
      (options.encryptionKey === undefined
        ? missingEncryptionKey()
        : parseHexKey(options.encryptionKey, '--encryption-key'));
    const signer = await signerKeys(options, 'organisation admin');
    const committed = await submitAndWait(clientFor(options), signer, 'practitioner.register', {
      signingKey: keys.signingKey,
      encryptionKey,
      roles,
    });
    const result = {
      practitioner: identityId(keys.signingKey),
      organisation: eventAttribute(committed.receipt, 'practitioner.registered', 'organisation') ?? null,
      roles,
      txHash: committed.txHash,
      height: committed.height,
    };
    if (options.json) return printJson(out, result);
    printFields(out, {
      practitioner: result.practitioner,
      organisation: result.organisation,
      roles: roles.join(', '),
      transaction: `${result.txHash} at height ${result.height}`,
    });
  });

  addLifecycleCommands(program, { org, practitioner }, out);

  const patient = program.command('patient').description('patients');
  withExample(
    operatorOptions(
      patient
        .command('add')
        .description('register a patient, who co-signs the registration with their own keystore')
        .requiredOption('--patient-keystore <file>', "the patient's keystore (same passphrase source)"),
      'registrar',
    ),
    'medledger patient add --patient-keystore patient.key --keystore registrar.key',
  ).action(async (options: PatientOptions) => {
    const client = clientFor(options);
    const registrar = await signerKeys(options, 'registrar');
    const patientKeys = await unlockKeystore(options.patientKeystore);
    const [chainId, account] = await Promise.all([client.chainId(), accountOf(client, registrar)]);
    if (account.identity === null) {
      throw new MedledgerError('NOT_REGISTERED', 'The sender is not registered on this network.');
    }
    const publicKeys = {
      signingKey: patientKeys.signing.publicKey,
      encryptionKey: patientKeys.encryption.publicKey,
    };
    const coSignature = signPatientRegistration(
      chainId,
      account.identity.id,
      publicKeys,
      patientKeys.signing.secretKey,
    );
    patientKeys.signing.secretKey.fill(0);
    patientKeys.encryption.secretKey.fill(0);
    const committed = await submitAndWait(client, registrar, 'patient.register', {
      ...publicKeys,
      coSignature,
    });
    const result = {
      patient: identityId(publicKeys.signingKey),
      registrar: account.identity.id,
      txHash: committed.txHash,
      height: committed.height,
    };
    if (options.json) return printJson(out, result);
    printFields(out, {
      patient: result.patient,
      registrar: result.registrar,
      transaction: `${result.txHash} at height ${result.height}`,
    });
  });
}

function missingEncryptionKey(): never {
  throw new MedledgerError(
    'BAD_ARGUMENT',
    '--encryption-key: required when --key is a hex signing key (or pass the keystore file as --key)',
  );
}
