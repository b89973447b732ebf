/**
 * The daemon: a validator node, its chain scrubber, its record store and its HTTP API, composed from
 * a loaded home. `medledger start` loads settings and keys and calls startDaemon; tests may call it
 * in-process. A run that stops on a diverged state leaves a mark, and the next start rebuilds the
 * state from the stored blocks before the node starts (node/state-repair.ts).
 */
import { rename, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { apiUrl, startApi } from '../api/server.ts';
import { hex } from '../bytes.ts';
import type { IdentityKeys } from '../crypto/index.ts';
import { MedledgerError } from '../errors.ts';
import type { Genesis } from '../ledger/index.ts';
import { VERSION } from '../version.ts';
import { type ApiSecurity, apiSecurity } from './api-tls.ts';
import { homePaths, type NodeSettings, parseFaults } from './config.ts';
import { ErasureReceipts } from './erasure-receipts.ts';
import { operatorPublicKey } from './operator-key.ts';
import { peerSet, selfReachabilityNotes } from './peer-set.ts';
import { RecordService } from './records.ts';
import { RefusalLog } from './refusal-log.ts';
import { ChainScrubber } from './scrubber.ts';
import { markIfDiverged, markStateSuspect, repairStateIfMarked } from './state-repair.ts';
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
  /**
   * Heights the chain scrubber checks per second (0: off); default MEDLEDGER_SCRUB_BLOCKS_PER_SECOND,
   * else DEFAULT_SCRUB_BLOCKS_PER_SECOND.
   */
  scrubBlocksPerSecond?: number;
}

/** Slow enough to cost nothing noticeable (a header, a tx root, a certificate per check). */
export const DEFAULT_SCRUB_BLOCKS_PER_SECOND = 20;

/** The scrub rate: the option, else MEDLEDGER_SCRUB_BLOCKS_PER_SECOND, else the default. */
export function scrubRate(option: number | undefined, env: NodeJS.ProcessEnv = process.env): number {
  const text = env.MEDLEDGER_SCRUB_BLOCKS_PER_SECOND;
  const rate = option ?? (text === undefined || text === '' ? DEFAULT_SCRUB_BLOCKS_PER_SECOND : Number(text));
  if (!Number.isFinite(rate) || rate < 0 || rate > 10_000) {
    throw new MedledgerError(
      'CONFIG_INVALID_SCRUB_RATE',
      `the chain scrub rate must be a number of blocks per second from 0 (off) to 10000, not ${String(rate)}`,
    );
  }
  return rate;
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
  /**
   * Stops the components in reverse order: closes the API, then the refusal log, the record service
   * and the erasure receipts, then the chain scrubber, then the node (flushing its databases).
   */
  stop(): Promise<void>;
}

/**
 * One part of the daemon. The daemon starts its components in order and stops them in reverse
 * (js-libp2p's lifecycle style); when one fails to start, those already started are stopped, newest
 * first, and the start fails with its error.
 */
export interface Component {
  /** For logs and errors. */
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts `components` in order; on a failure, stops the started ones in reverse and rethrows. */
export async function startComponents(components: readonly Component[]): Promise<Component[]> {
  const started: Component[] = [];
  try {
    for (const component of components) {
      await component.start();
      started.push(component);
    }
  } catch (error) {
    await stopComponents(started);
    throw error;
  }
  return started;
}

/** Stops started components, newest first. */
export async function stopComponents(started: readonly Component[]): Promise<void> {
  for (const component of [...started].reverse()) await component.stop();
}

export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  const { settings, genesis, keys, log } = options;
  // A refused API (plain HTTP off loopback, a bad certificate) stops the start before anything runs.
  const security = options.apiSecurity ?? (await apiSecurity(options.home, settings));
  for (const warning of security.warnings) log.warn({}, warning);
  let fatal: Error | null = null;
  const selfKey = hex(keys.signing.publicKey);
  const peers = peerSet(genesis, selfKey, settings.peers);
  for (const note of selfReachabilityNotes(genesis, selfKey, settings)) log.warn({}, note);
  const dataDir = homePaths(options.home).data;
  const scrubBlocksPerSecond = scrubRate(options.scrubBlocksPerSecond);

  // What the components make, for the ones started after them and for the Daemon returned.
  let node!: ValidatorNode;
  let scrubber!: ChainScrubber;
  let stateRepairs = 0;
  let erasure!: ErasureReceipts;
  let records!: RecordService;
  let operatorKey!: Uint8Array;
  let refusals!: RefusalLog;
  let api!: Server;
  let listening!: Daemon['listening'];

