/**
 * `medledger start --home DIR`: runs a validator node until SIGTERM or SIGINT. Settings come from
 * HOME/config.toml, overridden by MEDLEDGER_* variables, overridden by flags. One node per home.
 */
import { stat } from 'node:fs/promises';
import type { Command } from 'commander';
import type { Logger } from 'pino';
import { hex } from '../bytes.ts';
import { passphraseFor } from '../client/passphrase.ts';
import { type IdentityKeys, readKeystore } from '../crypto/index.ts';
import { MedledgerError } from '../errors.ts';
import { type Genesis, loadGenesis } from '../ledger/index.ts';
import { type ApiSecurity, apiSecurity } from '../node/api-tls.ts';
import { homePaths, loadSettings, type NodeSettings } from '../node/config.ts';
import type { Daemon } from '../node/daemon.ts';
import { alreadyRunning, type HomeLock, lockHome } from '../node/lock.ts';
import { addSettingFlags, homeOption, settingFlags } from './setting-flags.ts';

const EXIT_CODE_OF: Record<string, number> = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 };

/** Exits with process.exitCode if something (a socket, a timer) still holds the process open. */
function exitSoon(): void {
  setTimeout(() => process.exit(), 3000).unref();
}

async function requireHome(home: string): Promise<void> {
  const info = await stat(home).catch(() => null);
  if (!info?.isDirectory()) {
    throw new MedledgerError(
      'HOME_NOT_FOUND',
      `there is no node home at ${home}; create one with: medledger init --home ${home}`,
    );
  }
}

async function loadGenesisOf(home: string): Promise<Genesis> {
  const path = homePaths(home).genesis;
  try {
    return await loadGenesis(path);
  } catch (error) {
    if (error instanceof MedledgerError && error.code === 'GENESIS_NOT_FOUND') {
      throw new MedledgerError(
        error.code,
        `there is no genesis file at ${path}; create it with: medledger genesis create ... --out ${path}`,
      );
    }
    throw error;
  }
}

async function unlock(home: string): Promise<IdentityKeys> {
  const path = homePaths(home).keystore;
  const passphrase = await passphraseFor(path);
  try {
    return await readKeystore(path, passphrase);
  } catch (error) {
    if (error instanceof MedledgerError) throw new MedledgerError(error.code, `${path}: ${error.message}`);
    throw error;
  }
}

function startFailure(home: string, error: unknown): Error {
  if (error instanceof MedledgerError && error.code === 'LEDGER_LOCKED') return alreadyRunning(home, null);
  if (error instanceof MedledgerError) return error;
  const { code, name, message } = error as { code?: string; name?: string; message?: string };
  const lines = String(message ?? error)
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('at '));
  if (code === 'EADDRINUSE') return new MedledgerError('NODE_PORT_IN_USE', `cannot listen: ${lines[0]}`);
  if (name === 'UnsupportedListenAddressesError') {
    // libp2p lists each address that failed on the lines after its first.
    return new MedledgerError('NODE_P2P_LISTEN_FAILED', `cannot listen on ${lines.slice(1).join('; ')}`);
  }
  return new MedledgerError('NODE_START_FAILED', `the node could not start: ${lines[0]}`);
}

type Log = Logger<never>;

