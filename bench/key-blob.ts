/**
 * The key blob's cost against the two envelopes it replaced, for n = 4, 7 and 16 validators, in one
 * run so that the ratios hold on a shared machine.
 *
 *   npm run bench:key-blob [-- --iterations 2000] [-- --out docs/benchmarks/key-blob]
 *
 * Per record add: makeKeyBlob (Shamir split, t = f + 1 of n; n shares sealed with commitments; the
 * key sealed to the patient; the blob encoded) against the old way, two seal() calls (the data key
 * to the patient and to the custodian, what record.add used to carry). Bytes: the encoded blob and
 * what BlobStore.putRecord adds to a store's files for it (the blob as one chunk plus its manifest),
 * against the two envelopes. Per read: a validator's resealShare against the custodian's old
 * rewrapForReader, and the reader's openReaderShare × t + combineShares against one openEnvelope.
 * Old and new alternate within each iteration, each timed alone; figures are medians in µs.
 */
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { machine, versions } from '../src/bench/measure.ts';
import { generateEncryptionKeyPair, randomBytes, seal } from '../src/crypto/index.ts';
import {
  BlobStore,
  cidOf,
  combineShares,
  DATA_KEY_BYTES,
  keyThreshold,
  makeKeyBlob,
  openEnvelope,
  openReaderShare,
  recordContext,
  resealShare,
  rewrapForReader,
} from '../src/store/index.ts';

const option = (name: string) => {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : undefined;
};
const iterations = Number(option('iterations') ?? 2000);
const out = option('out') ?? 'docs/benchmarks/key-blob';
const WARM_UP = 100;
const SIZES = [4, 7, 16];
const CHAIN_ID = 'bench-key-blob';

interface Row {
  validators: number;
  threshold: number;
  /** Per record add, µs (median). */
  add_us: { key_blob: number; two_seals: number; ratio: number };
  bytes: {
    key_blob: number;
    /** What the blob store's files grew by for the key blob: the blob and its manifest. */
    key_blob_stored: number;
    two_envelopes: number;
  };
  /** Per read, µs (median). */
  read_us: {
    /** One validator re-sealing its share to the reader (each of the n does it). */
    reseal_share: number;
    /** The custodian's node re-sealing the whole key, the old way. */
    old_rewrap: number;
    /** The reader: openReaderShare × t and combineShares. */
    open_and_combine: number;
    /** The reader, the old way: one envelope opened. */
    old_open: number;
    ratio: number;
  };
}

const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const round = (x: number) => Math.round(x * 10) / 10;

/** Total size of the files under `dir`. */
async function fileBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true }))
    if (entry.isFile()) total += (await stat(join(entry.parentPath, entry.name))).size;
  return total;
}

/** Times one call in µs. */
async function time(op: () => unknown): Promise<number> {
  const start = process.hrtime.bigint();
  await op();
  return Number(process.hrtime.bigint() - start) / 1000;
}

