/**
 * Validators as real processes (`medledger start --home DIR`) on 127.0.0.1 with free ports: writes
 * their homes (fresh keys, a shared genesis whose network admins sign the load), spawns, SIGKILLs and
 * restarts them, and talks to their HTTP APIs (status, submit, blocks, receipts, transport faults,
 * metrics). Blocks, receipts and faults are node-operator routes: each request to validator i is
 * signed with the operator key in its home (operator.key, which writeHome writes). Used by
 * `medledger bench` in real mode, by bench/cluster.ts and by the process tests.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hex } from '../bytes.ts';
import type { BlockJson } from '../client/api-types.ts';
import { blockEvents } from '../client/block-events.ts';
import type { RequestSigner } from '../client/http.ts';
import { encode } from '../codec/index.ts';
import type { ConsensusParams } from '../consensus/index.ts';
import { OPERATOR_KEY_ID, signRequest } from '../crypto/http-signature.ts';
import {
  generateEncryptionKeyPair,
  generateIdentityKeys,
  type IdentityKeys,
  type SigningKeyPair,
} from '../crypto/index.ts';
import { parseOperatorKey } from '../crypto/operator-key.ts';
import { freePorts } from '../free-port.ts';
import { DEFAULT_PARAMS, type Genesis, Transaction, txHash } from '../ledger/index.ts';
import { homePaths } from '../node/config.ts';
import { writeHome } from '../node/home.ts';
import type { NodeStatus, TransportFaults } from '../node/validator.ts';
import { projectPath } from '../paths.ts';

const BIN = projectPath('bin/medledger.js');
const PASSPHRASE = 'correct horse battery staple';

/** Polls `condition` every 25 ms until it holds; throws after `timeout_ms`. */
export async function until(condition: () => boolean | Promise<boolean>, timeout_ms = 20_000): Promise<void> {
  const deadline = Date.now() + timeout_ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 25));
  }
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });

/**
 * fetch for idempotent requests, tried up to three times on a network error: a kept-alive
 * connection the server closed while idle fails the first request sent on it. `init` is made anew
 * for each attempt: a signed request's nonce may be used once.
 */
async function retrying(url: string, init: () => RequestInit | Promise<RequestInit> = () => ({})) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fetch(url, await init());
    } catch (error) {
      if (attempt >= 3 || (error as Error).name === 'AbortError' || (error as Error).name === 'TimeoutError')
        throw error;
      await new Promise((r) => setTimeout(r, 50 * attempt));
    }
  }
}

export interface ProcessClusterOptions {
  /** Validators. */
  n: number;
  /** Local consensus parameters of every validator. */
  consensus?: Partial<ConsensusParams>;
  /** Every validator's signatureThreads setting (default 0: they share the machine's cores). */
  signatureThreads?: number;
  /** Validators started at once (default: all). */
  running?: number[];
  /** Network admins in the genesis (their keys sign load); default n. */
  admins?: number;
  chainId?: string;
  /** Serve PUT /v1/debug/faults (api.faultInjection). */
  faultInjection?: boolean;
  /** The API's limits (api.maxUploadBytes, api.uploadQuotaBytesPerDay, api.maxTxPerSenderPerSecond). */
  apiLimits?: { maxUploadBytes?: number; uploadQuotaBytesPerDay?: number; maxTxPerSenderPerSecond?: number };
  /** Where the validators' stderr goes: this process's stderr, or a file per validator in `dir`. */
  stderr?: 'inherit' | 'file';
  /** Extra Node.js options for the validator processes (e.g. --cpu-prof). */
  nodeArgs?: string[];
}