async function launch(
  home: string,
  settings: NodeSettings,
  genesis: Genesis,
  security: ApiSecurity,
): Promise<{ daemon: Daemon; log: Log }> {
  const keys = await unlock(home);
  const validator = genesis.validators.find((v) => hex(v.publicKey) === hex(keys.signing.publicKey));
  if (!validator) {
    throw new MedledgerError(
      'NODE_NOT_A_VALIDATOR',
      `the key in ${homePaths(home).keystore} (${hex(keys.signing.publicKey)}) is not a validator of ` +
        `chain ${genesis.chainId} in ${homePaths(home).genesis}`,
    );
  }
  // Chain format 2: a record's key shares are sealed to the X25519 key the genesis names for this
  // validator; a node with another key could open none of them.
  if (hex(validator.encryptionKey) !== hex(keys.encryption.publicKey)) {
    throw new MedledgerError(
      'NODE_ENCRYPTION_KEY_MISMATCH',
      `the X25519 key in ${homePaths(home).keystore} (${hex(keys.encryption.publicKey)}) is not the ` +
        `encryptionKey ${homePaths(home).genesis} names for ${validator.name} ` +
        `(${hex(validator.encryptionKey)}): make the genesis from this home's keys, as medledger node info prints them`,
    );
  }
  // Loaded here, as the daemon is below: only `start` needs the logger.
  const { pino } = await import('pino');
  const log = pino({ level: settings.log.level, base: { node: settings.name || validator.name } });
  let daemon: Daemon;
  try {
    // Loaded here, not at the top: libp2p takes most of a second to import, and every other
    // command of the CLI would pay for it.
    const { startDaemon } = await import('../node/daemon.ts');
    daemon = await startDaemon({ home, settings, genesis, keys, log, apiSecurity: security });
  } catch (error) {
    exitSoon(); // a half-started node may hold sockets open
    throw startFailure(home, error);
  }
  log.info({ ...daemon.listening, status: daemon.node.status() }, 'node started');
  return { daemon, log };
}

/**
 * Resolves with the first SIGINT, SIGTERM or SIGHUP, 'fatal' once the node stopped itself, or 'parent-gone'
 * when the supervisor that started it over an IPC channel (the devnet) goes away.
 */
function stopRequest(daemon: Daemon): Promise<string> {
  return new Promise((resolve) => {
    const done = (reason: string) => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      process.off('SIGHUP', done);
      process.off('disconnect', parentGone);
      clearInterval(watch);
      resolve(reason);
    };
    const parentGone = () => done('parent-gone');
    const watch = setInterval(() => daemon.fatal() && done('fatal'), 1000);
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
    process.on('SIGHUP', done); // a closed terminal: stop cleanly, and log why
    if (process.send) process.on('disconnect', parentGone);
  });
}

async function run(
  home: string,
  settings: NodeSettings,
  genesis: Genesis,
  security: ApiSecurity,
  lock: HomeLock,
): Promise<void> {
  let daemon: Daemon;
  let log: Log;
  try {
    ({ daemon, log } = await launch(home, settings, genesis, security));
  } catch (error) {
    await lock.release();
    throw error;
  }
  const reason = await stopRequest(daemon);
  // A second signal while stopping: exit at once.
  const now = (signal: string) => {
    lock.releaseSync();
    process.exit(EXIT_CODE_OF[signal] ?? 1);
  };
  process.on('SIGINT', now);
  process.on('SIGTERM', now);
  log.info({ reason }, 'stopping');
  try {
    await daemon.stop();
  } finally {
    await lock.release();
  }
  log.info({ status: daemon.node.status() }, 'node stopped');
  if (daemon.fatal()) process.exitCode = 1;
  exitSoon();
}

export function addStartCommand(program: Command): void {
  const command = program
    .command('start')
    .description('run a validator node: p2p, consensus, rule engine, store and HTTP API')
    .option('--home <dir>', "the node's home directory (default: MEDLEDGER_HOME)");
  addSettingFlags(command)
    .addHelpText(
      'after',
      [
        '',
        'Each setting comes from HOME/config.toml, overridden by its MEDLEDGER_* variable (shown above),',
        'overridden by its flag. Lists are comma-separated. Peers and faults are set in config.toml only.',
        'The keystore passphrase comes from MEDLEDGER_PASSPHRASE or the file MEDLEDGER_PASSPHRASE_FILE names, else it is asked on the terminal.',
        'SIGTERM or SIGINT stops the node cleanly (exit 0); a second signal exits at once.',
        '',
        'Examples:',
        '  MEDLEDGER_PASSPHRASE=... medledger start --home ./node-1',
        '  MEDLEDGER_LOG_LEVEL=debug medledger start --home ./node-1 --api-port 8080',
      ].join('\n'),
    )
    .action(async (options: { home?: string }, cmd: Command) => {
      const home = homeOption(options.home);
      await requireHome(home);
      const settings = await loadSettings(home, { env: process.env, flags: settingFlags(cmd) });
      const genesis = await loadGenesisOf(home);
      // The API's TLS files and exposure are checked before the passphrase is asked for.
      const security = await apiSecurity(home, settings);
      await run(home, settings, genesis, security, await lockHome(home));
    });
}
