/**
 * config.toml as text: parsing it (syntax only; config.ts validates the settings) and writing it as a
 * commented file that documents every setting of the table in settings.ts, its environment variable,
 * its flag and its default, with the values given.
 */
import { parse, stringify, TomlError } from 'smol-toml';
import { MedledgerError } from '../errors.ts';
import type { NodeSettings } from './config.ts';
import { DEFAULT_P2P_PORT, SETTING_SECTIONS, SETTINGS, type Setting, type SettingValue } from './settings.ts';

/** TOML text as a plain object; a syntax error names the file, line and column. */
export function parseConfigText(text: string, file: string): unknown {
  try {
    return parse(text, { unsafeKeyBehaviour: 'throw' });
  } catch (error) {
    if (!(error instanceof TomlError)) throw error;
    const why = error.message.split('\n')[0]!.replace(/^Invalid TOML document: /, '');
    throw new MedledgerError('CONFIG_INVALID', `${file}: line ${error.line}, column ${error.column}: ${why}`);
  }
}

/** One TOML value, e.g. `"text"` or `[ "a", "b" ]`. */
function toml(value: unknown): string {
  return stringify({ v: value }).trim().slice('v = '.length);
}

function comment(text: string, width = 98): string[] {
  const lines: string[] = [];
  let line = '#';
  for (const word of text.split(' ')) {
    if (line.length + word.length + 1 > width && line !== '#') {
      lines.push(line);
      line = '#';
    }
    line += ` ${word}`;
  }
  lines.push(line);
  return lines;
}

function valueAt(settings: NodeSettings, path: string): SettingValue | undefined {
  let at: unknown = settings;
  for (const part of path.split('.')) at = (at as Record<string, unknown> | undefined)?.[part];
  return at as SettingValue | undefined;
}

function settingLines(s: Setting, value: SettingValue | undefined): string[] {
  // Its key in its section's table: `port` in [api], `tls.cert` (a dotted key) for api.tls.cert.
  const key = s.path.includes('.') ? s.path.slice(s.path.indexOf('.') + 1) : s.path;
  const list = s.type.kind === 'list' ? ' (comma-separated)' : '';
  const fallback = s.default === undefined ? 'unset' : toml(s.default);
  return [
    ...comment(s.doc),
    `# env ${s.env}${list}, flag --${s.flag}; default: ${fallback}`,
    value === undefined ? `# ${key} = ${toml(s.example)}` : `${key} = ${toml(value)}`,
    '',
  ];
}

const HEADER = [
  '# medledger node settings.',
  '#',
  '# Every setting is listed below with its default. A setting in this file is overridden by its',
  '# MEDLEDGER_* environment variable, which is overridden by its `medledger start` flag. An unknown',
  '# or ill-typed setting is an error that names it: a typo is never silently ignored.',
  '',
];

const PEERS_DOC = [
  '# Peers: this node dials every other validator at the addresses genesis.json lists for it. A',
  "# [[peers]] table with a validator's key overrides those addresses (for example the address its",
  '# node has inside your network, behind NAT); one with another key adds an observer. Only',
  "# genesis.json's validators and the peers listed here may connect. In this file only:",
  '#',
  '# [[peers]]',
  '# publicKey = "<the peer\'s validator key: 64 hex digits>"',
  `# addresses = [ "/ip4/192.0.2.20/tcp/${DEFAULT_P2P_PORT}" ]`,
  '',
];

const FAULTS_DOC = [
  '# Transport fault injection, for experiments only; in this file only. Fields: dropRate and',
  '# duplicateRate (0 to 1), delay_ms and jitter_ms, partitionedFrom (validator indexes cut off), to',
  '# (the peers the rest applies to; default all), seed (the seed the node logs; set it, or',
  '# MEDLEDGER_FAULTS_SEED, to replay the same decisions). Never on a production node.',
  '#',
  '# [faults]',
  '# dropRate = 0.1',
  '',
];

/** The commented config.toml holding `settings` (defaults where they were not given). */
export function renderConfig(settings: NodeSettings): string {
  const lines = [...HEADER];
  for (const s of SETTINGS.filter((s) => !s.path.includes('.')))
    lines.push(...settingLines(s, valueAt(settings, s.path)));
  for (const section of SETTING_SECTIONS) {
    lines.push(`[${section}]`, '');
    for (const s of SETTINGS.filter((s) => s.path.startsWith(`${section}.`)))
      lines.push(...settingLines(s, valueAt(settings, s.path)));
  }
  lines.push(...PEERS_DOC);
  for (const peer of settings.peers) {
    lines.push('[[peers]]', `publicKey = ${toml(peer.publicKey)}`, `addresses = ${toml(peer.addresses)}`, '');
  }
  lines.push(...FAULTS_DOC);
  const faults = Object.entries(settings.faults).filter(([, value]) => value !== undefined);
  if (faults.length > 0) {
    lines.push('[faults]');
    for (const [key, value] of faults) lines.push(`${key} = ${toml(value)}`);
    lines.push('');
  }
  return `${lines.join('\n').trimEnd()}\n`;
}
