/**
 * What every operator command shares: the `--node`, `--ca`, `--fingerprint`, `--keystore`,
 * `--operator-key` and `--json` options, the help example, the client of the chosen node, the
 * signer's unlocked keystore, and clients that sign as that identity or as the node's operator.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import {
  type ClientTls,
  DEFAULT_NODE_URL,
  NodeClient,
  operatorSigner,
  signedClient,
  unlockKeystore,
} from '../../client/index.ts';
import type { Out } from '../../client/output.ts';
import type { IdentityKeys } from '../../crypto/index.ts';
import { MedledgerError } from '../../errors.ts';

export const NODE_ENV = 'MEDLEDGER_NODE';
export const CA_ENV = 'MEDLEDGER_CA';
export const FINGERPRINT_ENV = 'MEDLEDGER_FINGERPRINT';
export const OPERATOR_KEY_ENV = 'MEDLEDGER_OPERATOR_KEY';

export interface CommonOptions {
  node?: string;
  ca?: string;
  fingerprint?: string;
  keystore?: string;
  operatorKey?: string;
  json?: boolean;
}

export interface OperatorIo {
  out: Out;
}

const PASSPHRASE_SOURCE = 'passphrase: $MEDLEDGER_PASSPHRASE, else asked on the terminal';

/**
 * Adds `--node` and `--json`; with `signer`, also `--keystore`: described as that signer's, or for
 * `{ reads }`, as the caller's of a command that reads personal data (`reads`: who may).
 */
export function operatorOptions(command: Command, signer?: string | { reads: string }): Command {
  command.option(
    '--node <url>',
    `the node's API (default: $${NODE_ENV}, else ${DEFAULT_NODE_URL}, the devnet's first validator)`,
  );
  tlsOptions(command);
  if (typeof signer === 'string') {
    command.option('--keystore <file>', `the ${signer}'s keystore (${PASSPHRASE_SOURCE})`);
  } else if (signer !== undefined) {
    command.option(
      '--keystore <file>',
      `your keystore, which signs the request; the node answers only within your scope, which is for ` +
        `${signer.reads} (${PASSPHRASE_SOURCE})`,
    );
  }
  return command.option('--json', 'print one JSON object (for scripts)');
}

/** Appends the example lines to the command's --help. */
export function withExample(command: Command, ...lines: string[]): Command {
  return command.addHelpText('after', `\nExample:\n${lines.map((line) => `  ${line}`).join('\n')}`);
}

export function nodeUrl(options: CommonOptions): string {
  return options.node ?? process.env[NODE_ENV] ?? DEFAULT_NODE_URL;
}

/** Adds `--ca` and `--fingerprint`: how an https:// node's certificate is trusted. */
export function tlsOptions(command: Command): Command {
  return command
    .option(
      '--ca <file>',
      `trust an https:// node whose certificate this PEM file (its own certificate, or its CA) verifies (default: $${CA_ENV})`,
    )
    .option(
      '--fingerprint <sha256>',
      `trust an https:// node only if its certificate has this SHA-256 fingerprint, self-signed or not (default: $${FINGERPRINT_ENV})`,
    );
}

/** The --ca and --fingerprint options (else their MEDLEDGER_* variables), the CA file read. */
export function clientTls(options: Pick<CommonOptions, 'ca' | 'fingerprint'>): ClientTls | undefined {
  const caFile = options.ca ?? (process.env[CA_ENV] || undefined);
  const fingerprint = options.fingerprint ?? (process.env[FINGERPRINT_ENV] || undefined);
  if (caFile === undefined && fingerprint === undefined) return undefined;
  let ca: string | undefined;
  if (caFile !== undefined) {
    try {
      ca = readFileSync(caFile, 'utf8');
    } catch (error) {
      const code = (error as { code?: string }).code ?? (error as Error).message;
      throw new MedledgerError('BAD_ARGUMENT', `--ca: cannot read ${caFile} (${code})`, { cause: error });
    }
    if (!ca.includes('-----BEGIN CERTIFICATE-----')) {
      throw new MedledgerError('BAD_ARGUMENT', `--ca: ${caFile} holds no PEM certificate`);
    }
  }
  return { ...(ca === undefined ? {} : { ca }), ...(fingerprint === undefined ? {} : { fingerprint }) };
}

export function clientFor(options: CommonOptions): NodeClient {
  return new NodeClient(nodeUrl(options), { tls: clientTls(options) });
}

/** The signer's keys, from `--keystore`. */
export async function signerKeys(options: CommonOptions, signer: string): Promise<IdentityKeys> {
  if (options.keystore === undefined) {
    throw new MedledgerError(
      'KEYSTORE_REQUIRED',
      `this command is signed by the ${signer}: pass --keystore FILE`,
    );
  }
  return unlockKeystore(options.keystore);
}

/**
 * The caller's keys, from `--keystore`, for a command that reads personal data: the node answers
 * only a signed caller, and only within their scope (`who` says who that is for the command).
 */
export async function callerKeys(options: CommonOptions, who: string): Promise<IdentityKeys> {
  if (options.keystore === undefined) {
    throw new MedledgerError(
      'KEYSTORE_REQUIRED',
      `this command reads personal data, which the node shows only to a signed caller: pass --keystore FILE, ` +
        `the keystore of ${who}`,
    );
  }
  return unlockKeystore(options.keystore);
}

/** A client of the chosen node that signs every request as the `--keystore` identity. */
export async function callerClient(options: CommonOptions, who: string): Promise<NodeClient> {
  const keys = await callerKeys(options, who);
  return signedClient(clientFor(options), keys);
}

/** Adds `--operator-key`: the node operator's key, for the node-operator routes. */
export function operatorKeyOption(command: Command): Command {
  return command.option(
    '--operator-key <file>',
    `the node's operator key: operator.key in the node's home, which medledger init writes (default: $${OPERATOR_KEY_ENV})`,
  );
}

/** The --operator-key file, else $MEDLEDGER_OPERATOR_KEY's, else undefined. */
export function operatorKeyPath(options: CommonOptions): string | undefined {
  return options.operatorKey ?? (process.env[OPERATOR_KEY_ENV] || undefined);
}

/** What to say when a node-operator command has no operator key; `alternative`: another way. */
export function operatorKeyRequired(alternative = ''): MedledgerError {
  return new MedledgerError(
    'OPERATOR_KEY_REQUIRED',
    "this command is signed by the node's operator: pass --operator-key FILE, the key in the node's home " +
      `(HOME/operator.key, which medledger init writes), or set $${OPERATOR_KEY_ENV}${alternative}`,
  );
}

/** A client of the chosen node that signs the node-operator routes with `--operator-key`. */
export async function operatorClientFor(options: CommonOptions): Promise<NodeClient> {
  const path = operatorKeyPath(options);
  if (path === undefined) throw operatorKeyRequired();
  return clientFor(options).asOperator(await operatorSigner(path));
}

/** Who may ask for each kind of personal data: the node's scopes (src/api/scopes.ts), in words. */
export const READERS = {
  audit:
    "the patient (their trail), anyone (their own actions), an organisation's admin or auditor (its staff's " +
    'entries), or a network admin',
  consent: 'the patient, or a network admin',
  records:
    'the patient, a practitioner the rules permit to read or add to their records, the custodian ' +
    "organisation's admin or auditor, or a network admin",
} as const;
