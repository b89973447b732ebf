/**
 * Entry point of the `medledger` command: builds the commander program and runs it.
 * Returns the process exit code instead of calling process.exit, so tests can drive it in-process.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { MedledgerError } from '../errors.ts';
import { addChainCommands } from './chain.ts';
import { addDevnetCommand } from './devnet.ts';
import { addSimCommand } from './sim.ts';
import { addStartCommand } from './start.ts';

const packageJson = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

export const VERSION: string = packageJson.version;

export function buildProgram(): Command {
  const program = new Command('medledger')
    .description(
      'A permissioned PBFT blockchain node for sharing encrypted medical records between hospitals.',
    )
    .version(VERSION, '-V, --version', 'print the medledger version')
    .showHelpAfterError()
    .exitOverride();
  const out = (text: string) => process.stdout.write(`${text}\n`);
  addChainCommands(program, out);
  addStartCommand(program);
  addDevnetCommand(program, out);
  addSimCommand(program, out);
  return program;
}

export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  if (argv.length <= 2) {
    program.outputHelp();
    return 0;
  }
  try {
    process.exitCode = 0;
    await program.parseAsync([...argv]);
    return Number(process.exitCode ?? 0);
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    if (error instanceof MedledgerError) {
      process.stderr.write(`medledger: ${error.message} [${error.code}]\n`);
      return 1;
    }
    throw error;
  }
}
