/**
 * verifyChain against tampering: one random byte of one random stored record (a transaction, a header,
 * a certificate, receipts, state writes, an index, the state, the head; its key or its value) is
 * changed, and verifyChain must report the chain bad and name the height the record belongs to.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hex } from '../src/bytes.ts';
import { decode } from '../src/codec/index.ts';
import {
  type ChainDb,
  ChainStore,
  openChainDb,
  StateWrites,
  TxLocation,
  verifyChainDb,
} from '../src/ledger/index.ts';
import { indexKey, PREFIX, parseHeightKey, parseIndexKey } from '../src/ledger/keys.ts';
import { buildChain, makeNetwork } from './fixtures/chain.ts';

const BLOCKS = 12;
const TXS_PER_BLOCK = 4;

interface Entry {
  key: Buffer;
  value: Buffer;
  /** The height this record belongs to. */
  height: number;
}

describe('verifyChain detects tampering', () => {
  const net = makeNetwork({ validators: 4, clients: 5 });
  let dir: string;
  let db: ChainDb;
  const families = new Map<number, Entry[]>();

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'medledger-tamper-'));
    const store = await ChainStore.open(dir, net.genesis);
    await buildChain(store, net, BLOCKS, TXS_PER_BLOCK);
    await store.close();
    db = await openChainDb(dir);

    // The height each state key was last written at, from the stored write sets.
    const lastWrite = new Map<string, number>();
    for (let h = 0; h <= BLOCKS; h++) {
      const writes = decode(
        StateWrites,
        (await db.get(Buffer.from([PREFIX.writes, 0, 0, 0, 0, 0, 0, 0, h])))!,
      );
      for (const w of writes) lastWrite.set(hex(w.key), h);
    }
    for await (const [k, v] of db.iterator()) {
      const key = Buffer.from(k);
      const value = Buffer.from(v);
      const family = key[0]!;
      let height: number;
      if (family === PREFIX.state) height = lastWrite.get(key.subarray(1).toString('hex'))!;
      else if (family === PREFIX.head) height = BLOCKS;
      else if (family === PREFIX.blockHash) height = Number(value.readBigUInt64BE());
      else if (family === PREFIX.tx) height = decode(TxLocation, value).height;
      else if (family === PREFIX.patient || family === PREFIX.record) height = parseIndexKey(key)!.height;
      else height = parseHeightKey(key)!;
      expect(height, `height of ${key.toString('hex')}`).toBeTypeOf('number');
      if (!families.has(family)) families.set(family, []);
      families.get(family)!.push({ key, value, height });
    }
  });

  afterAll(async () => {
    await db?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('accepts the untouched chain', async () => {
    expect(await verifyChainDb(db, net.genesis)).toMatchObject({
      ok: true,
      verifiedHeight: BLOCKS,
      problem: null,
    });
    expect([...families.keys()].sort()).toEqual(Object.values(PREFIX).sort());
  });

  it('finds every one of 240 random single-byte tamperings and names the first bad height', async () => {
    const kinds = [...families.keys()];
    const seen = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(
        fc.nat(),
        fc.nat(),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        fc.integer({ min: 0, max: 9 }),
        async (familyPick, entryPick, bytePick, mask, where) => {
          const entries = families.get(kinds[familyPick % kinds.length]!)!;
          const entry = entries[entryPick % entries.length]!;
          const inKey = where === 0; // one tampering in ten hits the key, the rest the value
          const target = Buffer.from(inKey ? entry.key : entry.value);
          if (target.length === 0) return;
          const at = bytePick % target.length;
          target[at] = target[at]! ^ mask;

          const displaced = inKey ? await db.get(target) : undefined;
          if (inKey) {
            await db.del(entry.key);
            await db.put(target, entry.value);
          } else {
            await db.put(entry.key, target);
          }
          try {
            const report = await verifyChainDb(db, net.genesis);
            const label = `${String.fromCharCode(entry.key[0]!)} ${inKey ? 'key' : 'value'}`;
            seen.set(label, (seen.get(label) ?? 0) + 1);
            expect(report.ok, label).toBe(false);
            // A changed value is found at its own height. A changed key may also land on (and
            // overwrite) a record of a lower height, which is then the first bad one.
            if (inKey)
              expect(report.problem!.height ?? Number.POSITIVE_INFINITY, label).toBeLessThanOrEqual(
                entry.height,
              );
            else expect(report.problem!.height, `${label}: ${report.problem!.detail}`).toBe(entry.height);
          } finally {
            if (inKey) {
              await db.del(target);
              if (displaced !== undefined) await db.put(target, displaced);
            }
            await db.put(entry.key, entry.value);
          }
        },
      ),
      { numRuns: 240 },
    );
    // Every record family was tampered with.
    const families_hit = new Set([...seen.keys()].map((label) => label[0]));
    expect(families_hit.size).toBe(families.size);
    expect(await verifyChainDb(db, net.genesis)).toMatchObject({ ok: true });
  });

  it('reports records forged above an intact chain, at the height they claim', async () => {
    const forged = [
      { key: indexKey('patient', 'patient-1', 1000, 0), value: new Uint8Array(32), height: 1000 },
      {
        key: Buffer.from([PREFIX.certificate, 0, 0, 0, 0, 0, 0, 0, 50]),
        value: new Uint8Array(8),
        height: 50,
      },
    ];
    for (const { key, value, height } of forged) {
      await db.put(key, value);
      try {
        const report = await verifyChainDb(db, net.genesis);
        expect(report).toMatchObject({ ok: false, problem: { height, code: 'CHAIN_UNEXPECTED_RECORD' } });
      } finally {
        await db.del(key);
      }
    }
  });
});
