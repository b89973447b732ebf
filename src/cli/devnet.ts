/**
 * `medledger devnet`: four validators on this machine, each a `medledger start` process, with
 * generated keys and a genesis that has one demo network admin. The directory survives restarts:
 * running the command again on it resumes the same chain. Ctrl-C stops all four cleanly.
 *
 * A devnet is for trying medledger out: its keystores share one passphrase, printed on start.
 *
 * A validator that stops is restarted after two seconds, unless its home holds a file named `hold`:
 * then it stays down until the file is removed, so an outage can be tried for as long as one likes.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve as resolvePath } from 'node:path';
import type { Command } from 'commander';
import { generateIdentityKeys, writeKeystore } from '../crypto/index.ts';
import { MedledgerError } from '../errors.ts';
import { DEFAULT_PARAMS, type Genesis } from '../ledger/index.ts';
import { homePaths } from '../node/config.ts';
import { migrateLegacySettings, writeHome } from '../node/home.ts';
import { lockFile } from '../node/lock.ts';
import { projectPath } from '../paths.ts';

const VALIDATORS = 4;
export const DEVNET_PASSPHRASE = 'medledger-devnet';
const bin = projectPath('bin/medledger.js');
const walkthrough = projectPath('examples/walkthrough.sh');

export function defaultDevnetDir(): string {
  const dataHome = process.env.XDG_DATA_HOME || join(homedir(), '.local', 'share');
  return join(dataHome, 'medledger', 'devnet');
}

interface DevnetLayout {
  basePort: number;
  homes: string[];
  apis: string[];
}

async function create(dir: string, basePort: number): Promise<DevnetLayout> {
  const validators = Array.from({ length: VALIDATORS }, () => generateIdentityKeys());
  const admin = generateIdentityKeys();
  const p2p = (i: number) => `/ip4/127.0.0.1/tcp/${basePort + i}`;
  const genesis: Genesis = {
    chainId: 'medledger-devnet',
    genesisTime: Date.now(),
    validators: validators.map((v, i) => ({
      name: `validator-${i + 1}`,
      publicKey: v.signing.publicKey,
      encryptionKey: v.encryption.publicKey,
      addresses: [p2p(i)],
    })),
    networkAdmins: [
      { name: 'devnet admin', publicKey: admin.signing.publicKey, encryptionKey: admin.encryption.publicKey },
    ],
    organisations: [],
    params: DEFAULT_PARAMS,
  };
  const homes = validators.map((_, i) => join(dir, `validator-${i + 1}`));
  for (const [i, home] of homes.entries()) {
    await writeHome({
      home,
      genesis,
      keys: validators[i]!,
      passphrase: DEVNET_PASSPHRASE,
      settings: {
        listen: [p2p(i)],
        api: { host: '127.0.0.1', port: basePort + 100 + i },
      },
    });
  }
  await writeKeystore(join(dir, 'admin.key'), admin, DEVNET_PASSPHRASE, { overwrite: true });
  const layout = { basePort, homes, apis: homes.map((_, i) => `http://127.0.0.1:${basePort + 100 + i}`) };
  await writeFile(join(dir, 'devnet.json'), `${JSON.stringify(layout, null, 2)}\n`);
  return layout;
}

async function waitReady(api: string, child: ChildProcess, timeout_ms: number): Promise<void> {
  const deadline = Date.now() + timeout_ms;
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new MedledgerError(
        'DEVNET_NODE_EXITED',
        `a validator exited (code ${child.exitCode}); see its node.log`,
      );
    try {
      if ((await fetch(`${api}/healthz`)).ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new MedledgerError('DEVNET_TIMEOUT', `${api} did not come up within ${timeout_ms} ms`);
}

function devnetRunning(dir: string, pid: number | null): MedledgerError {
  return new MedledgerError(
    'DEVNET_ALREADY_RUNNING',
    `a devnet is already running in ${dir}${pid === null ? '' : ` (pid ${pid})`}; use it (its APIs are ` +
      `in ${join(dir, 'devnet.json')}), or stop it first with Ctrl-C in its terminal` +
      (pid === null ? '' : ` or kill ${pid}`),
  );
}

/**
 * A devnet an earlier medledger created has a genesis of chain format 1 (validators without an
 * `encryptionKey`): its validators would each exit at start. Say so once, with what to do.
 */