async function measure(n: number): Promise<Row> {
  const validators = Array.from({ length: n }, generateEncryptionKeyPair);
  const holders = validators.map((v) => ({ publicKey: randomBytes(32), encryptionKey: v.publicKey }));
  const [patient, custodian, reader] = [0, 0, 0].map(generateEncryptionKeyPair);
  const threshold = keyThreshold(n);
  const recordCid = cidOf(randomBytes(1024)).toString();
  const context = recordContext(CHAIN_ID, recordCid);
  const dataKey = randomBytes(DATA_KEY_BYTES);
  const input = {
    chainId: CHAIN_ID,
    recordCid,
    dataKey,
    validators: holders,
    patientKey: patient!.publicKey,
  };
  const oldWay = () => [
    seal(patient!.publicKey, dataKey, context),
    seal(custodian!.publicKey, dataKey, context),
  ];

  // One of each, for the bytes and for the read side.
  const { blob, bytes } = await makeKeyBlob(input);
  const envelopes = oldWay();
  const dir = await mkdtemp(join(tmpdir(), 'medledger-key-blob-'));
  let stored: number;
  try {
    const store = await BlobStore.open(dir);
    const before = await fileBytes(join(dir, 'blobs'));
    await store.putRecord([bytes], { size: bytes.length });
    stored = (await fileBytes(join(dir, 'blobs'))) - before;
    await store.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const readTx = randomBytes(32);
  const reseal = (index: number) =>
    resealShare({
      blob,
      chainId: CHAIN_ID,
      index,
      validatorSecretKey: validators[index]!.secretKey,
      readerKey: reader!.publicKey,
      readTx,
    });
  const released = Array.from({ length: threshold }, (_, i) => reseal(i));
  const rewrapped = rewrapForReader(custodian!.secretKey, envelopes[1]!, reader!.publicKey, context);
  const openAndCombine = async () => {
    const shares = released.map((sealed, index) =>
      openReaderShare({ blob, chainId: CHAIN_ID, index, readerSecretKey: reader!.secretKey, readTx, sealed }),
    );
    (await combineShares(shares, threshold)).fill(0);
  };

  const t = { keyBlob: [], twoSeals: [], reseal: [], rewrap: [], combine: [], open: [] } as Record<
    string,
    number[]
  >;
  for (let i = -WARM_UP; i < iterations; i++) {
    const sample = [
      await time(() => makeKeyBlob(input)),
      await time(oldWay),
      await time(() => reseal(i & 1)),
      await time(() => rewrapForReader(custodian!.secretKey, envelopes[1]!, reader!.publicKey, context)),
      await time(openAndCombine),
      await time(() => openEnvelope(reader!.secretKey, rewrapped, context)),
    ];
    if (i < 0) continue;
    for (const [k, key] of ['keyBlob', 'twoSeals', 'reseal', 'rewrap', 'combine', 'open'].entries())
      t[key]!.push(sample[k]!);
  }
  const m = Object.fromEntries(Object.entries(t).map(([key, xs]) => [key, median(xs)]));
  return {
    validators: n,
    threshold,
    add_us: {
      key_blob: round(m.keyBlob!),
      two_seals: round(m.twoSeals!),
      ratio: round(m.keyBlob! / m.twoSeals!),
    },
    bytes: {
      key_blob: bytes.length,
      key_blob_stored: stored,
      two_envelopes: envelopes[0]!.length + envelopes[1]!.length,
    },
    read_us: {
      reseal_share: round(m.reseal!),
      old_rewrap: round(m.rewrap!),
      open_and_combine: round(m.combine!),
      old_open: round(m.open!),
      ratio: round(m.combine! / m.open!),
    },
  };
}

const started = performance.now();
const rows: Row[] = [];
for (const n of SIZES) {
  rows.push(await measure(n));
  console.error(`n = ${n} done (${Math.round(performance.now() - started)} ms)`);
}
const result = {
  benchmark: 'key-blob',
  iterations,
  warm_up: WARM_UP,
  wall_s: (performance.now() - started) / 1000,
  versions: versions(),
  machine: machine(),
  rows,
};

const int = (x: number) => Math.round(x).toLocaleString('en-US');
const table = [
  '| validators n (threshold t) | per record add µs: key blob / two seals (×) | bytes: key blob (stored, with manifest) / two envelopes | per read µs: reseal one share / old rewrap | reader µs: open t shares + combine / open one envelope (×) |',
  '|---|--:|--:|--:|--:|',
  ...rows.map(
    (r) =>
      `| ${r.validators} (${r.threshold}) | ${int(r.add_us.key_blob)} / ${int(r.add_us.two_seals)} (× ${r.add_us.ratio}) | ` +
      `${int(r.bytes.key_blob)} (${int(r.bytes.key_blob_stored)}) / ${r.bytes.two_envelopes} | ` +
      `${int(r.read_us.reseal_share)} / ${int(r.read_us.old_rewrap)} | ` +
      `${int(r.read_us.open_and_combine)} / ${int(r.read_us.old_open)} (× ${r.read_us.ratio}) |`,
  ),
].join('\n');
const m = result.machine;
const summary = `# The key blob against the two envelopes

What keeping a record's data key split among the validators costs, against sealing it to the patient
and the custodian as record.add used to. Produced by \`npm run bench:key-blob\` (bench/key-blob.ts),
one process, no network; everything measured is in \`result.json\`.

${table}

- **per record add**: the client's key material for one record. Key blob: \`makeKeyBlob\` (Shamir
  split of the 32-byte key, t of n; each share and a fresh salt sealed to one validator's X25519 key
  with a SHA-256 commitment; the key sealed to the patient; the blob encoded). Two seals: \`seal()\`
  of the key to the patient and to the custodian, the envelopes the old \`record.add\` carried.
- **bytes**: the encoded key blob, and in brackets what a blob store's files grow by when it is put
  with \`BlobStore.putRecord\` (the blob as one chunk plus its manifest), on every node; the key blob
  is off chain, and \`record.add\` carries its CID instead. Two envelopes: the two \`seal()\` outputs
  as they were in the transaction (and in the record's state), before msgpack framing.
- **per read**: each validator's \`resealShare\` (open its share, check the commitment, seal it to the
  reader); every validator the reader's node reaches does it, where the old way one node, the
  custodian's, ran \`rewrapForReader\` (open, seal). The reader: \`openReaderShare\` for t shares
  (each checked against its commitment) and \`combineShares\`, against opening one envelope
  (\`openEnvelope\`).

Medians of ${iterations} iterations after ${WARM_UP} warm-ups; old and new alternate in every
iteration, each call timed alone.

- ${m.cpuModel}, ${m.cpus} CPUs; ${m.platform} ${m.release} ${m.arch}
- Node.js ${result.versions.node}, medledger ${result.versions.medledger}, commit ${result.versions.commit ?? 'unknown'}; ${result.wall_s.toFixed(1)} s
`;

await mkdir(out, { recursive: true });
await writeFile(join(out, 'result.json'), `${JSON.stringify(result, null, 2)}\n`);
await writeFile(join(out, 'summary.md'), summary);
console.log(table);
console.log(`\nwritten to ${out}/summary.md and ${out}/result.json`);