  const components: Component[] = [
    {
      name: 'validator',
      async start() {
        // A run that stopped on a diverged state left a mark: rebuild the state before consensus opens.
        const repaired = await repairStateIfMarked(dataDir, genesis, log);
        if (repaired) stateRepairs = repaired.keysRepaired + repaired.blocksReexecuted.length;
        node = await ValidatorNode.start({
          dataDir,
          genesis,
          secretKey: keys.signing.secretKey,
          listen: settings.listen,
          peers,
          params: settings.consensus,
          faults: settings.faults,
          signatureThreads: settings.signatureThreads,
          log,
          onFatal: (error) => {
            fatal = error;
            log.error({ err: error }, 'stopping: cannot safely continue');
            try {
              if (markIfDiverged(dataDir, error))
                log.error({}, 'the next start rebuilds the state from the stored blocks');
            } catch (markError) {
              log.error({ err: markError }, 'cannot mark the state for a rebuild at the next start');
            }
          },
        });
      },
      stop: () => node.stop(),
    },
    {
      name: 'chain scrubber',
      async start() {
        scrubber = new ChainScrubber({
          store: node.store,
          host: node.host,
          peers: genesis.validators.map((v) => hex(v.publicKey)).filter((k) => k !== selfKey),
          log,
          blocksPerSecond: scrubBlocksPerSecond,
          // Damaged receipts are rebuilt from the blocks by the state repair at the next start.
          onStateSuspect: (height) =>
            markStateSuspect(
              dataDir,
              new MedledgerError('CHAIN_RECORD_CORRUPT', `receipts ${height} are damaged`),
            ),
        });
        node.metrics.watchChainHealth(() => ({
          ...node.store.health,
          ...scrubber.counts,
          stateRepairs,
        }));
        scrubber.start();
      },
      stop: () => scrubber.stop(),
    },
    {
      name: 'erasure receipts',
      async start() {
        erasure = await ErasureReceipts.start({
          host: node.host,
          genesis,
          secretKey: keys.signing.secretKey,
          dir: join(dataDir, 'receipts'),
          log,
        });
      },
      stop: () => erasure.stop(),
    },
    {
      name: 'records',
      async start() {
        records = await RecordService.start({
          node,
          dataDir,
          encryptionSecretKey: keys.encryption.secretKey,
          log,
          erasures: erasure,
        });
      },
      stop: () => records.stop(),
    },
    {
      name: 'operator key',
      async start() {
        const operator = await operatorPublicKey(options.home);
        if (operator.created)
          log.info({ path: homePaths(options.home).operatorKey }, 'wrote a new operator key');
        operatorKey = operator.publicKey;
      },
      async stop() {},
    },
    {
      name: 'refusal log',
      async start() {
        refusals = await RefusalLog.open(join(dataDir, 'refusals'));
      },
      stop: () => refusals.close(),
    },
    {
      name: 'api',
      async start() {
        api = await startApi(
          { node, records, erasure, refusals, parseFaults, version: VERSION },
          settings.api.host,
          settings.api.port,
          {
            faultInjection: settings.api.faultInjection,
            maxTxPerSenderPerSecond: settings.api.maxTxPerSenderPerSecond,
            maxUploadBytes: settings.api.maxUploadBytes,
            uploadQuotaBytesPerDay: settings.api.uploadQuotaBytesPerDay,
            operatorKey,
            ...(security.tls ? { tls: { cert: security.tls.cert, key: security.tls.key } } : {}),
          },
          (error) => log.warn({ err: error }, 'HTTP API error'),
        );
      },
      async stop() {
        // In-flight requests (long polls, uploads) are cut rather than waited for: a stop is prompt.
        const closed = new Promise<void>((resolve) => api.close(() => resolve()));
        api.closeAllConnections();
        await closed;
      },
    },
    {
      // Where the node actually listens, for scripts and tests that asked for port 0.
      name: 'listening file',
      async start() {
        listening = {
          api: apiUrl(api, security.tls !== null),
          apiFingerprint: security.tls?.fingerprint ?? null,
          p2p: node.host.addresses,
        };
        // Written whole, then renamed into place: a script polling for the file never reads half of it.
        const listeningFile = join(options.home, 'listening.json');
        await writeFile(`${listeningFile}.tmp`, JSON.stringify(listening));
        await rename(`${listeningFile}.tmp`, listeningFile);
      },
      async stop() {},
    },
  ];

  const started = await startComponents(components);
  return {
    node,
    records,
    api,
    listening,
    fatal: () => fatal,
    stop: () => stopComponents(started),
  };
}
