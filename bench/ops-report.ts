/**
 * The cost-per-operation report: one Markdown table (printed and written to summary.md) and the
 * method behind each column, with the machine, versions and calibration of the run.
 */
import type { Latency, OperationCost, OpsResult } from './ops-measure.ts';

const integer = (x: number) => Math.round(x).toLocaleString('en-US');
const ms = (x: number) => (x < 100 ? x.toFixed(1) : integer(x));
const span = (l: Latency | null) => (l ? `${ms(l.p50_ms)} / ${ms(l.p90_ms)}` : '—');
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
/** A validator that was down has NaN (null once read back from result.json): shown as "—". */
const up = (x: number | null) => x !== null && Number.isFinite(x);
const perValidator = (x: number) => (up(x) ? integer(x) : '—');

/** The table: one row per operation. */
export function opsTable(result: OpsResult): string {
  const rows = [
    '| operation | tx bytes | state writes bytes | chain store bytes | blob files bytes per node | ' +
      'CPU µs per validator: v0 / v1 / v2 / v3 | consensus bytes sent (4 validators) | ' +
      'submit → committed p50 / p90 ms | client stage p50 / p90 ms | blobs on every node p50 / p90 ms |',
    '|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
  ];
  for (const op of result.operations) rows.push(row(op));
  return rows.join('\n');
}

function row(op: OperationCost): string {
  const blobs = op.blob_store_bytes_per_op;
  const sameOnAll = blobs?.every((x) => Math.abs(x - blobs[0]!) < 1);
  return [
    '',
    op.label,
    op.chain ? integer(op.chain.tx_bytes) : '—',
    op.chain ? integer(op.chain.state_write_bytes) : '—',
    op.chain ? integer(op.chain.chain_store_bytes) : '—',
    blobs ? (sameOnAll ? integer(blobs[0]!) : blobs.map(integer).join(' / ')) : '0',
    op.cpu_us_per_op.map(perValidator).join(' / '),
    consensusBytes(op.consensus_sent_bytes_per_op),
    span(op.latency.submit_to_commit),
    op.latency.client_stage ? `${span(op.latency.client_stage)} (${op.latency.client_stage_is})` : '—',
    op.latency.blobs_settled ? `${span(op.latency.blobs_settled)} (${op.latency.blobs_settled_is})` : '—',
    '',
  ]
    .join(' | ')
    .trim();
}

/** The validators' total, or the running ones' with how many they were. */
function consensusBytes(perValidator: number[]): string {
  const running = perValidator.filter(up);
  const total = integer(sum(running));
  return running.length === perValidator.length ? total : `${total} (${running.length} up)`;
}