export interface ProcessCluster {
  dir: string;
  genesis: Genesis;
  validators: IdentityKeys[];
  admins: SigningKeyPair[];
  p2pPorts: number[];
  /** Each validator's home (its operator.key signs the node-operator routes). */
  homes: string[];
  /** Each validator's API base URL (it changes when a validator restarts). */
  api: string[];
  /** How validator i's operator signs (key id `operator`, the key in its home's operator.key). */
  operator(i: number): Promise<RequestSigner>;
  start(i: number): Promise<void>;
  /** SIGKILL. */
  kill(i: number): Promise<void>;
  /** Whether validator i's process is running. */
  running(i: number): boolean;
  /** Validator i's process id, or null when it is not running. */
  pid(i: number): number | null;
  /** Times validator i was started. */
  starts(i: number): number;
  submit(i: number, tx: Transaction): Promise<string>;
  status(i: number): Promise<NodeStatus>;
  /** A committed transaction at validator i (asked as its operator), or null while it is not. */
  receipt(
    i: number,
    hash: string,
  ): Promise<{ height: number; index: number; receipt: { code: string } } | null>;
  /**
   * Block `height` of validator i (asked as its operator), waiting up to `wait_ms` for it; null when
   * it is not committed by then.
   */
  block(
    i: number,
    height: number,
    options?: { wait_ms?: number; signal?: AbortSignal },
  ): Promise<BlockJson | null>;
  /**
   * Validator i's committed blocks from `from` on, as they commit (its block stream, followed as
   * its operator), until `signal` ends it or the connection breaks.
   */
  blocks(i: number, from: number, signal: AbortSignal): AsyncGenerator<BlockJson>;
  /**
   * The hashes of every transaction committed at validator i, read block by block from its API
   * (each block once: blocks are final), up to its height now.
   */
  committed(i: number): Promise<ReadonlySet<string>>;
  /**
   * Operator requests the node answered 429 API_RATE_LIMITED (its bound on signed requests per
   * signer), each then waited out for its Retry-After: a follower of every block of a long, fast run
   * can reach it, and its sightings of commits are late by that wait.
   */
  throttled: number;
  /** Replaces validator i's transport faults (needs faultInjection). */
  setFaults(i: number, faults: TransportFaults): Promise<void>;
  /** Validator i's Prometheus metrics text. */
  metrics(i: number): Promise<string>;
  /** Stops every process (SIGTERM), keeping their homes. */
  stopAll(): Promise<void>;
  close(): Promise<void>;
}

/** This process's environment for a validator, without the benchmark's own MEDLEDGER_BENCH_KEEP. */
function validatorEnv(): NodeJS.ProcessEnv {
  const { MEDLEDGER_BENCH_KEEP: _keep, ...env } = process.env;
  return env;
}