async function refuseOldFormat(dir: string, home: string): Promise<void> {
  let doc: { validators?: unknown };
  try {
    doc = JSON.parse(await readFile(homePaths(home).genesis, 'utf8'));
  } catch {
    return; // the validator's own start names what is wrong with the file
  }
  const validators = Array.isArray(doc?.validators) ? doc.validators : [];
  if (validators.some((v) => v && typeof v === 'object' && !('encryptionKey' in v))) {
    throw new MedledgerError(
      'DEVNET_OLD_FORMAT',
      `the devnet in ${dir} was created by an earlier medledger (chain format 1), which this release ` +
        `cannot resume: remove the directory (rm -r ${dir}) to create a new devnet, or give another --dir`,
    );
  }
}

const RESTART_DELAY_MS = 2000;
/** A validator whose home holds this file is not restarted until it is removed. */
export const HOLD_FILE = 'hold';
const HOLD_POLL_MS = 250;
const MAX_RESTARTS_PER_MINUTE = 5;

export function addDevnetCommand(program: Command, out: (text: string) => void): void {
  program
    .command('devnet')
    .description('run four validators on this machine (created on first run, resumed afterwards)')
    .option('--dir <dir>', 'where the devnet lives', defaultDevnetDir())
    .option('--base-port <port>', 'p2p ports are base..base+3, API ports base+100..base+103', '26600')
    .option('--json', 'print the endpoints as one JSON object')
    .addHelpText('after', '\nExample:\n  medledger devnet --dir ./devnet')
    .action(async (options: { dir: string; basePort: string; json?: boolean }) => {
      const basePort = Number(options.basePort);
      if (!Number.isInteger(basePort) || basePort < 1024 || basePort > 65_000) {
        throw new MedledgerError('DEVNET_BAD_PORT', '--base-port must be an integer between 1024 and 65000');
      }
      // One devnet per directory: a second would fight the first for its homes and ports.
      await mkdir(options.dir, { recursive: true });
      const lock = await lockFile(join(options.dir, 'devnet.lock'), (pid) => devnetRunning(options.dir, pid));
      try {
        await runDevnet(options, basePort, out);
      } finally {
        await lock.release();
      }
    });
}

