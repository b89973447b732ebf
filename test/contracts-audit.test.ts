import { beforeAll, describe, expect, it } from 'vitest';
import { hex } from '../src/bytes.ts';
import {
  type AuditEntry,
  createdId,
  getIdentityByKey,
  getRecord,
  lastNonce,
  listRecordIds,
  MAX_AUDIT_PAGE,
  queryAudit,
} from '../src/contracts/index.ts';
import { txHash } from '../src/ledger/transaction.ts';
import { Chain, expectCode, HOSPITAL, LAB, type Party } from './fixtures/contracts.ts';

/** 3 patients, 2 readers; 60 read attempts over an hour of block time, permitted and denied. */
let chain: Chain;
let patients: Party[];
let readers: Party[];
let records: string[];
const reads: { hash: string; actor: string; patient: string; record: string; time_ms: number }[] = [];

beforeAll(() => {
  chain = new Chain(undefined, { sign: false });
  const hospital = chain.network.orgs[HOSPITAL];
  const registrar = chain.practitioner(hospital, ['registrar']);
  const doctor = chain.practitioner(hospital, ['doctor']);
  readers = [
    chain.practitioner(hospital, ['nurse'], 'nurse'),
    chain.practitioner(chain.network.orgs[LAB], ['lab-technician'], 'lab'),
  ];
  patients = [0, 1, 2].map((i) => chain.patient(registrar, `patient-${i}`));
  records = [];
  for (const patient of patients) {
    chain.ok(patient, 'consent.grant', {
      subject: { kind: 'organisation', id: HOSPITAL },
      scope: { kind: 'all' },
      actions: ['read', 'append'],
      purpose: 'any',
      expires_ms: chain.time_ms + 86_400_000,
    });
    const tx = chain.tx(doctor, 'record.add', chain.recordBody(patient));
    expectCode(chain.block([tx]).receipts[0]!, 'OK');
    records.push(createdId('record', tx));
  }
  for (let i = 0; i < 60; i++) {
    const actor = readers[i % 2]!;
    const which = i % 3;
    const tx = chain.tx(actor, 'record.read', { record: records[which]!, purpose: 'treatment' });
    // Two reads per block now and then, so entries share a timestamp.
    const txs =
      i % 7 === 0
        ? [tx, chain.tx(actor, 'record.read', { record: records[which]!, purpose: 'treatment' })]
        : [tx];
    chain.block(txs, 60_000);
    for (const t of txs) {
      reads.push({
        hash: hex(txHash(t)),
        actor: actor.id,
        patient: patients[which]!.id,
        record: records[which]!,
        time_ms: chain.time_ms,
      });
    }
  }
});

const hashOf = (entry: AuditEntry) => hex(entry.txHash);
const newestFirst = <T>(list: T[]) => [...list].reverse();

/** Every page of a query, following cursors. */
function allPages(query: Parameters<typeof queryAudit>[1]): AuditEntry[][] {
  const pages: AuditEntry[][] = [];
  let cursor: string | null = null;
  do {
    const page = queryAudit(chain.state, { ...query, cursor });
    pages.push(page.entries);
    cursor = page.cursor;
  } while (cursor !== null);
  return pages;
}

describe('audit queries', () => {
  it('by patient, by actor, by record: every read attempt, newest first', () => {
    for (const [by, key] of [
      ['patient', 'patient'],
      ['actor', 'actor'],
      ['record', 'record'],
    ] as const) {
      const id = reads[5]![key];
      const expected = newestFirst(reads.filter((r) => r[key] === id)).map((r) => r.hash);
      const got = queryAudit(chain.state, { by, id, limit: MAX_AUDIT_PAGE })
        .entries.filter((e) => e.action === 'read')
        .map(hashOf);
      expect(got).toEqual(expected);
    }
  });

  it('the lab technician is denied, the nurse permitted, and the trail says which rule', () => {
    const [nurse, lab] = readers;
    const nurseEntries = queryAudit(chain.state, { by: 'actor', id: nurse!.id, limit: 5 }).entries;
    expect(new Set(nurseEntries.map((e) => e.decision))).toEqual(new Set(['permit']));
    expect(nurseEntries[0]!.rule).toMatch(/^grant:gr-/);
    const labEntries = queryAudit(chain.state, { by: 'actor', id: lab!.id, limit: 5 }).entries;
    expect(labEntries.map((e) => [e.decision, e.rule])).toEqual(new Array(5).fill(['deny', 'none']));
  });

  it('pages follow each other without gaps or repeats', () => {
    const pages = allPages({ by: 'time', limit: 7 });
    expect(pages.slice(0, -1).every((p) => p.length === 7)).toBe(true);
    const all = pages.flat();
    const once = queryAudit(chain.state, { by: 'time', limit: MAX_AUDIT_PAGE }).entries;
    expect(all.map(hashOf)).toEqual(once.map(hashOf));
    const consents = all.filter((e) => e.action === 'grant').length;
    expect(consents).toBeGreaterThan(0);
    expect(all.length).toBe(reads.length + 3 + consents); // and the three appends and the grants
    const keys = all.map((e) => [e.timestamp_ms, e.height, e.txIndex, e.seq]);
    const sorted = [...keys].sort((a, b) => b[0]! - a[0]! || b[1]! - a[1]! || b[2]! - a[2]! || b[3]! - a[3]!);
    expect(keys).toEqual(sorted);
  });

  it('a time range is [from_ms, to_ms), and combines with an index', () => {
    const from_ms = reads[10]!.time_ms;
    const to_ms = reads[30]!.time_ms;
    const patient = reads[0]!.patient;
    const expected = newestFirst(
      reads.filter((r) => r.patient === patient && r.time_ms >= from_ms && r.time_ms < to_ms),
    );
    const got = allPages({ by: 'patient', id: patient, from_ms, to_ms, limit: 3 }).flat();
    expect(got.map(hashOf)).toEqual(expected.map((r) => r.hash));
    expect(queryAudit(chain.state, { by: 'time', from_ms: to_ms, to_ms: to_ms }).entries).toEqual([]);
  });

  it('an empty index gives an empty page; bad queries are refused with BAD_AUDIT_QUERY', () => {
    expect(queryAudit(chain.state, { by: 'actor', id: 'nobody' })).toEqual({ entries: [], cursor: null });
    const bad = [
      { by: 'time', limit: 0 },
      { by: 'time', limit: MAX_AUDIT_PAGE + 1 },
      { by: 'patient' },
      { by: 'time', from_ms: -1 },
      { by: 'time', cursor: 'zz' },
    ] as const;
    for (const query of bad)
      expect(() => queryAudit(chain.state, query)).toThrow(
        expect.objectContaining({ code: 'BAD_AUDIT_QUERY' }),
      );
    // A cursor from another index does not belong to this query.
    const { cursor } = queryAudit(chain.state, { by: 'actor', id: readers[0]!.id, limit: 1 });
    expect(() => queryAudit(chain.state, { by: 'actor', id: readers[1]!.id, cursor })).toThrow(/cursor/);
  });
});

describe('point lookups and listings', () => {
  it("nonces, identities by key, records, a patient's records", () => {
    expect(lastNonce(chain.state, readers[0]!.signing.publicKey)).toBe(readers[0]!.nonce);
    expect(lastNonce(chain.state, new Uint8Array(32))).toBe(0);
    expect(getIdentityByKey(chain.state, readers[1]!.signing.publicKey)?.id).toBe(readers[1]!.id);
    expect(getRecord(chain.state, records[0]!)?.keyCid).toMatch(/^b/);
    expect(listRecordIds(chain.state, patients[1]!.id)).toEqual([records[1]]);
  });
});
