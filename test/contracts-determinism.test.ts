/**
 * Determinism: the same block sequence from fresh state gives the same receipts, writes and state
 * roots, however the state reader hands out its bytes, and without any clock or randomness. Plus a
 * static check that the rule engine's sources reach for nothing non-deterministic.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { hex } from '../src/bytes.ts';
import { encode } from '../src/codec/index.ts';
import {
  type BlockResult,
  createdId,
  executeBlock,
  genesisState,
  type Role,
  type StateReader,
} from '../src/contracts/index.ts';
import { setDecodeCaching } from '../src/contracts/overlay.ts';
import { nextStateRoot, ZERO_HASH } from '../src/ledger/state-root.ts';
import { Receipts, StateWrites } from '../src/ledger/types.ts';
import {
  CHAIN_ID,
  Chain,
  HOSPITAL,
  MemoryState,
  makeNetwork,
  makeParty,
  type Network,
} from './fixtures/contracts.ts';
import { type PlannedBlock, planWorkload } from './fixtures/contracts-workload.ts';

interface Run {
  roots: string[];
  results: BlockResult[];
  state: MemoryState;
}

/** Executes `blocks` from genesis; `wrap` may change how the state is read. */
function execute(
  network: Network,
  blocks: PlannedBlock[],
  wrap: (s: MemoryState) => StateReader = (s) => s,
): Run {
  const state = new MemoryState();
  const genesis = genesisState(network.genesis);
  state.apply(genesis);
  let root = nextStateRoot(ZERO_HASH, genesis, []);
  let time_ms = network.genesis.genesisTime;
  const roots: string[] = [];
  const results: BlockResult[] = [];
  blocks.forEach((block, i) => {
    time_ms += block.advance_ms;
    const result = executeBlock(
      wrap(state),
      { chainId: CHAIN_ID, height: i + 1, timestamp_ms: time_ms, genesis: network.genesis },
      block.txs,
    );
    state.apply(result.writes);
    root = nextStateRoot(root, result.writes, result.receipts);
    roots.push(hex(root));
    results.push(result);
  });
  return { roots, results, state };
}

/** A reader that hands out a fresh copy of every value, so no cache can rely on object identity. */
const copying = (state: MemoryState): StateReader => ({
  get: (key) => {
    const value = state.get(key);
    return value === undefined ? undefined : new Uint8Array(value);
  },
});

let network: Network;
let blocks: PlannedBlock[];

beforeAll(() => {
  network = makeNetwork();
  const planner = new Chain(network, { sign: true });
  blocks = planWorkload(planner, { seed: 7, patients: 40, blocks: 25, txsPerBlock: 60 });
});

