/**
 * Catch-up: a validator that was down while the others committed many blocks comes back and fetches
 * them (block sync over libp2p, each block checked against its commit certificate, executed and
 * stored). Reports blocks per minute from the restarted process's first answer to its reaching the
 * others' height, and including its start-up.
 *
 *   npm run bench:catchup [-- --blocks 3000] [-- --json]
 */

import { startProcessCluster, until } from '../src/bench/cluster.ts';
import { encode, list } from '../src/codec/index.ts';
import { Transaction } from '../src/ledger/index.ts';
import { orgRegistrations } from '../test/fixtures/validators.ts';

const arg = (name: string, fallback: number) => {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? Number(process.argv[at + 1]) : fallback;
};
const BLOCKS = arg('blocks', 3000);
const TXS_PER_BLOCK = 2;
const json = process.argv.includes('--json');
const log = (text: string) => {
  if (!json) console.log(text);
};

const cluster = await startProcessCluster({
  n: 4,
  // Small blocks, so that many of them commit quickly.
  consensus: { batchMaxTxs: TXS_PER_BLOCK, window: 8, requestTimeout_ms: 2000, viewChangeTimeout_ms: 2000 },
  admins: 32,
  stderr: 'file',
});
try {
  await until(async () => (await cluster.status(0)).peers === 3, 30_000);
  await cluster.kill(3);
  log(`validator 3 stopped at height ${(await cluster.status(0)).height}; committing ${BLOCKS} blocks...`);
  const txs = orgRegistrations(cluster, BLOCKS * TXS_PER_BLOCK);
  const Batch = list(Transaction, 4096);
  for (let at = 0; at < txs.length; at += 500) {
    const body = encode(Batch, txs.slice(at, at + 500));
    await fetch(`${cluster.api[0]}/v1/txs?batch=1`, { method: 'POST', body });
    // Keep the mempool small: wait until most of this batch committed before the next.
    await until(async () => (await cluster.status(0)).height * TXS_PER_BLOCK >= at, 120_000);
  }
  await until(async () => (await cluster.status(0)).height >= BLOCKS, 300_000);
  const target = (await cluster.status(0)).height;
  log(`the others are at height ${target}; restarting validator 3...`);
  const started = performance.now();
  await cluster.start(3);
  const answered = performance.now();
  const from = (await cluster.status(3)).height;
  await until(async () => (await cluster.status(3)).height >= target, 600_000);
  const done = performance.now();
  const blocks = target - from;
  const perMinute = (blocks * 60_000) / (done - answered);
  const perMinuteWithStart = (blocks * 60_000) / (done - started);
  const result = {
    fetched_blocks: blocks,
    txs_per_block: TXS_PER_BLOCK,
    catch_up_ms: Math.round(done - answered),
    start_up_ms: Math.round(answered - started),
    blocks_per_minute: Math.round(perMinute),
    blocks_per_minute_including_start: Math.round(perMinuteWithStart),
  };
  if (json) console.log(JSON.stringify(result));
  else {
    log(`validator 3 answered after ${result.start_up_ms} ms at height ${from}`);
    log(`caught up ${blocks} blocks in ${result.catch_up_ms} ms: ${result.blocks_per_minute} blocks/min`);
    log(`including start-up: ${result.blocks_per_minute_including_start} blocks/min (goal: >= 20,000)`);
  }
} finally {
  await cluster.close();
}
