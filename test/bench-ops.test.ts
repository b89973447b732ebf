/**
 * The cost-per-operation benchmark (bench/ops.ts) in a tiny run: two operations of four kinds on a
 * real four-validator cluster, the last a read with the custodian's node (validator 1) killed and
 * restarted. Checks the result's shape and that every figure is positive and plausible; no timing
 * is asserted.
 */
import { describe, expect, it } from 'vitest';
import { measureOps, OBSERVATION_1KIB } from '../bench/ops-measure.ts';
import { opsSummary, opsTable } from '../bench/ops-report.ts';
import { fhirProblems } from '../src/fhir/validate.ts';

describe('bench:ops', () => {
  it('its 1 KiB record is a valid FHIR R4 Observation of exactly 1,024 bytes', () => {
    expect(Buffer.byteLength(OBSERVATION_1KIB)).toBe(1024);
    expect(fhirProblems(JSON.parse(OBSERVATION_1KIB))).toEqual([]);
  });

  it('measures CPU, bytes and latency per operation on four validators', async () => {
    const operations = [
      'org.register',
      'patient.register',
      'record.add 1 KiB',
      'record.read 1 KiB custodian down',
    ] as const;
    const result = await measureOps({ n: 2, batches: 1, operations, idleWindow_ms: 200 });

    expect(result.n).toBe(2);
    expect(result.versions.node).toBe(process.version);
    expect(result.machine.cpus).toBeGreaterThan(0);
    expect(result.view_changes).toBe(0);
    expect(result.operations.map((op) => op.operation)).toEqual(operations);
    // Idle CPU over 200 ms windows, less the cost of reading it: measured, but on a busy machine the
    // noise can exceed the idle rate itself, so only its presence is checked here.
    for (const reading of result.calibration.idle_per_s) expect(Number.isFinite(reading.cpu_us)).toBe(true);
    expect(result.chain_store.logical_bytes_added).toBeGreaterThan(0);
    expect(result.chain_store.disk_bytes).toBeGreaterThan(0);

    for (const op of result.operations) {
      expect(op.n).toBe(2);
      expect(op.cpu_us_per_op).toHaveLength(4);
      // Validator 1 was down for the last read: no figure for it.
      const up = (_: number, v: number) => op.operation !== 'record.read 1 KiB custodian down' || v !== 1;
      for (const cpu_us of op.cpu_us_per_op.filter(up)) {
        expect(cpu_us).toBeGreaterThan(0);
        expect(cpu_us).toBeLessThan(2_000_000);
      }
      for (const bytes of op.consensus_sent_bytes_per_op.filter(up)) expect(bytes).toBeGreaterThan(0);
      const chain = op.chain!;
      expect(chain.max_txs_per_block).toBe(1);
      expect(chain.tx_bytes).toBeGreaterThan(100);
      expect(chain.tx_bytes).toBeLessThan(1000);
      expect(chain.state_write_bytes).toBeGreaterThan(0);
      expect(chain.chain_store_bytes).toBeGreaterThan(chain.tx_bytes + chain.state_write_bytes);
      const { submit_to_commit } = op.latency;
      expect(submit_to_commit.p50_ms).toBeGreaterThan(0);
      expect(submit_to_commit.p90_ms).toBeGreaterThanOrEqual(submit_to_commit.p50_ms);
      // Timed from the client's own POST (the signing clients the flows make note it too).
      expect(submit_to_commit.max_ms).toBeLessThan(result.wall_s * 1000);
    }

    const [org, , record, down] = result.operations;
    expect(org!.blob_store_bytes_per_op).toBeNull();
    expect(org!.latency.client_stage).toBeNull();
    // The ciphertext and the key blob (four sealed shares), each under a manifest, on every node.
    const blobs = record!.blob_store_bytes_per_op!;
    expect(new Set(blobs).size).toBe(1);
    expect(blobs[0]).toBeGreaterThan(1024 + 4 * 81);
    expect(blobs[0]).toBeLessThan(3072);
    expect(record!.latency.client_stage!.p50_ms).toBeGreaterThan(0);
    expect(record!.latency.blobs_settled!.p50_ms).toBeGreaterThan(0);
    expect(record!.chain!.state_write_bytes).toBeGreaterThan(org!.chain!.state_write_bytes);

    expect(down!.cpu_us_per_op[1]).toBeNaN();
    expect(down!.latency.client_stage!.p50_ms).toBeGreaterThan(0);

    const table = opsTable(result);
    for (const op of result.operations) expect(table).toContain(`| ${op.label} |`);
    expect(table).toMatch(/\| [\d,]+ \/ — \/ [\d,]+ \/ [\d,]+ \|/);
    expect(opsSummary(result)).toContain(table);
  });
});
