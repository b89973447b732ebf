/**
 * One node per home: HOME/node.lock holds the pid of the node running on it. The lock is created
 * atomically (a complete temp file hard-linked into place, which fails if the lock exists), removed
 * on a clean exit, and taken over when the pid it names is no longer running. LevelDB's own LOCK on
 * the databases is the second line of defence.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, unlinkSync } from 'node:fs';
import { link, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { MedledgerError } from '../errors.ts';
import { homePaths } from './config.ts';

export interface HomeLock {
  path: string;
  /** Removes the lock if it is still ours. */
  release(): Promise<void>;
  /** The same, for an exit that cannot wait. */
  releaseSync(): void;
}

const code = (error: unknown) => (error as { code?: string }).code;

/**
 * Whether a medledger process with this pid exists (EPERM: one does, under another user). Where
 * /proc shows command lines, a live pid reused by another program does not count.
 */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return code(error) === 'EPERM';
  }
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('medledger');
  } catch {
    return true;
  }
}

export function alreadyRunning(home: string, pid: number | null): MedledgerError {
  const who = pid === null ? 'another process' : `another medledger node (pid ${pid})`;
  return new MedledgerError(
    'NODE_ALREADY_RUNNING',
    `the node home ${home} is in use by ${who}; stop it first` +
      (pid === null ? '' : `, or delete ${homePaths(home).lock} if that pid is not a medledger node`),
  );
}

async function holder(path: string): Promise<number | null> {
  try {
    const pid = Number((await readFile(path, 'utf8')).trim());
    return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
  } catch (error) {
    if (code(error) === 'ENOENT') return null;
    throw error;
  }
}

/** Takes the home's lock for this process, or fails naming the pid that holds it. */
export function lockHome(home: string): Promise<HomeLock> {
  return lockFile(homePaths(home).lock, (pid) => alreadyRunning(home, pid));
}

/**
 * Takes the lock file at `path` for this process (as lockHome does for a node home); `busy(pid)` is
 * the error when a live process holds it.
 */
export async function lockFile(
  path: string,
  busy: (pid: number | null) => MedledgerError,
): Promise<HomeLock> {
  const mine = `${process.pid}\n`;
  const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(temp, mine);
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await link(temp, path);
        break;
      } catch (error) {
        if (code(error) !== 'EEXIST') throw error;
      }
      const pid = await holder(path);
      if (pid !== null && pid !== process.pid && running(pid)) throw busy(pid);
      // Stale: its node died without removing it. Take it over (twice at most, against a race),
      // by moving it aside first and checking that what moved is the stale lock just read: two
      // starters racing for one stale lock must not delete each other's fresh one.
      if (attempt >= 2) throw busy(pid);
      const aside = `${path}.${randomBytes(6).toString('hex')}.stale`;
      try {
        await rename(path, aside);
      } catch (error) {
        if (code(error) === 'ENOENT') continue;
        throw error;
      }
      const moved = await holder(aside);
      if (moved !== pid) {
        await link(aside, path).catch(() => {}); // someone's fresh lock: put it back
        await unlink(aside).catch(() => {});
        throw busy(moved);
      }
      await unlink(aside).catch(() => {});
    }
  } finally {
    await unlink(temp).catch(() => {});
  }
  const ours = async () => (await holder(path)) === process.pid;
  return {
    path,
    async release() {
      if (await ours().catch(() => false)) await unlink(path).catch(() => {});
    },
    releaseSync() {
      try {
        if (Number(readFileSync(path, 'utf8').trim()) === process.pid) unlinkSync(path);
      } catch {}
    },
  };
}