export async function startProcessCluster(options: ProcessClusterOptions): Promise<ProcessCluster> {
  const n = options.n;
  const consensus = options.consensus ?? {
    requestTimeout_ms: 1000,
    viewChangeTimeout_ms: 1000,
    statusInterval_ms: 250,
  };
  const dir = await mkdtemp(join(tmpdir(), 'medledger-procs-'));
  const validators = Array.from({ length: n }, () => generateIdentityKeys());
  const admins = Array.from({ length: options.admins ?? n }, () => generateIdentityKeys().signing);
  const genesis: Genesis = {
    chainId: options.chainId ?? 'process-test',
    genesisTime: Date.UTC(2026, 0, 1),
    validators: validators.map((v, i) => ({
      name: `validator-${i}`,
      publicKey: v.signing.publicKey,
      encryptionKey: v.encryption.publicKey,
      addresses: [],
    })),
    networkAdmins: admins.map((a, i) => ({
      name: `admin-${i}`,
      publicKey: a.publicKey,
      encryptionKey: generateEncryptionKeyPair().publicKey,
    })),
    organisations: [],
    params: { ...DEFAULT_PARAMS, checkpointInterval: 8 },
  };
  const p2pPorts = await freePorts(validators.length);
  const homes = validators.map((_, i) => join(dir, `validator-${i}`));
  for (const [i, home] of homes.entries()) {
    await writeHome({
      home,
      genesis,
      keys: validators[i]!,
      passphrase: PASSPHRASE,
      scrypt: { N: 2 ** 12, r: 8, p: 1 },
      settings: {
        listen: [`/ip4/127.0.0.1/tcp/${p2pPorts[i]}`],
        // The validators share this machine's cores: each verifies on its event loop (unless told).
        signatureThreads: options.signatureThreads ?? 0,
        peers: validators
          .map((v, j) => ({
            publicKey: hex(v.signing.publicKey),
            addresses: [`/ip4/127.0.0.1/tcp/${p2pPorts[j]}`],
          }))
          .filter((_, j) => j !== i),
        api: {
          host: '127.0.0.1',
          port: 0,
          ...(options.faultInjection ? { faultInjection: true } : {}),
          ...options.apiLimits,
        },
        consensus,
      },
    });
  }

  const children: Array<ChildProcess | null> = validators.map(() => null);
  const startCounts = validators.map(() => 0);
  const api: string[] = validators.map(() => '');
  const operators = new Map<number, Promise<RequestSigner>>();
  const followed = validators.map(() => ({ height: 0, txs: new Set<string>() }));
  const operator = (i: number): Promise<RequestSigner> => {
    let signer = operators.get(i);
    if (!signer) {
      const path = homePaths(homes[i]!).operatorKey;
      signer = readFile(path, 'utf8').then((text) => {
        const key = parseOperatorKey(text);
        if (key === null) throw new Error(`${path} holds no operator key`);
        return { id: OPERATOR_KEY_ID, secretKey: key.secretKey };
      });
      operators.set(i, signer);
    }
    return signer;
  };
  /**
   * A request to validator i signed by its operator (signed anew for each attempt); a 429 (the
   * node's bound on one signer's requests) is waited out and the request sent again.
   */
  const asOperator = async (
    i: number,
    path: string,
    init: {
      method?: 'GET' | 'PUT';
      body?: Uint8Array;
      headers?: Record<string, string>;
      signal?: AbortSignal;
    } = {},
  ): Promise<Response> => {
    const { secretKey } = await operator(i);
    for (;;) {
      const url = `${api[i]}${path}`;
      const response = await retrying(url, async () => ({
        method: init.method ?? 'GET',
        body: init.body,
        signal: init.signal,
        headers: await signRequest(
          { method: init.method ?? 'GET', url, headers: init.headers ?? {}, body: init.body },
          OPERATOR_KEY_ID,
          secretKey,
        ),
      }));
      if (response.status !== 429 || init.signal?.aborted) return response;
      await response.arrayBuffer();
      cluster.throttled++;
      await sleep(1000 * Math.max(1, Number(response.headers.get('retry-after')) || 1), init.signal);
    }
  };
  const fetchJson = async (response: Response, what: string) => {
    if (!response.ok) throw new Error(`${what}: ${response.status} ${await response.text()}`);
    return response.json() as Promise<unknown>;
  };
  const cluster: ProcessCluster = {
    dir,
    genesis,
    validators,
    admins,
    p2pPorts,
    homes,
    api,
    operator,
    throttled: 0,
    async start(i) {
      await rm(join(homes[i]!, 'listening.json'), { force: true });
      const toFile = options.stderr === 'file';
      const child = spawn(
        process.execPath,
        [...(options.nodeArgs ?? []), BIN, 'start', '--home', homes[i]!],
        {
          env: { ...validatorEnv(), MEDLEDGER_PASSPHRASE: PASSPHRASE },
          stdio: ['ignore', toFile ? 'pipe' : 'ignore', toFile ? 'pipe' : 'inherit'],
        },
      );
      if (toFile) {
        child.stderr?.pipe(createWriteStream(join(dir, `validator-${i}.stderr.log`), { flags: 'a' }));
        child.stdout?.pipe(createWriteStream(join(dir, `validator-${i}.log`), { flags: 'a' }));
      }
      children[i] = child;
      startCounts[i]!++;
      await until(async () => {
        if (child.exitCode !== null) throw new Error(`validator ${i} exited with ${child.exitCode}`);
        try {
          api[i] = JSON.parse(await readFile(join(homes[i]!, 'listening.json'), 'utf8')).api;
          return true;
        } catch {
          return false;
        }
      }, 30_000);
    },
    async kill(i) {
      const child = children[i];
      if (!child || child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
      children[i] = null;
    },
    running(i) {
      const child = children[i];
      return !!child && child.exitCode === null && child.signalCode === null;
    },
    pid(i) {
      return cluster.running(i) ? (children[i]!.pid ?? null) : null;
    },
    starts(i) {
      return startCounts[i]!;
    },
    async submit(i, tx) {
      const response = await fetch(`${api[i]}/v1/txs`, { method: 'POST', body: encode(Transaction, tx) });
      if (response.status !== 202)
        throw new Error(`submit failed: ${response.status} ${await response.text()}`);
      return hex(txHash(tx));
    },
    async status(i) {
      const url = `${api[i]}/v1/status`;
      return (await fetchJson(await retrying(url), `GET ${url}`)) as NodeStatus;
    },
    async receipt(i, hash) {
      const response = await asOperator(i, `/v1/txs/${hash}`);
      if (response.status === 404) {
        await response.arrayBuffer();
        return null;
      }
      return (await fetchJson(response, `GET /v1/txs/${hash} at validator ${i}`)) as Awaited<
        ReturnType<ProcessCluster['receipt']>
      >;
    },
    async block(i, height, options = {}) {
      const wait = options.wait_ms ? `?wait_ms=${options.wait_ms}` : '';
      const response = await asOperator(i, `/v1/blocks/${height}${wait}`, { signal: options.signal });
      if (response.status === 404) {
        await response.arrayBuffer();
        return null;
      }
      return (await fetchJson(response, `GET /v1/blocks/${height} at validator ${i}`)) as BlockJson;
    },
    async *blocks(i, from, signal) {
      const response = await asOperator(i, `/v1/blocks/stream?from=${from}`, { signal });
      if (!response.ok || response.body === null) {
        await fetchJson(response, `GET /v1/blocks/stream at validator ${i}`); // throws its error
        return;
      }
      yield* blockEvents(response.body, api[i]!);
    },
    async committed(i) {
      const seen = followed[i]!;
      const { height } = await cluster.status(i);
      while (seen.height < height) {
        const block = await cluster.block(i, seen.height + 1);
        if (block === null) break;
        for (const hash of block.txs) seen.txs.add(hash);
        seen.height++;
      }
      return seen.txs;
    },
    async setFaults(i, faults) {
      const response = await asOperator(i, '/v1/debug/faults', {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: new TextEncoder().encode(JSON.stringify(faults)),
      });
      await fetchJson(response, `PUT /v1/debug/faults at validator ${i}`);
    },
    async metrics(i) {
      const response = await retrying(`${api[i]}/metrics`);
      if (!response.ok) throw new Error(`GET ${api[i]}/metrics: ${response.status}`);
      return response.text();
    },
    async stopAll() {
      for (const child of children) {
        if (child && child.exitCode === null && child.signalCode === null) {
          const exited = new Promise((resolve) => child.once('exit', resolve));
          child.kill('SIGTERM');
          await exited;
        }
      }
    },
    async close() {
      await cluster.stopAll();
      // MEDLEDGER_BENCH_KEEP=1 keeps the homes and the validators' logs for a look afterwards.
      if (process.env.MEDLEDGER_BENCH_KEEP === '1')
        process.stderr.write(`validators' homes and logs kept in ${dir}\n`);
      else await rm(dir, { recursive: true, force: true });
    },
  };
  const starting = (options.running ?? Array.from({ length: n }, (_, i) => i)).map((i) => cluster.start(i));
  const started = await Promise.allSettled(starting);
  const failed = started.find((r) => r.status === 'rejected');
  if (failed) {
    // A validator that cannot start (e.g. a genesis it refuses): stop the others and drop the homes
    // (unless kept), rather than leave processes and a temporary directory behind.
    await Promise.all(Array.from({ length: n }, (_, i) => cluster.kill(i)));
    await cluster.close();
    throw failed.reason;
  }
  return cluster;
}
