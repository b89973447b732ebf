/**
 * Four validator processes on this machine (127.0.0.1): committed signed transactions per second at
 * saturation, commit latency at half that load, and the time from killing the primary to the next
 * commit, next to the machine's signature bound (Ed25519 verifies per second x cores / 4) measured
 * in the same run.
 *
 *   npm run bench:cluster [-- --txs 20000] [-- --json]
 */
import { cpus } from 'node:os';
import { startProcessCluster, until } from '../src/bench/cluster.ts';
import { measureVerifyRate } from '../src/bench/measure.ts';
import { encode, list } from '../src/codec/index.ts';
import { Transaction } from '../src/ledger/index.ts';
import { orgRegistrations } from '../test/fixtures/validators.ts';

const arg = (name: string, fallback: number) => {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? Number(process.argv[at + 1]) : fallback;
};
const TOTAL_TXS = arg('txs', 20_000);
const SENDERS = 32;
const json = process.argv.includes('--json');
const log = (text: string) => {
  if (!json) console.log(text);
};

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

const verifiesPerSecond = measureVerifyRate();
const bound = (verifiesPerSecond * cpus().length) / 4;
log(
  `machine: ${cpus().length} cores, Ed25519 verify ${verifiesPerSecond.toFixed(0)}/s, bound ${bound.toFixed(0)} tx/s`,
);

const consensus = {
  requestTimeout_ms: 1000,
  viewChangeTimeout_ms: 1000,
  statusInterval_ms: 250,
  batchMaxTxs: 500,
  window: 4,
};
const cluster = await startProcessCluster({ n: 4, consensus, admins: SENDERS, stderr: 'inherit' });
try {
  await until(
    async () => (await Promise.all([0, 1, 2, 3].map((i) => cluster.status(i)))).every((s) => s.peers === 3),
    30_000,
  );
  log(`signing ${TOTAL_TXS} transactions...`);
  const nonces = new Map<number, number>();
  const txs = orgRegistrations(cluster, TOTAL_TXS, nonces);
  const txBytes = encode(Transaction, txs[0]!).length;

  // Follow commits on validator 1 and note when each transaction was seen committed.
  const committedAt = new Map<string, number>();
  let following = true;
  let nextHeight = (await cluster.status(1)).height + 1;
  // GET /v1/blocks/{h} is a node-operator route: cluster.block signs it with validator 1's operator key.
  const follower = (async () => {
    while (following) {
      const block = await cluster.block(1, nextHeight, { wait_ms: 500 });
      if (block === null) continue;
      const now = performance.now();
      for (const hash of block.txs) committedAt.set(hash, now);
      nextHeight++;
    }
  })();

  const submit = async (batch: Transaction[], node: number) => {
    const response = await fetch(`${cluster.api[node]}/v1/txs?batch=1`, {
      method: 'POST',
      body: encode(list(Transaction, 4096), batch),
    });
    const reply = (await response.json()) as {
      txHashes: string[];
      results: Array<{ accepted: boolean; error?: { code: string } }>;
    };
    // A refusal (e.g. API_RATE_LIMITED, api.maxTxPerSenderPerSecond) would skew every figure: stop.
    const refused = response.status === 202 ? reply.results.filter((r) => !r.accepted) : [];
    if (response.status !== 202 || refused.length > 0) {
      throw new Error(`node ${node} refused ${JSON.stringify(refused[0]?.error ?? reply).slice(0, 200)}`);
    }
    return reply.txHashes;
  };

  // Saturation: offer the first 70% as fast as the API takes them.
  const saturation = txs.slice(0, Math.floor(TOTAL_TXS * 0.7));
  const submittedAt = new Map<string, number>();
  const start = performance.now();
  for (let k = 0; k < saturation.length; k += 200) {
    const when = performance.now();
    for (const hash of await submit(saturation.slice(k, k + 200), (k / 200) % 4)) submittedAt.set(hash, when);
  }
  await until(() => [...submittedAt.keys()].every((h) => committedAt.has(h)), 300_000);
  const saturatedTps = saturation.length / ((Math.max(...committedAt.values()) - start) / 1000);
  const blocks = (await cluster.status(1)).height;
  log(
    `saturation: ${saturatedTps.toFixed(0)} committed tx/s (${((100 * saturatedTps) / bound).toFixed(0)}% of the signature bound), ${txBytes}-byte txs, ${(saturation.length / blocks).toFixed(0)} txs per block`,
  );

  // Half load: the remaining 30% offered at half the saturation rate, in 20 ms slices.
  const half = txs.slice(saturation.length);
  const rate = saturatedTps / 2;
  const latencies: number[] = [];
  const halfStart = performance.now();
  const halfSubmitted = new Map<string, number>();
  for (let sent = 0; sent < half.length; ) {
    const due = Math.min(half.length, Math.floor(((performance.now() - halfStart) / 1000) * rate) + 1);
    if (due > sent) {
      const when = performance.now();
      for (const hash of await submit(half.slice(sent, due), sent % 4)) halfSubmitted.set(hash, when);
      sent = due;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  await until(() => [...halfSubmitted.keys()].every((h) => committedAt.has(h)), 300_000);
  for (const [hash, at] of halfSubmitted) latencies.push(committedAt.get(hash)! - at);
  latencies.sort((a, b) => a - b);
  const p50 = percentile(latencies, 50);
  const p99 = percentile(latencies, 99);
  log(
    `half load (${rate.toFixed(0)} tx/s offered): commit latency p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms`,
  );

  // Primary crash under light load: stop following, kill the current primary, and time the next
  // block committed at another validator.
  following = false;
  await follower.catch(() => {});
  const { view } = await cluster.status(1);
  const primary = view % 4;
  const witness = (primary + 1) % 4;
  const extra = orgRegistrations(cluster, 40, nonces);
  const heightBefore = (await cluster.status(witness)).height;
  await cluster.kill(primary);
  const killedAt = performance.now();
  await submit(extra, witness);
  while ((await cluster.block(witness, heightBefore + 1, { wait_ms: 2000 })) === null) {
    if (performance.now() - killedAt > 60_000) throw new Error('no commit within 60 s of the primary crash');
  }
  const resumeMs = performance.now() - killedAt;
  log(
    `primary (validator ${primary}) killed: next commit after ${resumeMs.toFixed(0)} ms (request timeout ${consensus.requestTimeout_ms} ms)`,
  );
  if (cluster.throttled > 0) {
    log(
      `note: the validators refused ${cluster.throttled} signed block requests for their bound on one signer's requests (429); commits were seen late by the wait`,
    );
  }

  if (json) {
    console.log(
      JSON.stringify({
        machine: {
          cores: cpus().length,
          node: process.version,
          ed25519VerifyPerSecond: Math.round(verifiesPerSecond),
        },
        signatureBoundTps: Math.round(bound),
        txBytes,
        saturationTps: Math.round(saturatedTps),
        ratioToBound: saturatedTps / bound,
        halfLoad: { offeredTps: Math.round(rate), p50_ms: p50, p99_ms: p99 },
        primaryCrashToCommit_ms: Math.round(resumeMs),
        throttledBlockRequests: cluster.throttled,
      }),
    );
  }
} finally {
  await cluster.close();
}
