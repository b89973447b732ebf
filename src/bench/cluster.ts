/**
 * Validators as real processes (`medledger start --home DIR`) on 127.0.0.1 with free ports: writes
 * their homes (fresh keys, a shared genesis whose network admins sign the load), spawns, SIGKILLs and
 * restarts them, and talks to their HTTP APIs (status, submit, transport faults, metrics). Used by
 * `medledger bench` in real mode, by bench/cluster.ts and by the process tests.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encode } from '../codec/index.ts';
import type { ConsensusParams } from '../consensus/index.ts';
import {
  generateEncryptionKeyPair,
  generateIdentityKeys,
  type IdentityKeys,
  type SigningKeyPair,
} from '../crypto/index.ts';
import { freePorts } from '../free-port.ts';
import { hex } from '../hex.ts';
import { DEFAULT_PARAMS, type Genesis, Transaction, txHash } from '../ledger/index.ts';
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

/**
 * fetch for idempotent requests, tried up to three times on a network error: a kept-alive
 * connection the server closed while idle fails the first request sent on it.
 */
async function retrying(url: string, init?: RequestInit): Promise<Response> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fetch(url, init);
    } catch (error) {
      if (attempt >= 3) throw error;
      await new Promise((r) => setTimeout(r, 50 * attempt));
    }
  }
}

export interface ProcessClusterOptions {
  /** Validators. */
  n: number;
  /** Local consensus parameters of every validator. */
  consensus?: Partial<ConsensusParams>;
  /** Validators started at once (default: all). */
  running?: number[];
  /** Network admins in the genesis (their keys sign load); default n. */
  admins?: number;
  chainId?: string;
  /** Serve PUT /v1/debug/faults (api.faultInjection). */
  faultInjection?: boolean;
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
  /** Each validator's API base URL (it changes when a validator restarts). */
  api: string[];
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
  receipt(
    i: number,
    hash: string,
  ): Promise<{ height: number; index: number; receipt: { code: string } } | null>;
  /** Replaces validator i's transport faults (needs faultInjection). */
  setFaults(i: number, faults: TransportFaults): Promise<void>;
  /** Validator i's Prometheus metrics text. */
  metrics(i: number): Promise<string>;
  /** Stops every process (SIGTERM), keeping their homes. */
  stopAll(): Promise<void>;
  close(): Promise<void>;
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
        peers: validators
          .map((v, j) => ({
            publicKey: hex(v.signing.publicKey),
            addresses: [`/ip4/127.0.0.1/tcp/${p2pPorts[j]}`],
          }))
          .filter((_, j) => j !== i),
        api: { host: '127.0.0.1', port: 0, ...(options.faultInjection ? { faultInjection: true } : {}) },
        consensus,
      },
    });
  }

  const children: Array<ChildProcess | null> = validators.map(() => null);
  const startCounts = validators.map(() => 0);
  const api: string[] = validators.map(() => '');
  const fetchJson = async (url: string, init?: RequestInit) => {
    const response = await retrying(url, init);
    if (!response.ok)
      throw new Error(`${init?.method ?? 'GET'} ${url}: ${response.status} ${await response.text()}`);
    return response.json() as Promise<unknown>;
  };
  const cluster: ProcessCluster = {
    dir,
    genesis,
    validators,
    admins,
    p2pPorts,
    api,
    async start(i) {
      await rm(join(homes[i]!, 'listening.json'), { force: true });
      const toFile = options.stderr === 'file';
      const child = spawn(
        process.execPath,
        [...(options.nodeArgs ?? []), BIN, 'start', '--home', homes[i]!],
        {
          env: { ...process.env, MEDLEDGER_PASSPHRASE: PASSPHRASE },
          stdio: ['ignore', 'ignore', toFile ? 'pipe' : 'inherit'],
        },
      );
      if (toFile)
        child.stderr?.pipe(createWriteStream(join(dir, `validator-${i}.stderr.log`), { flags: 'a' }));
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
      return (await fetchJson(`${api[i]}/v1/status`)) as NodeStatus;
    },
    async receipt(i, hash) {
      const response = await retrying(`${api[i]}/v1/txs/${hash}`);
      return response.status === 200
        ? ((await response.json()) as Awaited<ReturnType<ProcessCluster['receipt']>>)
        : null;
    },
    async setFaults(i, faults) {
      await fetchJson(`${api[i]}/v1/debug/faults`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(faults),
      });
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
      await rm(dir, { recursive: true, force: true });
    },
  };
  await Promise.all((options.running ?? Array.from({ length: n }, (_, i) => i)).map((i) => cluster.start(i)));
  return cluster;
}
