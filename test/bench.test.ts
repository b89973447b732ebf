/**
 * `medledger bench` end to end through the real command entry: a short simulated scenario and a
 * short one on real validator processes, each with faults, checked for what their reports contain
 * (not for speed); malformed scenarios rejected with the path of the offending field.
 */
import { readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { BenchResult } from '../src/bench/result.ts';
import { parseScenarioText } from '../src/bench/scenario.ts';
import { main } from '../src/cli/main.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'medledger-bench-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs `medledger ARGS` in this process; returns its exit code and what it wrote. */
async function medledger(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    stdout += String(chunk);
    return true;
  });
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
    stderr += String(chunk);
    return true;
  });
  try {
    const code = await main(['node', 'medledger', ...args]);
    return { code, stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

async function scenarioFile(name: string, scenario: object): Promise<string> {
  const path = join(dir, `${name}.json`);
  await writeFile(path, JSON.stringify(scenario));
  return path;
}

/** What every report must hold, whatever the mode. */
function checkReport(result: BenchResult, seed: number): void {
  expect(result.version).toBe(1);
  expect(result.seed).toBe(seed);
  expect(result.scenario.seed).toBe(seed);
  expect(result.machine.cpus).toBeGreaterThan(0);
  expect(result.machine.cpuModel.length).toBeGreaterThan(0);
  expect(result.machine.memory_bytes).toBeGreaterThan(0);
  expect(result.versions.node).toBe(process.version);
  expect(result.versions.medledger).toMatch(/^\d+\.\d+\.\d+/);
  expect(result.signatureBound.verifiesPerSecond).toBeGreaterThan(0);
  expect(result.signatureBound.bound_txps).toBe(
    Math.round(
      (result.signatureBound.verifiesPerSecond * result.signatureBound.cores) /
        result.signatureBound.validators,
    ),
  );
  // 1-second buckets from t = 0, adding up to every commit.
  const buckets = result.throughput.buckets;
  expect(buckets.length).toBeGreaterThanOrEqual(2);
  expect(buckets.map((b) => b.t_s)).toEqual(buckets.map((_, i) => i));
  expect(buckets.reduce((sum, b) => sum + b.txs, 0)).toBe(result.committedTxs);
  expect(result.committedTxs).toBeGreaterThan(0);
  expect(result.committedBlocks).toBeGreaterThan(0);
  expect(result.throughput.mean_txps).toBeGreaterThan(0);
  expect(result.throughput.peak_txps).toBeGreaterThanOrEqual(result.throughput.mean_txps * 0.5);
  // Percentiles present and ordered; the distribution is monotone.
  const l = result.latency;
  expect(l.count).toBeGreaterThan(0);
  expect(l.p50_ms).toBeGreaterThan(0);
  expect(l.p50_ms).toBeLessThanOrEqual(l.p90_ms);
  expect(l.p90_ms).toBeLessThanOrEqual(l.p99_ms);
  expect(l.p99_ms).toBeLessThanOrEqual(l.p99_9_ms);
  expect(l.p99_9_ms).toBeLessThanOrEqual(l.max_ms * 1.001);
  expect(l.distribution.length).toBeGreaterThan(10);
  for (let i = 1; i < l.distribution.length; i++) {
    expect(l.distribution[i]!.percentile).toBeGreaterThan(l.distribution[i - 1]!.percentile);
    expect(l.distribution[i]!.value_ms).toBeGreaterThanOrEqual(l.distribution[i - 1]!.value_ms);
  }
  expect(typeof l.hdrHistogram).toBe('string');
  expect(result.messages.total).toBeGreaterThan(0);
  expect(result.messages.perBlock).toBeGreaterThan(0);
  expect(result.messages.bytesPerBlock).toBeGreaterThan(0);
}

describe('medledger bench', () => {
  it('runs a simulated scenario with crash, partition and link faults, and reports it in virtual time', async () => {
    const file = await scenarioFile('sim-short', {
      name: 'sim-short',
      mode: 'sim',
      validators: 4,
      load: { rate_tps: 300, txBytes: 180, mix: { 'org.register': 1, note: 1 }, signers: 8 },
      consensus: { batchMaxTxs: 100, window: 4, batchDelay_ms: 20 },
      duration_s: 3,
      warmup_s: 0.5,
      drain_s: 4,
      faults: [
        { at_s: 0.3, kind: 'delay', from: [1], to: [2, 3], delay_ms: 15 },
        { at_s: 1, kind: 'crash', node: 'primary', restart_after_s: 1.2 },
        { at_s: 1.8, kind: 'partition', groups: [[3]] },
        { at_s: 2.4, kind: 'heal' },
      ],
    });
    const out = join(dir, 'sim-run');
    const run = await medledger('bench', file, '--out', out, '--seed', '42');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const result = JSON.parse(await readFile(join(out, 'result.json'), 'utf8')) as BenchResult;
    checkReport(result, 42);
    expect(result.clock).toBe('virtual');
    expect(result.throughput.ratioToBound).toBeNull();
    expect(result.validators).toEqual([]);
    expect(result.violations.filter((v) => v.checker !== 'liveness')).toEqual([]);
    expect(result.faults.map((f) => f.kind)).toEqual(['delay', 'crash', 'partition', 'heal']);
    expect(result.faults[1]!.description).toMatch(/crash replica 0 \(primary of view 0\)/);
    for (const fault of result.faults) {
      expect(fault.nextCommitAfter_ms).not.toBeNull();
      expect(fault.nextCommitAfter_ms!).toBeGreaterThan(0);
    }
    // The primary stays down longer than a request timeout: the others replace it.
    expect(result.viewChanges).toBeGreaterThan(0);
    expect(run.stdout).toContain('report:');
    const throughputCsv = await readFile(join(out, 'throughput.csv'), 'utf8');
    expect(throughputCsv.split('\n').length).toBeGreaterThan(2);

    // The same scenario and seed is the same run, number for number.
    const again = join(dir, 'sim-run-again');
    expect((await medledger('bench', file, '--out', again, '--seed', '42')).code).toBe(0);
    const second = JSON.parse(await readFile(join(again, 'result.json'), 'utf8')) as BenchResult;
    expect(second.throughput.buckets).toEqual(result.throughput.buckets);
    expect(second.latency.distribution).toEqual(result.latency.distribution);
    expect(second.faults).toEqual(result.faults);

    const compared = await medledger('bench', 'compare', out, join(again, 'result.json'));
    expect(compared.code).toBe(0);
    expect(compared.stdout.length).toBeGreaterThan(0);
  });

  it('runs closed-loop clients in the simulator: each sends its next batch once the last one committed', async () => {
    const file = await scenarioFile('sim-closed', {
      name: 'sim-closed',
      mode: 'sim',
      validators: 4,
      load: { clients: 2, batch: 20, mix: { note: 1 }, txBytes: 150, signers: 2 },
      consensus: { batchMaxTxs: 100 },
      duration_s: 0.5,
      drain_s: 1,
    });
    const out = join(dir, 'sim-closed');
    const run = await medledger('bench', file, '--out', out, '--json');
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as BenchResult;
    expect(result.scenario.load.clients).toBe(2);
    // Many rounds of two batches of 20, all committed once the load stopped.
    expect(result.load.submittedTxs % 20).toBe(0);
    expect(result.load.submittedTxs).toBeGreaterThan(4 * 2 * 20);
    expect(result.committedTxs).toBe(result.load.submittedTxs);
    expect(result.latency.uncommitted).toBe(0);
    expect(result.load.meanTxBytes).toBe(150);
  });

  it('runs a scenario on real validator processes, crashing and restarting one and partitioning another', async () => {
    const file = await scenarioFile('real-short', {
      name: 'real-short',
      mode: 'real',
      validators: 4,
      load: { rate_tps: 150, batch: 100, txBytes: 200, signers: 8 },
      consensus: { batchMaxTxs: 200, window: 4 },
      duration_s: 4,
      warmup_s: 1,
      drain_s: 4,
      seed: 9,
      faults: [
        { at_s: 1.5, kind: 'crash', node: 2, restart_after_s: 1.5 },
        { at_s: 2, kind: 'partition', groups: [[3]] },
        { at_s: 3, kind: 'heal' },
        { at_s: 3.5, kind: 'duplicate', from: [0], rate: 0.2 },
      ],
    });
    const out = join(dir, 'real-run');
    const run = await medledger('bench', file, '--out', out, '--json');
    expect(run.code).toBe(0);
    const printed = JSON.parse(run.stdout) as BenchResult;
    const result = JSON.parse(await readFile(join(out, 'result.json'), 'utf8')) as BenchResult;
    expect(printed.committedTxs).toBe(result.committedTxs);
    checkReport(result, 9);
    expect(result.clock).toBe('wall');
    expect(result.throughput.ratioToBound).toBeGreaterThan(0);
    expect(result.faults.map((f) => f.kind)).toEqual(['crash', 'partition', 'heal', 'duplicate']);
    expect(result.faults[0]!.description).toContain('crash validator 2');
    expect(result.faults[0]!.at_s).toBeGreaterThanOrEqual(1.5);
    // Three validators keep committing while one is down: a commit follows every fault.
    for (const fault of result.faults) expect(fault.nextCommitAfter_ms).not.toBeNull();
    expect(result.validators).toHaveLength(4);
    for (const v of result.validators) {
      expect(v.cpu_percent).toBeGreaterThan(0);
      expect(v.maxRss_bytes).toBeGreaterThan(10 * 2 ** 20);
    }
    expect(result.validators[2]!.restarts).toBe(1);
    expect(result.load.submittedTxs).toBeGreaterThan(0);
    // The faults went through PUT /v1/debug/faults and the blocks were followed, both signed with
    // each validator's operator key: none refused, none throttled.
    expect(result.notes.filter((note) => /transport faults|refused|failed/.test(note))).toEqual([]);
  }, 60_000);

  it('runs a clinical mix after a setup phase, counting each kind committed and refused', async () => {
    const file = await scenarioFile('clinical-short', {
      name: 'clinical-short',
      mode: 'real',
      validators: 4,
      load: {
        rate_tps: 80,
        batch: 10,
        run: 5,
        mix: {
          'consent.grant': 4,
          'record.read': 3,
          'record.add': 2,
          'access.request': 1,
          'patient.register': 1,
        },
        patients: 12,
        practitioners: 3,
        recordsPerPatient: 1,
        pinned: true,
        signers: 1,
      },
      consensus: { batchMaxTxs: 200, window: 4 },
      duration_s: 2,
      warmup_s: 0.5,
      drain_s: 5,
      seed: 3,
    });
    const out = join(dir, 'clinical-run');
    const run = await medledger('bench', file, '--out', out, '--json');
    expect(run.code).toBe(0);
    const result = JSON.parse(await readFile(join(out, 'result.json'), 'utf8')) as BenchResult;
    checkReport(result, 3);
    // Hospital, 4 registrars and 3 doctors, 12 patients, then a grant and a record per patient.
    expect(result.notes.some((note) => /^setup: 44 transactions committed/.test(note))).toBe(true);
    const kinds = result.kinds!;
    expect(Object.keys(kinds).sort()).toEqual([
      'access.request',
      'consent.grant',
      'patient.register',
      'record.add',
      'record.read',
    ]);
    for (const [kind, k] of Object.entries(kinds)) {
      expect(k.committed, kind).toBeGreaterThan(0);
      // Every kind is one its sender may send, with nonces in order: the rule engine refuses none
      // (reads are permitted by the patients' setup grants to the hospital).
      expect(k.refused, `${kind}: ${JSON.stringify(k.refusedCodes)}`).toBe(0);
      expect(k.committed).toBeLessThanOrEqual(k.submitted);
    }
    expect(Object.values(kinds).reduce((sum, k) => sum + k.committed, 0)).toBe(result.committedTxs);
    expect(result.refusedTxs).toBe(0);
    // Every block followed, in height order, with the transactions counted above.
    const blocks = result.blocks!;
    expect(blocks.length).toBe(result.committedBlocks);
    expect(blocks.reduce((sum, b) => sum + b.txs, 0)).toBe(result.committedTxs);
    for (const b of blocks) expect(b.committed_s).toBeGreaterThanOrEqual(b.proposed_s - 1);
    const csvRows = (await readFile(join(out, 'blocks.csv'), 'utf8')).trim().split('\n');
    expect(csvRows[0]).toBe('height,view,proposed_s,committed_s,txs,refused');
    expect(csvRows).toHaveLength(blocks.length + 1);
    const summary = await readFile(join(out, 'summary.md'), 'utf8');
    expect(summary).toContain('## Load kinds');
    expect(summary).toContain('each sender pinned to one validator');
  }, 60_000);

  it('rejects a malformed scenario with a clear error naming the offending path', async () => {
    const good = {
      name: 'x',
      mode: 'real',
      validators: 4,
      load: { rate_tps: 10 },
      duration_s: 5,
      faults: [{ at_s: 1, kind: 'heal' }],
    };
    const file = await scenarioFile('bad', {
      ...good,
      faults: [
        { at_s: 1, kind: 'heal' },
        { at_s: -2, kind: 'heal' },
      ],
    });
    const run = await medledger('bench', file, '--out', join(dir, 'never'));
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('bad.json: $.faults[1].at_s: expected a number ≥ 0');
    expect(run.stderr).toContain('[BENCH_SCENARIO_INVALID]');

    const error = (scenario: object) => {
      try {
        parseScenarioText(JSON.stringify(scenario), 's.json');
      } catch (e) {
        return (e as Error).message;
      }
      return 'no error';
    };
    expect(error({ ...good, validatorz: 4 })).toMatch(/^s\.json: \$\.validatorz: unknown field/);
    expect(error({ ...good, mode: 'fast' })).toBe('s.json: $.mode: expected "real" or "sim"');
    expect(
      error({ ...good, faults: [{ at_s: 1, kind: 'byzantine', nodes: [0], behaviour: 'equivocate' }] }),
    ).toMatch(/\$\.faults\[0\]\.kind: Byzantine behaviours are only in sim mode/);
    expect(
      error({
        ...good,
        mode: 'sim',
        faults: [{ at_s: 1, kind: 'byzantine', nodes: [0, 1], behaviour: 'silence' }],
      }),
    ).toMatch(/\$\.faults\[0\]\.nodes: at most f = 1 of 4 validators may be Byzantine/);
    expect(
      error({
        ...good,
        mode: 'sim',
        faults: [{ at_s: 1, kind: 'byzantine', nodes: [0], behaviour: 'lying' }],
      }),
    ).toMatch(/\$\.faults\[0\]\.behaviour: expected one of equivocate, /);
    expect(error({ ...good, faults: [{ at_s: 1, kind: 'drop', from: [0], to: [1], rate: 0.1 }] })).toMatch(
      /\$\.faults\[0\]\.to: per-link drop is only in sim mode/,
    );
    expect(error({ ...good, faults: [{ at_s: 1, kind: 'crash', node: 4 }] })).toBe(
      's.json: $.faults[0].node: expected an integer from 0 to 3',
    );
    expect(error({ ...good, faults: [{ at_s: 9, kind: 'heal' }] })).toMatch(
      /\$\.faults\[0\]\.at_s: expected a time before the load ends/,
    );
    expect(error({ ...good, load: { rate_tps: 10, clients: 2 } })).toMatch(/\$\.load: give exactly one of/);
    expect(error({ ...good, faults: [{ at_s: 1, kind: 'partition', groups: [[0, 1, 2, 3]] }] })).toMatch(
      /\$\.faults\[0\]\.groups: a partition needs at least two groups/,
    );
    expect(error({ ...good, duration_s: undefined })).toBe('s.json: $.duration_s: required');
    const clinical = { clients: 2, mix: { 'consent.grant': 1 }, patients: 4 };
    expect(error({ ...good, load: { ...clinical, patients: undefined } })).toBe(
      's.json: $.load.patients: the clinical kinds in the mix need patients (at least 1)',
    );
    expect(error({ ...good, load: { ...clinical, mix: { 'consent.grnt': 1 } } })).toMatch(
      /\$\.load\.mix\.consent\.grnt: unknown field/,
    );
    expect(error({ ...good, load: { ...clinical, pinned: 'yes' } })).toBe(
      's.json: $.load.pinned: expected true or false',
    );
    expect(error({ ...good, load: { ...clinical, signers: 64 } })).toMatch(/\$\.load\.signers: at most 63/);
    expect(
      error({ ...good, load: { ...clinical, mix: { 'record.read': 1 }, recordsPerPatient: 0 } }),
    ).toMatch(/\$\.load\.recordsPerPatient: record\.read needs records/);
    expect(error({ ...good, mode: 'sim', load: clinical })).toMatch(/\$\.load\.mix: .* are real mode only/);
    expect(error({ ...good, load: { rate_tps: 10, patients: 3 } })).toMatch(
      /\$\.load\.patients: patients are registered only for a mix with clinical kinds/,
    );
    expect(error({ ...good, load: { rate_tps: 10, signers: 65 } })).toBe(
      's.json: $.load.signers: expected an integer from 1 to 64',
    );
    expect(() => parseScenarioText('{ not json', 's.json')).toThrow(/s\.json: not valid JSON/);

    const sweep = parseScenarioText(
      JSON.stringify({ ...good, validators: undefined, mode: 'sim', sweep: { validators: [4, 7] } }),
      's.json',
    );
    expect(sweep.map((s) => [s.name, s.validators, s.f])).toEqual([
      ['x-n4', 4, 1],
      ['x-n7', 7, 2],
    ]);

    const missing = await medledger('bench', join(dir, 'no-such-file.json'));
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('[BENCH_SCENARIO_NOT_FOUND]');
  });

  it('ships scenarios that all parse', async () => {
    const { loadScenarioFile } = await import('../src/bench/scenario.ts');
    const dir = new URL('../bench/scenarios/', import.meta.url).pathname;
    const names = readdirSync(dir).filter((name) => name.endsWith('.json'));
    expect(names).toContain('baseline-n4.json');
    for (const name of names) {
      const scenarios = await loadScenarioFile(`${dir}${name}`);
      expect(scenarios.length).toBeGreaterThan(0);
    }
  });
});
