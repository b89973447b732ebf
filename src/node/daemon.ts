/**
 * The daemon: a validator node, its record store and its HTTP API, composed from a loaded home.
 * `medledger start` loads settings and keys and calls startDaemon; tests may call it in-process.
 */
import { rename, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { apiUrl, startApi } from '../api/server.ts';
import type { IdentityKeys } from '../crypto/index.ts';
import type { Genesis } from '../ledger/index.ts';
import { VERSION } from '../version.ts';
import { type ApiSecurity, apiSecurity } from './api-tls.ts';
import { homePaths, type NodeSettings } from './config.ts';
import { ErasureReceipts } from './erasure-receipts.ts';
import { operatorPublicKey } from './operator-key.ts';
import { peerSet, selfReachabilityNotes } from './peer-set.ts';
import { RecordService } from './records.ts';
import { RefusalLog } from './refusal-log.ts';
import { type NodeLogger, ValidatorNode } from './validator.ts';

export interface DaemonOptions {
  home: string;
  settings: NodeSettings;
  genesis: Genesis;
  /** The validator's identity keys: Ed25519 signs votes, X25519 is the custodian key of its hospital. */
  keys: IdentityKeys;
  log: NodeLogger & { error(fields: object, message: string): void };
  /**
   * How the API is served, as node/api-tls.ts `apiSecurity` checked it (`medledger start` checks
   * before it asks for the passphrase); when absent, it is checked here, before anything starts.
   */
  apiSecurity?: ApiSecurity;
}

export interface Daemon {
  node: ValidatorNode;
  records: RecordService;
  api: Server;
  /**
   * Where the node actually listens (also written to HOME/listening.json): the API's URL (https://
   * with TLS), the SHA-256 fingerprint of its certificate (null for plain HTTP), the p2p addresses.
   */
  listening: { api: string; apiFingerprint: string | null; p2p: string[] };
  /** Set once the node stopped itself because it cannot safely continue. */
  fatal(): Error | null;
  /** Closes the API, then stops the node (flushing its databases). */
  stop(): Promise<void>;
}

export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  const { settings, genesis, keys, log } = options;
  // A refused API (plain HTTP off loopback, a bad certificate) stops the start before anything runs.
  const security = options.apiSecurity ?? (await apiSecurity(options.home, settings));
  for (const warning of security.warnings) log.warn({}, warning);
  let fatal: Error | null = null;
  const selfKey = Buffer.from(keys.signing.publicKey).toString('hex');
  const peers = peerSet(genesis, selfKey, settings.peers);
  for (const note of selfReachabilityNotes(genesis, selfKey, settings)) log.warn({}, note);
  const node = await ValidatorNode.start({
    dataDir: homePaths(options.home).data,
    genesis,
    secretKey: keys.signing.secretKey,
    listen: settings.listen,
    peers,
    params: settings.consensus,
    faults: settings.faults,
    log,
    onFatal: (error) => {
      fatal = error;
      log.error({ err: error }, 'stopping: cannot safely continue');
    },
  });
  const dataDir = homePaths(options.home).data;
  let erasure: ErasureReceipts;
  let records: RecordService;
  try {
    erasure = await ErasureReceipts.start({
      host: node.host,
      genesis,
      secretKey: keys.signing.secretKey,
      dir: join(dataDir, 'receipts'),
      log,
    });
  } catch (error) {
    await node.stop();
    throw error;
  }
  try {
    records = await RecordService.start({
      node,
      dataDir,
      encryptionSecretKey: keys.encryption.secretKey,
      log,
      erasures: erasure,
    });
  } catch (error) {
    await erasure.stop();
    await node.stop();
    throw error;
  }
  let api: Server;
  let refusals: RefusalLog | undefined;
  try {
    const operator = await operatorPublicKey(options.home);
    if (operator.created) log.info({ path: homePaths(options.home).operatorKey }, 'wrote a new operator key');
    refusals = await RefusalLog.open(join(dataDir, 'refusals'));
    api = await startApi(
      { node, records, erasure, refusals, version: VERSION },
      settings.api.host,
      settings.api.port,
      {
        faultInjection: settings.api.faultInjection,
        maxTxPerSenderPerSecond: settings.api.maxTxPerSenderPerSecond,
        maxUploadBytes: settings.api.maxUploadBytes,
        uploadQuotaBytesPerDay: settings.api.uploadQuotaBytesPerDay,
        operatorKey: operator.publicKey,
        ...(security.tls ? { tls: { cert: security.tls.cert, key: security.tls.key } } : {}),
      },
      (error) => log.warn({ err: error }, 'HTTP API error'),
    );
  } catch (error) {
    await refusals?.close();
    await records.stop();
    await erasure.stop();
    await node.stop();
    throw error;
  }
  // Where the node actually listens, for scripts and tests that asked for port 0.
  const listening = {
    api: apiUrl(api, security.tls !== null),
    apiFingerprint: security.tls?.fingerprint ?? null,
    p2p: node.host.addresses,
  };
  // Written whole, then renamed into place: a script polling for the file never reads half of it.
  const listeningFile = join(options.home, 'listening.json');
  await writeFile(`${listeningFile}.tmp`, JSON.stringify(listening));
  await rename(`${listeningFile}.tmp`, listeningFile);
  return {
    node,
    records,
    api,
    listening,
    fatal: () => fatal,
    async stop() {
      // In-flight requests (long polls, uploads) are cut rather than waited for: a stop is prompt.
      const closed = new Promise<void>((resolve) => api.close(() => resolve()));
      api.closeAllConnections();
      await closed;
      await refusals?.close();
      await records.stop();
      await erasure.stop();
      await node.stop();
    },
  };
}
