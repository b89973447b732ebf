/**
 * Rule-engine benchmark.
 *
 *   npm run bench:contracts            a table
 *   npm run bench:contracts -- --json  one JSON object
 *
 * 1. Policy decisions per second for a patient with 1,000 grants and forbids, in two layouts:
 *    - spread: the 1,000 policies name many grantees (practitioners, organisations, roles), as a
 *      real patient's would; a decision reads only the buckets of the grantees the reader acts as;
 *    - concentrated: all 1,000 name the reader (as a practitioner, through their organisation and
 *      their role), so one decision scans all of them: the worst case.
 *    Each is measured within a block (decoded buckets cached), as the first decision of a new block
 *    (state read again; large buckets found in the cross-block cache by comparing bytes), uncached
 *    (every bucket decoded from bytes: a node's first decision for this patient), and as whole
 *    record.read transactions (decode, decide, four audit writes, receipt) executed in blocks.
 * 2. Transactions executed per second for a realistic mix (reads, new records and amendments,
 *    grants, forbids, revocations, requests, break-glass, erasures) over an in-memory state, in
 *    blocks of 500. Signatures are not part of execution (consensus checks them), so none are made.
 */
import { cpus } from 'node:os';
import { createdId, decide, executeBlock, listPolicies, type Subject } from '../src/contracts/index.ts';
import { BlockOverlay, setDecodeCaching, TxScope } from '../src/contracts/overlay.ts';
import * as state from '../src/contracts/state.ts';
import type { Transaction } from '../src/ledger/types.ts';
import { CHAIN_ID, Chain, HOSPITAL, INSURER, LAB, type Party } from '../test/fixtures/contracts.ts';
import { planWorkload } from '../test/fixtures/contracts-workload.ts';

const json = process.argv.includes('--json');
const results: Record<string, number> = {};
const log = (name: string, value: number, unit: string) => {
  results[name] = Math.round(value * 10) / 10;
  if (!json) console.log(`${name.padEnd(44)} ${value.toFixed(1).padStart(12)} ${unit}`);
};

/** Runs `op` repeatedly for at least `minMs` and returns operations per second. */
function rate(op: (i: number) => void, minMs = 1000): number {
  for (let i = 0; i < 50; i++) op(i); // warm-up
  let count = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < minMs) {
    for (let i = 0; i < 64; i++) op(count++);
    elapsed = performance.now() - start;
  }
  return (count * 1000) / elapsed;
}

const DAY_MS = 86_400_000;
/** Types the measured record does not have (it is a Condition). */
const OTHER_TYPES = ['Observation', 'DiagnosticReport', 'MedicationRequest', 'application/pdf'];

/** Runs `txs` through the engine in blocks of `perBlock`, applying the writes; all must succeed. */
function run(chain: Chain, txs: Transaction[], perBlock = 500): void {
  for (let i = 0; i < txs.length; i += perBlock) {
    const { receipts } = chain.block(txs.slice(i, i + perBlock));
    const refused = receipts.find((r) => r.code !== 'OK');
    if (refused) throw new Error(`setup refused: ${refused.code} ${refused.message}`);
  }
}

interface PolicyScenario {
  chain: Chain;
  reader: Party;
  patient: Party;
  record: string;
}

/**
 * A patient with 1,000 policies: 900 grants and 100 forbids, each one the evaluator must look at in
 * the concentrated layout: forbids of other types, grants that have expired, grants for another
 * purpose, grants of other types. The reader is permitted by exactly one more grant.
 */
function policyScenario(layout: 'spread' | 'concentrated'): PolicyScenario {
  const chain = new Chain(undefined, { sign: false });
  const orgs = chain.network.orgs;
  const registrar = chain.practitioner(orgs[HOSPITAL], ['registrar']);
  const reader = chain.practitioner(orgs[HOSPITAL], ['doctor']);
  const others = Array.from({ length: 150 }, (_, i) => {
    const org = ([HOSPITAL, LAB, INSURER] as const)[i % 3]!;
    const role = (['doctor', 'nurse', 'lab-technician'] as const)[i % 3]!;
    return chain.practitioner(orgs[org], [role], `staff-${i}`);
  });
  const patient = chain.patient(registrar);
  const author = others[0]!;
  const setup = chain.tx(patient, 'consent.grant', {
    subject: { kind: 'practitioner', id: author.id },
    scope: { kind: 'all' },
    actions: ['append'],
    purpose: 'any',
    expires_ms: chain.time_ms + DAY_MS,
  });
  const add = chain.tx(author, 'record.add', chain.recordBody(patient, { contentType: 'Condition' }));
  run(chain, [setup, add]);
  const record = createdId('record', add);

  const readerSubjects: Subject[] = [
    { kind: 'practitioner', id: reader.id },
    { kind: 'organisation', id: HOSPITAL },
    { kind: 'role', organisation: HOSPITAL, role: 'doctor' },
  ];
  const spreadSubject = (i: number): Subject =>
    i % 5 === 0
      ? { kind: 'role', organisation: ([LAB, INSURER] as const)[i % 2]!, role: 'nurse' }
      : { kind: 'practitioner', id: others[i % others.length]!.id };
  const start_ms = chain.time_ms;
  const txs: Transaction[] = [];
  for (let i = 0; i < 1000; i++) {
    const subject = layout === 'spread' ? spreadSubject(i) : readerSubjects[i % 3]!;
    const otherType = { kind: 'types' as const, types: [OTHER_TYPES[i % OTHER_TYPES.length]!] };
    if (i % 10 === 9) {
      txs.push(chain.tx(patient, 'consent.forbid', { subject, scope: otherType, actions: ['read'] }));
      continue;
    }
    const variant = i % 3;
    txs.push(
      chain.tx(patient, 'consent.grant', {
        subject,
        scope: variant === 2 ? otherType : { kind: 'all' },
        actions: ['read', 'append'],
        purpose: variant === 1 ? 'research' : 'any',
        expires_ms: start_ms + (variant === 0 ? 60_000 : DAY_MS),
      }),
    );
  }
  txs.push(
    chain.tx(patient, 'consent.grant', {
      subject: readerSubjects[0]!,
      scope: { kind: 'records', records: [record] },
      actions: ['read'],
      purpose: 'treatment',
      expires_ms: start_ms + DAY_MS,
    }),
  );
  run(chain, txs, 100);
  chain.time_ms = start_ms + 120_000; // the short grants have expired
  if (listPolicies(chain.state, patient.id).length !== 1002) throw new Error('expected 1,002 policies');
  return { chain, reader, patient, record };
}

