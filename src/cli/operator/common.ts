/**
 * What every operator command shares: the `--node`, `--keystore` and `--json` options, the help
 * example, the client of the chosen node and the signer's unlocked keystore.
 */
import type { Command } from 'commander';
import { DEFAULT_NODE_URL, NodeClient, unlockKeystore } from '../../client/index.ts';
import type { Out } from '../../client/output.ts';
import type { IdentityKeys } from '../../crypto/index.ts';
import { MedledgerError } from '../../errors.ts';

export const NODE_ENV = 'MEDLEDGER_NODE';

export interface CommonOptions {
  node?: string;
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

export function clientFor(options: CommonOptions): NodeClient {
  return new NodeClient(nodeUrl(options));
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