/** summary.md: the table, what each column means, and the run's context. */
export function opsSummary(result: OpsResult): string {
  const c = result.calibration;
  const cpu = (readings: { cpu_us: number }[]) => readings.map((r) => integer(r.cpu_us)).join(' / ');
  const m = result.machine;
  const ratio = result.chain_store.disk_bytes / result.chain_store.logical_bytes_added;
  return `# Cost per operation

Four validator processes on one machine (127.0.0.1), N = ${result.n} operations of each kind run
back-to-back after one warm-up; each operation waits for its commit, so each is alone in its block.
Produced by \`npm run bench:ops\` (bench/ops.ts); everything measured is in \`result.json\`.

${opsTable(result)}

Validators: v0 is the primary; v1 is hospital A's node (the network admin, A's staff and the
patients, who registered at A, submit through it; A is the custodian of every record); v2 is
hospital B's node (B's doctor reads and requests, B's nurse breaks the glass through it, and for each
read it gathers a key share from every validator); v3 is a plain backup. For "custodian's node (v1)
down", v1 was killed before the warm-up and restarted (and waited for: ready, connected, caught up)
after the batches: the reads' keys were rebuilt from the shares of v0, v2 and v3 (threshold 2 of 4),
and v1's CPU column is "—".

## What each column is

- **tx bytes**: the signed transaction as encoded in the block (canonical msgpack: type, body,
  nonce, chain id, sender key, signature), read from the chain store.
- **state writes bytes**: the keys and values the rule engine wrote to state for the operation,
  from the block's recorded write set (audit entries under four key orders included).
- **chain store bytes**: what the chain store grew by, in logical bytes (keys and values before
  LevelDB's compression), from the stopped store: the block (header and transaction), its commit
  certificate, the receipts, the write set kept as history, the hash, transaction and patient/record
  index entries, and the net growth of the live state. One operation per block, so the block's fixed
  parts (header, certificate, hash entry) count in full; in a busy block they are shared. On disk,
  compressed, the whole chain store took ${integer(result.chain_store.disk_bytes)} bytes for
  ${integer(result.chain_store.logical_bytes_added)} logical bytes added over ${integer(result.chain_store.blocks)}
  blocks (× ${ratio.toFixed(2)}, LevelDB's log and tables included).
- **blob files bytes per node**: growth of each node's blob files (the ciphertext's chunks and
  manifest, and the key blob, the data key's shares sealed to the validators, with its own
  manifest) once replication settled; the same on all four nodes unless four figures are shown. An erase removes them (negative). Besides, the blob store's LevelDB index (references,
  tombstones) grows by a few hundred bytes per record, on disk; \`result.json\` has it.
- **CPU µs per validator**: each validator process's CPU time (user + system, every thread:
  process.cpuUsage, read from its \`/metrics\` as \`medledger_process_process_cpu_seconds_total\`)
  over a batch of operations, minus the CPU one \`/metrics\` read costs (median of back-to-back
  reads: ${cpu(c.per_reading)} µs) and the idle rate over the batch's wall time (${cpu(c.idle_per_s)} µs
  per second: status messages every 250 ms, timers; ${cpu(c.idle_at_end_per_s ?? [])} measured again at
  the end), ÷ the batch's size; the median of ${result.batches} batches of ${integer(result.n / result.batches)}.
  The kernel's count (utime + stime from \`/proc/PID/stat\`, 10 ms ticks), treated the same way, and
  the user/system split are in \`result.json\` as a cross-check. It is everything the operation
  makes that validator do: the HTTP API, signature checks, the consensus round of its block
  (PRE-PREPARE, PREPARE, COMMIT, each vote persisted), execution, the synced block append, a
  checkpoint every ${result.cluster.checkpointInterval} blocks, blob upload and replication, for reads
  the key-share protocol (every validator checks the permit and re-seals its share) and streaming,
  blob deletion for erasures. Alone in its block, an operation pays the block's whole consensus
  round; in full blocks that round is shared (the saturation benchmark's 250–290 µs per transaction
  per validator).
- **consensus bytes sent**: consensus-protocol bytes all four validators sent per operation
  (\`medledger_consensus_message_bytes_total\`, idle rate removed); blob replication and the key
  protocol are other protocols and not in it.
- **submit → committed**: from the client's POST of the signed transaction to its committed answer
  (the node holds the request until the commit). For reads, the audited \`record.read\` transaction.
- **client stage**: record add, encrypting (AES-256-GCM) and uploading the ciphertext, then
  splitting the key into the key blob and uploading it, before the submit (the look-ups of the
  patient's key and the validators included); read, from the permit's commit to the plaintext
  written: the key blob and a share from every reachable validator (each re-sealed to the reader,
  gathered by hospital B's node over the key-share protocol), the shares checked against their
  commitments and combined, ciphertext streamed, CID checked, decrypted, file written atomically.
- **blobs on every node**: record add, from the commit to the ciphertext and the key blob being on
  all four nodes (the other three pull them from hospital A's node); erase, from the commit to both
  being deleted on all four. Read from the nodes' directories, not by asking the nodes. The next
  operation starts after it.

## Run

- ${m.cpuModel}, ${m.cpus} CPUs, ${integer(m.memory_bytes / 2 ** 30)} GiB; ${m.platform} ${m.release} ${m.arch}
- Node.js ${result.versions.node}, medledger ${result.versions.medledger}, commit ${result.versions.commit ?? 'unknown'}
- N = ${result.n} per operation (after one warm-up), in ${result.batches} batches; wall time ${result.wall_s.toFixed(1)} s (cluster start and set-up included); view changes: ${result.view_changes}
`;
}