async function runDevnet(
  options: { dir: string; json?: boolean },
  basePort: number,
  out: (text: string) => void,
): Promise<void> {
  const existing = join(options.dir, 'devnet.json');
  const resumed = existsSync(existing);
  const layout: DevnetLayout = resumed
    ? JSON.parse(await readFile(existing, 'utf8'))
    : await create(options.dir, basePort);
  if (resumed) {
    await refuseOldFormat(options.dir, layout.homes[0]!);
    for (const home of layout.homes) await migrateLegacySettings(home);
  }
  // Each validator's settings are in its config.toml; the caller's overrides would apply to all four.
  const env = Object.fromEntries(
    Object.entries(process.env).filter(
      ([name]) => !name.startsWith('MEDLEDGER_') || name === 'MEDLEDGER_LOG_LEVEL',
    ),
  );
  const spawnValidator = (home: string) => {
    const log = createWriteStream(join(home, 'node.log'), { flags: 'a' });
    // Its own process group, so a Ctrl-C reaches the devnet alone, which then stops each
    // validator once; the IPC channel stops a validator whose devnet died without doing so.
    const child = spawn(process.execPath, [bin, 'start', '--home', home], {
      env: { ...env, MEDLEDGER_PASSPHRASE: DEVNET_PASSPHRASE },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      detached: true,
    });
    child.stdout!.pipe(log);
    child.stderr!.pipe(log);
    return child;
  };
  const children = layout.homes.map(spawnValidator);
  let stopping = false;
  const stopAll = async () => {
    stopping = true;
    await Promise.all(
      children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGTERM');
          }),
      ),
    );
  };
  try {
    await Promise.all(layout.apis.map((api, i) => waitReady(api, children[i]!, 60_000)));
  } catch (error) {
    await stopAll();
    throw error;
  }
  const info = {
    dir: options.dir,
    resumed,
    apis: layout.apis,
    /** The web portal every node serves; this is the first validator's. */
    portal: `${layout.apis[0]}/app`,
    adminKeystore: join(options.dir, 'admin.key'),
    passphrase: DEVNET_PASSPHRASE,
    logs: layout.homes.map((home) => join(home, 'node.log')),
    /** Each validator's operator key: block show, tx show and chain verify --node take it. */
    operatorKeys: layout.homes.map((home) => homePaths(home).operatorKey),
    walkthrough: `DEVNET=${resolvePath(options.dir)} bash ${walkthrough}`,
  };
  if (options.json) out(JSON.stringify(info));
  else {
    out(`medledger devnet ${resumed ? 'resumed' : 'created'} in ${options.dir}`);
    for (const [i, api] of layout.apis.entries())
      out(`  validator-${i + 1}  API ${api}  log ${info.logs[i]}`);
    out(`  web portal: ${info.portal} (sign in with a keystore, or a validator's operator.key)`);
    out(`  network admin keystore: ${info.adminKeystore} (passphrase: ${DEVNET_PASSPHRASE})`);
    out(
      `  operator keys (block show, tx show, chain verify --node): --operator-key ${join(options.dir, 'validator-N', 'operator.key')}`,
    );
    out(
      `  operator commands: export MEDLEDGER_PASSPHRASE=${DEVNET_PASSPHRASE} MEDLEDGER_NODE=${layout.apis[0]}`,
    );
    out(`  the README walkthrough, from an empty directory: ${info.walkthrough}`);
    out('devnet ready; Ctrl-C stops all four validators');
  }
  // A validator that stops (killed, crashed) is started again after a pause, as a supervisor
  // would; the others carry on, and it catches up. One that keeps failing stops the devnet.
  await new Promise<void>((resolve) => {
    // A closed terminal (SIGHUP) stops the devnet as Ctrl-C does, and says so.
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.once(signal, () => {
        out(`devnet stopping (${signal})`);
        resolve();
      });
    }
    const restarts = layout.homes.map(() => [] as number[]);
    const supervise = (i: number) => {
      children[i]!.once('exit', (code, signal) => {
        if (stopping) return;
        const now = Date.now();
        restarts[i] = restarts[i]!.filter((t) => now - t < 60_000).concat(now);
        if (restarts[i]!.length > MAX_RESTARTS_PER_MINUTE) {
          out(`validator-${i + 1} keeps stopping; see ${join(layout.homes[i]!, 'node.log')}`);
          process.exitCode = 1;
          return resolve();
        }
        const hold = join(layout.homes[i]!, HOLD_FILE);
        const held = existsSync(hold);
        out(
          held
            ? `validator-${i + 1} stopped (${signal ?? `exit ${code}`}); held down until ${hold} is removed`
            : `validator-${i + 1} stopped (${signal ?? `exit ${code}`}); restarting it in ${RESTART_DELAY_MS} ms`,
        );
        const restart = () => {
          if (stopping) return;
          if (existsSync(hold)) return void setTimeout(restart, HOLD_POLL_MS);
          if (held) restarts[i] = []; // an outage asked for is not a crash loop
          children[i] = spawnValidator(layout.homes[i]!);
          supervise(i);
        };
        setTimeout(restart, held ? HOLD_POLL_MS : RESTART_DELAY_MS);
      });
    };
    for (const i of children.keys()) supervise(i);
  });
  await stopAll();
  out('devnet stopped');
}
