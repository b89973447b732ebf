/**
 * Entry point of the `medledger` command: builds the commander program and runs it.
 * Returns the process exit code instead of calling process.exit, so tests can drive it in-process.
 *
 * How it fails, for people and for scripts: a refusal is one line on stderr, `medledger: MESSAGE
 * [CODE]`, and exit 1; under `--json` it is `{"error":{"code","message"}}` on stdout instead, with the
 * same exit code (usage errors have the code CLI_USAGE). Output piped into a reader that stops early
 * (`| head`) ends the command quietly.
 */
import { Command, CommanderError, type Option } from 'commander';
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
    .showHelpAfterError('(add --help for the options and an example)')
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
  deferMandatoryOptions(program);
  return program;
}

/**
 * Commander checks required options before unknown ones, so a misspelt required option (`--too`)
 * would be reported as missing, not as a typo with a suggestion. Required options are checked
 * after parsing instead, once unknown options have been reported.
 */
function deferMandatoryOptions(program: Command): void {
  const required = new Map<Command, Option[]>();
  const walk = (command: Command) => {
    const mandatory = command.options.filter((option) => option.mandatory);
    for (const option of mandatory) option.mandatory = false;
    if (mandatory.length > 0) required.set(command, mandatory);
    command.commands.forEach(walk);
  };
  walk(program);
  program.hook('preAction', (_program, action) => {
    for (const option of required.get(action) ?? []) {
      if (action.getOptionValue(option.attributeName()) === undefined) {
        action.error(`error: required option '${option.flags}' not specified`, {
          code: 'commander.missingMandatoryOptionValue',
        });
      }
    }
  });
}

/** A failure as the caller asked for it: one JSON object on stdout, or one line on stderr. */
function report(code: string, message: string, json: boolean): void {
  if (json) process.stdout.write(`${JSON.stringify({ error: { code, message } })}\n`);
  else process.stderr.write(`medledger: ${message} [${code}]\n`);
}

/** A reader that stopped early (`medledger audit | head`) is not an error: exit with the code so far. */
let pipesGuarded = false;
function quietOnBrokenPipe(): void {
  if (pipesGuarded) return;
  pipesGuarded = true;
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') throw error;
      process.exit(Number(process.exitCode ?? 0));
    });
  }
}

export async function main(argv: readonly string[]): Promise<number> {
  quietOnBrokenPipe();
  const program = buildProgram();
  if (argv.length <= 2) {
    program.outputHelp();
    return 0;
  }
  const args = argv.slice(2);
  const end = args.indexOf('--');
  const json = (end < 0 ? args : args.slice(0, end)).includes('--json');
  if (json) {
    // Usage errors become the JSON error below; help and version still print as text.
    const quiet = (command: Command) => {
      command.configureOutput({ outputError: () => {} }).showHelpAfterError(false);
      command.commands.forEach(quiet);
    };
    quiet(program);
  }
  try {
    process.exitCode = 0;
    await program.parseAsync([...argv]);
    return Number(process.exitCode ?? 0);
  } catch (error) {
    if (error instanceof CommanderError) {
      if (json && error.exitCode !== 0) report('CLI_USAGE', error.message.replace(/^error: /, ''), true);
      return error.exitCode;
    }
    if (error instanceof MedledgerError) {
      report(error.code, error.message, json);
      return 1;
    }
    // A file-system or system error (ENOENT, EACCES, ...): one line too; anything else is a bug.
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) {
      report(code, (error as Error).message, json);
      return 1;
    }
    throw error;
  }
}
