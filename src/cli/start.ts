/** `medledger start --home DIR`: runs a validator node until SIGTERM or SIGINT. */
import type { Command } from 'commander';
import { pino } from 'pino';
import { readKeystore } from '../crypto/index.ts';
import { MedledgerError } from '../errors.ts';
import { loadGenesis } from '../ledger/index.ts';
import { homePaths, loadSettings } from '../node/config.ts';
import { startDaemon } from '../node/daemon.ts';

export function addStartCommand(program: Command): void {
  program
    .command('start')
    .description('run a validator node: p2p, consensus, rule engine, store and HTTP API')
    .requiredOption('--home <dir>', "the node's home directory (node.json, genesis.json, validator.key)")
    .addHelpText(
      'after',
      '\nThe keystore passphrase is read from MEDLEDGER_PASSPHRASE.\n\nExample:\n  MEDLEDGER_PASSPHRASE=... medledger start --home ./node-1',
    )
    .action(async (options: { home: string }) => {
      const paths = homePaths(options.home);
      const passphrase = process.env.MEDLEDGER_PASSPHRASE;
      if (passphrase === undefined) {
        throw new MedledgerError(
          'KEYSTORE_NO_PASSPHRASE',
          'set MEDLEDGER_PASSPHRASE to unlock the validator keystore',
        );
      }
      const [settings, genesis, keys] = await Promise.all([
        loadSettings(options.home),
        loadGenesis(paths.genesis),
        readKeystore(paths.keystore, passphrase),
      ]);
      const log = pino({
        base: {
          node: genesis.validators.find((v) => Buffer.from(v.publicKey).equals(keys.signing.publicKey))?.name,
        },
      });
      const daemon = await startDaemon({ home: options.home, settings, genesis, keys, log });
      log.info({ ...daemon.listening, status: daemon.node.status() }, 'node started');
      await new Promise<void>((resolve) => {
        process.once('SIGTERM', resolve);
        process.once('SIGINT', resolve);
      });
      await daemon.stop();
      log.info({ status: daemon.node.status() }, 'node stopped');
      if (daemon.fatal()) process.exitCode = 1;
    });
}
