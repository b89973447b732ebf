/** `medledger start --home DIR`: runs a validator node until SIGTERM or SIGINT. */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { pino } from 'pino';
import { startApi } from '../api/server.ts';
import { readKeystore } from '../crypto/index.ts';
import { MedledgerError } from '../errors.ts';
import { loadGenesis } from '../ledger/index.ts';
import { homePaths, loadSettings } from '../node/config.ts';
import { ValidatorNode } from '../node/validator.ts';

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
      let fatal: Error | null = null;
      const node = await ValidatorNode.start({
        dataDir: paths.data,
        genesis,
        secretKey: keys.signing.secretKey,
        listen: settings.listen,
        peers: settings.peers.map((p) => ({
          publicKey: Buffer.from(p.publicKey, 'hex'),
          addresses: p.addresses,
        })),
        params: settings.consensus,
        faults: settings.faults,
        log,
        onFatal: (error) => {
          fatal = error;
          log.error({ err: error }, 'stopping: cannot safely continue');
        },
      });
      const api = await startApi(node, settings.api.host, settings.api.port, {
        faultInjection: settings.api.faultInjection,
      });
      const address = api.address();
      const apiUrl =
        typeof address === 'object' && address ? `http://${address.address}:${address.port}` : '';
      // Where the node actually listens, for scripts and tests that asked for port 0.
      const listening = { api: apiUrl, p2p: node.host.addresses };
      await writeFile(join(options.home, 'listening.json'), JSON.stringify(listening));
      log.info({ ...listening, status: node.status() }, 'node started');
      await new Promise<void>((resolve) => {
        process.once('SIGTERM', resolve);
        process.once('SIGINT', resolve);
      });
      await new Promise<void>((resolve) => api.close(() => resolve()));
      await node.stop();
      log.info({ status: node.status() }, 'node stopped');
      if (fatal) process.exitCode = 1;
    });
}
