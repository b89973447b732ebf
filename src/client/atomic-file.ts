/**
 * Writing a file all-or-nothing: the bytes go to a private temp file beside the target, which is
 * synced and renamed over it only once the whole stream has arrived (and checked). On any error
 * the temp file is removed: a partial file is never left under the target's name.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, open, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { MedledgerError } from '../errors.ts';

/** Fails early (before any work that cannot be undone) if `path` cannot be written. */
export async function checkWritable(path: string, overwrite: boolean): Promise<void> {
  const directory = dirname(path);
  try {
    if (!(await stat(directory)).isDirectory()) throw new Error('not a directory');
  } catch {
    throw new MedledgerError('FILE_NOT_FOUND', `no directory ${directory} to write ${basename(path)} into`);
  }
  if (overwrite) return;
  try {
    await lstat(path);
  } catch {
    return;
  }
  throw new MedledgerError('FILE_EXISTS', `${path} already exists; pass --force to replace it`);
}

/**
 * Streams `source` into `path` atomically; `beforeCommit` runs after the last byte is written and
 * may throw to abandon the file. Returns the number of bytes written.
 */
export async function writeFileAtomically(
  path: string,
  source: AsyncIterable<Uint8Array>,
  beforeCommit: () => void = () => {},
): Promise<number> {
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  let written = 0;
  let closed = false;
  try {
    for await (const piece of source) {
      await handle.write(piece);
      written += piece.length;
    }
    beforeCommit();
    await handle.sync();
    await handle.close();
    closed = true;
    await rename(temp, path);
    return written;
  } catch (error) {
    if (!closed) await handle.close().catch(() => {});
    await unlink(temp).catch(() => {});
    throw error;
  }
}
