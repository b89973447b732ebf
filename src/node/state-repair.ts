/**
 * Repairing the current state at start, after the node stopped because its state diverged.
 *
 * The state root is a hash chain over each block's state writes and receipts (ledger/state-root.ts),
 * not a hash of the current state, so a damaged state value cannot be seen by hashing the state: it
 * shows when a transaction reads it and the node's state root differs from the certified one
 * (NODE_STATE_DIVERGED, driver/executor.ts). Before the node stops, the daemon leaves a mark in the
 * data directory (`markStateSuspect`); at the next start, `repairStateIfMarked` rebuilds the state
 * from the stored blocks before consensus opens:
 *
 * - every block is read checked (hash and tx root), and its stored writes and receipts are checked
 *   against the header's state root; where they fail, the block is re-executed on the state rebuilt
 *   so far, and the result must reproduce the certified root;
 * - the current state is compared key by key with the one the writes build, and what differs is
 *   rewritten, with the failed per-block records, in one synced batch.
 *
 * When nothing on disk differs, the divergence was not this node's disk: it refuses to start
 * (NODE_STATE_DIVERGED) with what to do, rather than diverge again under a supervisor, and keeps the
 * mark so that later starts refuse at once. Logs carry heights and counts, never keys or values.
 */
import { existsSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bytesEqual, fromHex, hex } from '../bytes.ts';
import { executeBlock, genesisState } from '../contracts/index.ts';
import { MedledgerError } from '../errors.ts';
import {
  ChainStore,
  CorruptBlockError,
  type Genesis,
  nextStateRoot,
  type Receipt,
  type StateWrite,
  ZERO_HASH,
} from '../ledger/index.ts';
import type { Logger } from '../logger.ts';

/** The mark's file name in the data directory. */
export const STATE_MARK_FILE = 'state-suspect.json';

interface StateMark {
  code: string;
  message: string;
  at: string;
  /** Set once a rebuild found the stored state sound: the next start refuses without rebuilding. */
  checkedClean?: boolean;
}

export interface StateRepairReport {
  blocks: number;
  stateKeys: number;
  /** State keys set or deleted to match the blocks. */
  keysRepaired: number;
  /** Heights whose stored writes and receipts were rebuilt by re-executing the block. */
  blocksReexecuted: number[];
  elapsed_ms: number;
}

/**
 * What the daemon does when the node stops itself: on NODE_STATE_DIVERGED, leaves the mark. True
 * when it did.
 */
export function markIfDiverged(dataDir: string, error: Error): boolean {
  if ((error as MedledgerError).code !== 'NODE_STATE_DIVERGED') return false;
  markStateSuspect(dataDir, error);
  return true;
}

/** Leaves the mark that makes the next start rebuild the state (synchronous: called as the node stops). */
export function markStateSuspect(dataDir: string, error: Error): void {
  const mark: StateMark = {
    code: (error as MedledgerError).code ?? 'NODE_STATE_DIVERGED',
    message: error.message,
    at: new Date().toISOString(),
  };
  writeMark(dataDir, mark);
}

function writeMark(dataDir: string, mark: StateMark): void {
  const path = join(dataDir, STATE_MARK_FILE);
  writeFileSync(`${path}.tmp`, JSON.stringify(mark));
  renameSync(`${path}.tmp`, path);
}

function readMark(dataDir: string): StateMark | null {
  const path = join(dataDir, STATE_MARK_FILE);
  if (!existsSync(path)) return null;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as StateMark;
  } catch {
    return { code: 'NODE_STATE_DIVERGED', message: 'unreadable mark', at: '' };
  }
}

/**
 * Rebuilds the state when the data directory holds the mark; null when it does not. Throws
 * NODE_STATE_DIVERGED when the stored state and chain agree (nothing here explains the divergence),
 * NODE_STATE_UNREPAIRABLE when re-executing a block does not reproduce its certified state root, and
 * CHAIN_BLOCK_CORRUPT when a block itself is damaged (the node repairs those from peers while it
 * runs; the mark stays, so a later start rebuilds).
 */
