/**
 * Command-line flags for the node settings (one per row of the table in src/node/settings.ts, e.g.
 * `--api-port`), shared by `medledger start` and `medledger init`, and the home directory option.
 */
import { type Command, Option } from 'commander';
import { MedledgerError } from '../errors.ts';
import { SETTINGS, type Setting } from '../node/settings.ts';

function placeholder(s: Setting): string {
  switch (s.type.kind) {
    case 'integer':
    case 'number':
      return 'n';
    case 'boolean':
      return 'true|false';
    case 'list':
      return 'a,b';
    case 'choice':
      return s.type.values.join('|');
    default:
      return 'text';
  }
}

/** Adds every setting's flag to `command`. */
export function addSettingFlags(command: Command): Command {
  for (const s of SETTINGS) {
    const fallback = s.default === undefined ? 'unset' : JSON.stringify(s.default);
    command.addOption(
      new Option(`--${s.flag} <${placeholder(s)}>`, `${s.doc} (${s.env}; default ${fallback})`),
    );
  }
  return command;
}

/** The setting flags given on the command line, by flag name without dashes (`api-port`). */
export function settingFlags(command: Command): Record<string, string> {
  const given: Record<string, string> = {};
  const options = command.opts<Record<string, unknown>>();
  for (const option of command.options) {
    const flag = option.long?.slice(2);
    const value = options[option.attributeName()];
    if (flag && typeof value === 'string' && SETTINGS.some((s) => s.flag === flag)) given[flag] = value;
  }
  return given;
}

/** `--home DIR`, else MEDLEDGER_HOME. */
export function homeOption(home: string | undefined): string {
  const chosen = home ?? process.env.MEDLEDGER_HOME;
  if (!chosen) {
    throw new MedledgerError('HOME_REQUIRED', 'give the node home with --home DIR (or MEDLEDGER_HOME)');
  }
  return chosen;
}