describe('determinism', () => {
  afterEach(() => vi.restoreAllMocks());

  it('the same blocks from fresh state give identical receipts, writes and state roots', () => {
    const first = execute(network, blocks);
    const second = execute(network, blocks);
    expect(second.roots).toEqual(first.roots);
    first.results.forEach((result, i) => {
      const other = second.results[i]!;
      expect(Buffer.from(encode(Receipts, other.receipts))).toEqual(
        Buffer.from(encode(Receipts, result.receipts)),
      );
      expect(Buffer.from(encode(StateWrites, other.writes))).toEqual(
        Buffer.from(encode(StateWrites, result.writes)),
      );
    });
    // The workload exercised the engine: most transactions succeed, some are denied or refused.
    const codes = first.results.flatMap((r) => r.receipts.map((x) => x.code));
    expect(codes.length).toBeGreaterThan(1500);
    expect(codes.filter((c) => c === 'OK').length / codes.length).toBeGreaterThan(0.8);
    expect(codes).toContain('DENIED');
  });

  it('does not depend on how the state reader hands out bytes (no cache keyed by identity leaks)', () => {
    const direct = execute(network, blocks);
    const copied = execute(network, blocks, copying);
    expect(copied.roots).toEqual(direct.roots);
    expect(copied.state.dump()).toEqual(direct.state.dump());
  });

  it('gives the same results with every cache of decoded values off, and with a warm cross-block cache', () => {
    setDecodeCaching(false);
    const uncached = execute(network, blocks);
    setDecodeCaching(true);
    const cold = execute(network, blocks);
    const warm = execute(network, blocks); // large values kept from the previous run
    expect(cold.roots).toEqual(uncached.roots);
    expect(warm.roots).toEqual(uncached.roots);
  });

  it('the cross-block cache of large buckets changes nothing: grants, revocations and reads over many blocks', () => {
    const heavy = makeNetwork();
    const planner = new Chain(heavy, { sign: false });
    const hospital = heavy.orgs[HOSPITAL];
    const registrar = makeParty('registrar');
    const doctor = makeParty('doctor');
    const patient = makeParty('patient');
    const nurse = makeParty('nurse');
    const staff = (party: typeof doctor, roles: Role[]) =>
      planner.tx(hospital, 'practitioner.register', {
        signingKey: party.signing.publicKey,
        encryptionKey: party.encryption.publicKey,
        roles,
      });
    const plan: PlannedBlock[] = [
      {
        advance_ms: 1000,
        txs: [staff(registrar, ['registrar']), staff(doctor, ['doctor']), staff(nurse, ['nurse'])],
      },
      {
        advance_ms: 1000,
        txs: [planner.tx(registrar, 'patient.register', planner.patientBody(registrar, patient))],
      },
    ];
    const grants: string[] = [];
    const grant = (i: number) => {
      const tx = planner.tx(patient, 'consent.grant', {
        subject: { kind: 'organisation', id: HOSPITAL },
        scope: i % 2 === 0 ? { kind: 'all' } : { kind: 'types', types: ['Observation'] },
        actions: i % 3 === 0 ? ['read', 'append'] : ['read'],
        purpose: 'any',
        expires_ms: heavy.genesis.genesisTime + 10_000 + i * 1000,
      });
      grants.push(createdId('grant', tx));
      return tx;
    };
    const add = planner.tx(doctor, 'record.add', planner.recordBody(patient));
    plan.push({ advance_ms: 1000, txs: [...Array.from({ length: 120 }, (_, i) => grant(i)), add] });
    const record = createdId('record', add);
    for (let b = 0; b < 12; b++) {
      const txs = [
        planner.tx(nurse, 'record.read', { record, purpose: 'treatment' }),
        planner.tx(patient, 'consent.revoke', { policy: grants[b * 7]! }),
        grant(200 + b),
        planner.tx(nurse, 'record.read', { record, purpose: 'treatment' }),
      ];
      plan.push({ advance_ms: 7_000, txs });
    }
    setDecodeCaching(false);
    const uncached = execute(heavy, plan);
    setDecodeCaching(true);
    const cold = execute(heavy, plan);
    const warm = execute(heavy, plan);
    expect(cold.roots).toEqual(uncached.roots);
    expect(warm.roots).toEqual(uncached.roots);
    // The nurse is permitted by the grants while any is unexpired and unrevoked.
    const reads = uncached.results.slice(3).flatMap((r) => [r.receipts[0]!, r.receipts[3]!]);
    expect(reads.map((r) => r.code)).toContain('OK');
    expect(reads.every((r) => r.code === 'OK' || r.code === 'DENIED')).toBe(true);
  });

  it('uses neither the clock nor randomness', () => {
    const expected = execute(network, blocks).roots;
    const forbidden = () => {
      throw new Error('the rule engine must not read the clock or draw random numbers');
    };
    vi.spyOn(Date, 'now').mockImplementation(forbidden);
    vi.spyOn(Math, 'random').mockImplementation(forbidden);
    vi.spyOn(performance, 'now').mockImplementation(forbidden);
    expect(execute(network, blocks).roots).toEqual(expected);
  });

  it('the sources import nothing that does I/O and read no ambient state', () => {
    const root = join(import.meta.dirname, '../src/contracts');
    const files = readdirSync(root, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
    expect(files.length).toBeGreaterThan(10);
    for (const file of files) {
      const source = readFileSync(join(root, file), 'utf8');
      const imports = [...source.matchAll(/from '([^']+)'/g)].map((m) => m[1]!);
      for (const spec of imports) {
        expect(spec, `${file} imports ${spec}`).toMatch(/^\.\.?\//);
        expect(spec, `${file} imports ${spec}`).not.toMatch(
          /ledger\/(index|store)\.ts$|crypto\/(index|keystore)\.ts$/,
        );
      }
      for (const ambient of [
        'Date.now',
        'Math.random',
        'performance.now',
        'new Date()',
        'process.',
        'setTimeout',
        'crypto.random',
      ]) {
        expect(source.includes(ambient), `${file} uses ${ambient}`).toBe(false);
      }
    }
  });
});