export async function repairStateIfMarked(
  dataDir: string,
  genesis: Genesis,
  log: Logger,
): Promise<StateRepairReport | null> {
  const mark = readMark(dataDir);
  if (!mark) return null;
  const markPath = join(dataDir, STATE_MARK_FILE);
  if (mark.checkedClean) throw unexplained(markPath, mark);
  log.warn(
    { code: mark.code },
    'the last run stopped on a diverged state: rebuilding the state from the blocks',
  );
  const store = await ChainStore.open(join(dataDir, 'chain'), genesis, genesisState(genesis));
  let report: StateRepairReport;
  try {
    report = await rebuildState(store);
  } catch (error) {
    if (!(error instanceof CorruptBlockError)) throw error;
    // A damaged block: the running node repairs it from its peers; the mark stays for the next start.
    log.warn(
      { height: error.height, code: error.code },
      'state rebuild postponed: a stored block is corrupt',
    );
    return null;
  } finally {
    await store.close();
  }
  if (report.keysRepaired === 0 && report.blocksReexecuted.length === 0) {
    writeMark(dataDir, { ...mark, checkedClean: true });
    throw unexplained(markPath, mark);
  }
  unlinkSync(markPath);
  log.warn({ ...report, code: 'NODE_STATE_REPAIRED' }, 'repaired the state from the stored blocks');
  return report;
}

function unexplained(markPath: string, mark: StateMark): MedledgerError {
  return new MedledgerError(
    'NODE_STATE_DIVERGED',
    `the last run marked the state for a rebuild (${mark.code}: ${mark.message}), but the stored ` +
      'state and blocks agree, so the cause is not damage on this disk: compare `medledger chain verify` and the ' +
      "release with another validator's before restarting; delete " +
      `${markPath} to start anyway`,
  );
}

/**
 * Checks the store's per-block records and current state against its blocks, and rewrites what
 * differs (see the module comment). The store must not be in use by a running node.
 */
export async function rebuildState(store: ChainStore): Promise<StateRepairReport> {
  const started = performance.now();
  const expected = new Map<string, Uint8Array>();
  const reader = { get: (key: Uint8Array) => expected.get(hex(key)) };
  const records: Array<{ height: number; receipts: Receipt[]; writes: StateWrite[] }> = [];
  let root: Uint8Array = ZERO_HASH;
  const head = store.head.height;
  for (let height = 0; height <= head; height++) {
    const block = await store.block(height);
    if (!block) throw new MedledgerError('LEDGER_CORRUPT', `block ${height} is missing below the head`);
    let writes = await store.writes(height).catch(() => undefined);
    let receipts = await store.receipts(height).catch(() => undefined);
    const sound = (w?: StateWrite[], r?: Receipt[]) =>
      w !== undefined && r !== undefined && bytesEqual(nextStateRoot(root, w, r), block.header.stateRoot);
    if (!sound(writes, receipts)) {
      const ctx = {
        chainId: store.genesis.chainId,
        height,
        timestamp_ms: block.header.timestamp,
        genesis: store.genesis,
      };
      const result =
        height === 0 ? { writes: store.genesisState, receipts: [] } : executeBlock(reader, ctx, block.txs);
      ({ writes, receipts } = result);
      if (!sound(writes, receipts)) {
        throw new MedledgerError(
          'NODE_STATE_UNREPAIRABLE',
          `re-executing block ${height} does not reproduce its certified state root: the state cannot ` +
            'be rebuilt from this chain; restore the data directory from a backup or another validator',
        );
      }
      records.push({ height, writes: writes!, receipts: receipts! });
    }
    for (const { key, value } of writes!) {
      if (value === null) expected.delete(hex(key));
      else expected.set(hex(key), value);
    }
    root = block.header.stateRoot;
  }
  const stateKeys = expected.size;
  const fix: StateWrite[] = [];
  for await (const [key, value] of store.stateEntries()) {
    const id = hex(key);
    const want = expected.get(id);
    if (want === undefined) fix.push({ key, value: null });
    else if (!bytesEqual(want, value)) fix.push({ key, value: want });
    expected.delete(id);
  }
  for (const [id, value] of expected) fix.push({ key: fromHex(id), value });
  await store.repairState({ state: fix, records });
  return {
    blocks: head + 1,
    stateKeys,
    keysRepaired: fix.length,
    blocksReexecuted: records.map((r) => r.height),
    elapsed_ms: Math.round(performance.now() - started),
  };
}
