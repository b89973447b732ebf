/**
 * Entry point of the `medledger` command: builds the commander program and runs it.
 * Returns the process exit code instead of calling process.exit, so tests can drive it in-process.
 */
import { Command, CommanderError } from 'commander';
import { MedledgerError } from '../errors.ts';
import { VERSION } from '../version.ts';
import { addBenchCommand } from './bench.ts';
import { addChainCommands } from './chain.ts';
import { addDevnetCommand } from './devnet.ts';
import { addGenesisCommands } from './genesis.ts';
import { addInitCommand } from './init.ts';
import { addNodeCommands } from './node-info.ts';
import { addOperatorCommands } from './operator/index.ts';
import { addSimCommand } from './sim.ts';
import { addStartCommand } from './start.ts';
import { addTestnetCommand } from './testnet.ts';

export { VERSION } from '../version.ts';

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
  addInitCommand(program, out);
  addNodeCommands(program, out);
  addGenesisCommands(program, out);
  addStartCommand(program);
  addDevnetCommand(program, out);
  addTestnetCommand(program, out);
  addSimCommand(program, out);
  addBenchCommand(program, out);
  addOperatorCommands(program, out);
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
    // A file-system or system error (ENOENT, EACCES, ...): one line too; anything else is a bug.
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) {
      process.stderr.write(`medledger: ${(error as Error).message} [${code}]\n`);
      return 1;
    }
    throw error;
  }
}
