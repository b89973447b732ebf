/**
 * What every operator command shares: the `--node`, `--ca`, `--fingerprint`, `--keystore` and
 * `--json` options, the help example, the client of the chosen node and the signer's unlocked keystore.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { type ClientTls, DEFAULT_NODE_URL, NodeClient, unlockKeystore } from '../../client/index.ts';
import type { Out } from '../../client/output.ts';
import type { IdentityKeys } from '../../crypto/index.ts';
import { MedledgerError } from '../../errors.ts';

export const NODE_ENV = 'MEDLEDGER_NODE';
export const CA_ENV = 'MEDLEDGER_CA';
export const FINGERPRINT_ENV = 'MEDLEDGER_FINGERPRINT';

export interface CommonOptions {
  node?: string;
  ca?: string;
  fingerprint?: string;
  keystore?: string;
  json?: boolean;
}

export interface OperatorIo {
  out: Out;
}

/** Adds `--node` and `--json`; with `signer`, also `--keystore` described as that signer's. */
export function operatorOptions(command: Command, signer?: string): Command {
  command.option(
    '--node <url>',
    `the node's API (default: $${NODE_ENV}, else ${DEFAULT_NODE_URL}, the devnet's first validator)`,
  );
  tlsOptions(command);
  if (signer !== undefined) {
    command.option(
      '--keystore <file>',
      `the ${signer}'s keystore (passphrase: $MEDLEDGER_PASSPHRASE, else asked on the terminal)`,
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