function measureDecisions(layout: 'spread' | 'concentrated'): void {
  const { chain, reader, patient, record } = policyScenario(layout);
  const scope = new TxScope(new BlockOverlay(chain.state));
  const meta = state.record(scope, record)!;
  const query = {
    actor: state.identity(scope, reader.id)!,
    action: 'read' as const,
    patient: patient.id,
    record: meta,
    contentType: meta.contentType,
    purpose: 'treatment' as const,
    now_ms: chain.time_ms,
  };
  const source = state.policySource(scope);
  const check = decide(source, query);
  if (!check.permit || !check.rule.startsWith('grant:')) throw new Error(`unexpected decision ${check.rule}`);

  const perDecision = (rate: number) => `/s  (${(1e6 / rate).toFixed(2)} µs each)`;
  const inBlock = rate(() => decide(source, query));
  log(`decisions/s, 1,000 policies ${layout}, in a block`, inBlock, perDecision(inBlock));
  const fresh = () => decide(state.policySource(new TxScope(new BlockOverlay(chain.state))), query);
  const newBlock = rate(fresh);
  log(`decisions/s, 1,000 policies ${layout}, new block`, newBlock, perDecision(newBlock));
  setDecodeCaching(false);
  const uncached = rate(fresh);
  setDecodeCaching(true);
  log(`decisions/s, 1,000 policies ${layout}, uncached`, uncached, perDecision(uncached));

  // Whole read transactions, 500 to a block; only execution is timed (applying writes is the store's job).
  const reads = Array.from({ length: 20_000 }, () =>
    chain.tx(reader, 'record.read', { record, purpose: 'treatment' }),
  );
  let elapsed = 0;
  for (let i = 0; i < reads.length; i += 500) {
    chain.height += 1;
    chain.time_ms += 1000;
    const start = performance.now();
    const result = executeBlock(
      chain.state,
      { chainId: CHAIN_ID, height: chain.height, timestamp_ms: chain.time_ms, genesis: chain.genesis },
      reads.slice(i, i + 500),
    );
    elapsed += performance.now() - start;
    if (result.receipts.some((r) => r.code !== 'OK')) throw new Error('a read was not permitted');
    chain.state.apply(result.writes);
  }
  const readRate = (reads.length * 1000) / elapsed;
  log(
    `record.read txs/s, 1,000 policies ${layout}`,
    readRate,
    `/s  (${(1e6 / readRate).toFixed(1)} µs each)`,
  );
}

function measureMix(): void {
  const chain = new Chain(undefined, { sign: false });
  const blocks = planWorkload(chain, { seed: 42, patients: 1000, blocks: 60, txsPerBlock: 500 });
  const setupBlocks = blocks.length - 60;
  let executed = 0;
  let elapsed = 0;
  const codes: Record<string, number> = {};
  blocks.forEach((block, i) => {
    chain.height += 1;
    chain.time_ms += block.advance_ms;
    const start = performance.now();
    const result = executeBlock(
      chain.state,
      { chainId: CHAIN_ID, height: chain.height, timestamp_ms: chain.time_ms, genesis: chain.genesis },
      block.txs,
    );
    const spent = performance.now() - start;
    chain.state.apply(result.writes);
    if (i >= setupBlocks) {
      elapsed += spent;
      executed += block.txs.length;
      for (const r of result.receipts) codes[r.code] = (codes[r.code] ?? 0) + 1;
    }
  });
  log('realistic mix, txs executed/s', (executed * 1000) / elapsed, `/s  (${executed} txs in blocks of 500)`);
  const total = Object.values(codes).reduce((a, b) => a + b, 0);
  if (!json) {
    const mix = Object.entries(codes)
      .map(([code, n]) => `${code} ${((100 * n) / total).toFixed(1)}%`)
      .join(', ');
    console.log(`${''.padEnd(44)} outcomes: ${mix}`);
  }
  log('state entries after the mix', chain.state.size, 'keys');
}

if (!json)
  console.log(`rule engine benchmark on ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}`);
measureDecisions('spread');
measureDecisions('concentrated');
measureMix();
if (json) console.log(JSON.stringify(results));
