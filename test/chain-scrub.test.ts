/**
 * A byte flipped in a stored block of a validator's LevelDB (as a disk fault would): the chain store
 * refuses to return the block (CHAIN_BLOCK_CORRUPT), the API answers an error instead of the altered
 * block or transaction, block sync does not serve it, the scrubber finds it, and the repair fetches a
 * verified copy from a peer, after which the block reads back as the other validators hold it.
 * Four real validators in this process (test/fixtures/validators.ts).
 */
import type { Server } from 'node:http';
import { join } from 'node:path';
import { Level } from 'level';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi } from '../src/api/server.ts';
import { hex } from '../src/bytes.ts';
import { decode } from '../src/codec/index.ts';
import { OPERATOR_KEY_ID } from '../src/crypto/http-signature.ts';
import { generateSigningKeyPair } from '../src/crypto/index.ts';
import { MedledgerError } from '../src/errors.ts';
import { Block, blockHash, CorruptBlockError, Head, txHash, verifyStore } from '../src/ledger/index.ts';
import { heightKey, PREFIX } from '../src/ledger/keys.ts';
import { type Logger, SILENT_LOGGER } from '../src/logger.ts';
import { fetchBlocks } from '../src/node/block-sync.ts';
import { DEFAULT_SCRUB_BLOCKS_PER_SECOND, scrubRate } from '../src/node/daemon.ts';
import { ChainScrubber } from '../src/node/scrubber.ts';
import { markStateSuspect, repairStateIfMarked } from '../src/node/state-repair.ts';
import type { ValidatorNode } from '../src/node/validator.ts';
import { signedGet } from './fixtures/signed.ts';
import {
  commitMore as commitMoreOf,
  rawChainDb as rawChainDbOf,
  startValidators,
  type TestValidators,
  until,
} from './fixtures/validators.ts';

let c: TestValidators;
const nonces = new Map<number, number>();

/** A log that keeps its lines, to check what a finding says (and that it says nothing more). */
function recordingLog(): Logger & { lines: Array<{ fields: object; message: string }> } {
  const lines: Array<{ fields: object; message: string }> = [];
  const keep = (fields: object, message: string) => lines.push({ fields, message });
  return { lines, info: keep, warn: keep, debug() {} };
}

/** Flips one bit of the stored block at `height`: in its first tx's body, or in its header's state root. */
async function flipStoredBlock(node: number, height: number, where: 'tx' | 'header'): Promise<Block> {
  const db = await rawChainDbOf(c, node);
  const key = heightKey(PREFIX.block, height);
  const bytes = Buffer.from((await db.get(key))!);
  const original = decode(Block, bytes);
  const field = where === 'tx' ? original.txs[0]!.body : original.header.stateRoot;
  const at = bytes.indexOf(Buffer.from(field)) + 3;
  bytes[at]! ^= 0x01;
  await db.put(key, bytes);
  await db.close();
  return original;
}

const commitMore = (count: number) => commitMoreOf(c, count, nonces);

/** A height below the head (not the head: that one is checked against the head record) holding txs. */
async function heightWithTxs(node: ValidatorNode, below: number): Promise<number> {
  for (let h = below - 1; h > 0; h--) if ((await node.store.block(h))!.txs.length > 0) return h;
  throw new Error('no block with transactions');
}

function scrubberFor(
  i: number,
  log: Logger,
  blocksPerSecond = 0,
  onStateSuspect?: (height: number) => void,
  passPause_ms = 200,
): ChainScrubber {
  const node = c.nodes[i]!;
  const self = hex(c.keys[i]!.signing.publicKey);
  return new ChainScrubber({
    store: node.store,
    host: node.host,
    peers: c.keys.map((k) => hex(k.signing.publicKey)).filter((k) => k !== self),
    log,
    blocksPerSecond,
    retry_ms: 200,
    passPause_ms,
    onStateSuspect,
  });
}

beforeAll(async () => {
  c = await startValidators(4);
  await until(() => c.nodes.every((n) => n!.status().peers === 3));
  await commitMore(8);
}, 90_000);

afterAll(async () => {
  await c?.close();
});

describe('a corrupt stored block', () => {
  let target: number;
  let original: Block;
  let server: Server;

  beforeAll(async () => {
    target = await heightWithTxs(c.nodes[0]!, c.nodes[0]!.store.head.height);
    await c.stop(3);
    original = await flipStoredBlock(3, target, 'tx');
    await c.start(3);
    await until(() => c.nodes[3]!.status().peers === 3);
  }, 60_000);

  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  });

  it('is refused by the store with CHAIN_BLOCK_CORRUPT and its height, and counted', async () => {
    const store = c.nodes[3]!.store;
    const error = await store.block(target).catch((e) => e);
    expect(error).toBeInstanceOf(CorruptBlockError);
    expect(error).toMatchObject({ code: 'CHAIN_BLOCK_CORRUPT', height: target });
    await expect(store.transaction(txHash(original.txs[0]!))).rejects.toMatchObject({
      code: 'CHAIN_BLOCK_CORRUPT',
    });
    expect(store.health).toMatchObject({ corruptBlocks: 1, unrepairedBlocks: 1, blocksRepaired: 0 });
    // Blocks around it still read.
    expect(await store.block(target + 1)).toBeDefined();
    expect((await verifyStore(store)).problem).toMatchObject({ height: target });
  });

  it('is answered by the API as an error, not as altered data', async () => {
    const operator = generateSigningKeyPair();
    server = await startApi({ node: c.nodes[3]!, version: 'test' }, '127.0.0.1', 0, {
      operatorKey: operator.publicKey,
    });
    const { port } = server.address() as { port: number };
    const signer = { id: OPERATOR_KEY_ID, secretKey: operator.secretKey };
    const block = await signedGet(`http://127.0.0.1:${port}/v1/blocks/${target}`, signer);
    expect(block.status).toBe(503);
    expect(block.body.error.code).toBe('CHAIN_BLOCK_CORRUPT');
    const tx = await signedGet(`http://127.0.0.1:${port}/v1/txs/${hex(txHash(original.txs[0]!))}`, signer);
    expect(tx.status).toBe(503);
    expect(tx.body.error.code).toBe('CHAIN_BLOCK_CORRUPT');
    // The same routes still answer for a sound block.
    expect((await signedGet(`http://127.0.0.1:${port}/v1/blocks/${target + 1}`, signer)).status).toBe(200);
  });

  it('is not served to a peer by block sync', async () => {
    const corrupted = hex(c.keys[3]!.signing.publicKey);
    const asker = c.nodes[0]!.host;
    expect(await fetchBlocks(asker, [corrupted], target, target)).toEqual([]);
    const below = await fetchBlocks(asker, [corrupted], target - 1, target + 1);
    expect(below.map((e) => e.block.header.height)).toEqual([target - 1]);
    // A sound peer serves the height, with the block as it was committed.
    const sound = await fetchBlocks(asker, [hex(c.keys[1]!.signing.publicKey)], target, target);
    expect(blockHash(sound[0]!.block.header)).toEqual(blockHash(original.header));
  });

  it('is found by the scrubber and repaired from a peer, then reads back as committed', async () => {
    const log = recordingLog();
    const scrubber = scrubberFor(3, log);
    const { findings } = await scrubber.checkHeight(target);
    expect(findings).toEqual([expect.objectContaining({ height: target, kind: 'block' })]);
    expect(await scrubber.repair(target)).toBe(true);
    const store = c.nodes[3]!.store;
    expect(await store.block(target)).toEqual(original);
    expect((await store.transaction(txHash(original.txs[0]!)))?.height).toBe(target);
    expect(store.health).toMatchObject({ corruptBlocks: 1, unrepairedBlocks: 0, blocksRepaired: 1 });
    expect((await scrubber.checkHeight(target)).findings).toEqual([]);
    expect((await verifyStore(store)).problem).toBeNull();
    // What the log says of it: heights, hashes, peers and codes; nothing of the transactions.
    const repaired = log.lines.find((l) => l.message.includes('repaired'));
    expect(repaired?.fields).toEqual({
      height: target,
      hash: hex(blockHash(original.header)),
      peer: expect.any(String),
    });
    await scrubber.stop();
  });

  it('refuses a copy that is not the block the chain expects, or whose certificate does not verify', async () => {
    const store = c.nodes[3]!.store;
    const [good] = await fetchBlocks(c.nodes[3]!.host, [hex(c.keys[0]!.signing.publicKey)], target, target);
    const [next] = await fetchBlocks(
      c.nodes[3]!.host,
      [hex(c.keys[0]!.signing.publicKey)],
      target + 1,
      target + 1,
    );
    const moved = {
      block: { ...next!.block, header: { ...next!.block.header, height: target } },
      certificate: good!.certificate,
    };
    await expect(store.repairBlock(moved)).rejects.toMatchObject({ code: 'CHAIN_REPAIR_REFUSED' });
    const vote = good!.certificate.votes[0]!;
    const forged = {
      ...good!.certificate,
      votes: [
        { ...vote, signature: Uint8Array.from(vote.signature, (b, i) => (i === 0 ? b ^ 1 : b)) },
        ...good!.certificate.votes.slice(1),
      ],
    };
    await expect(store.repairBlock({ block: good!.block, certificate: forged })).rejects.toMatchObject({
      code: 'CHAIN_REPAIR_REFUSED',
    });
    expect(await store.block(target)).toEqual(good!.block);
  });
});

describe('the background scrubber', () => {
  it('walks the chain at its rate, finds a block with an altered header and repairs it unattended', async () => {
    await commitMore(4);
    const target = await heightWithTxs(c.nodes[0]!, c.nodes[0]!.store.head.height);
    await c.stop(2);
    const original = await flipStoredBlock(2, target, 'header');
    await c.start(2);
    const log = recordingLog();
    const node = c.nodes[2]!;
    await until(() => node.status().peers === 3);
    // One pass only: a second one could find the block again while its repair is still under way.
    const scrubber = scrubberFor(2, log, 200, undefined, 60_000);
    node.metrics.watchChainHealth(() => ({ ...node.store.health, ...scrubber.counts, stateRepairs: 0 }));
    scrubber.start();
    try {
      await until(async () => node.store.health.blocksRepaired === 1, 30_000);
      expect(await node.store.block(target)).toEqual(original);
      const finding = log.lines.find((l) => l.message.startsWith('chain scrub:'));
      expect(finding?.fields).toEqual({ height: target, kind: 'block', code: 'CHAIN_RECORD_CORRUPT' });
      const metrics = await node.metrics.registry.metrics();
      // Found by the walk, and possibly also by a read (a peer's block sync) before the repair.
      expect(Number(/^medledger_corrupt_blocks_total (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1);
      expect(metrics).toMatch(/^medledger_blocks_repaired_total 1$/m);
      expect(metrics).toMatch(/^medledger_corrupt_blocks_unrepaired 0$/m);
      expect(metrics).toMatch(/^medledger_scrub_findings_total\{kind="block"\} 1$/m);
      // The walk goes on past the repaired height.
      await until(() => scrubber.counts.scrubbedBlocks > target + 1, 30_000);
    } finally {
      await scrubber.stop();
    }
    expect((await verifyStore(node.store)).problem).toBeNull();
  });

  it('rewrites a damaged tx index entry from the sound block', async () => {
    const node = c.nodes[1]!;
    const target = await heightWithTxs(node, node.store.head.height);
    const block = (await node.store.block(target))!;
    const key = Buffer.concat([Buffer.of(PREFIX.tx), txHash(block.txs[0]!)]);
    await node.store.db.del(key);
    await expect(node.store.transaction(txHash(block.txs[0]!))).resolves.toBeUndefined();
    const scrubber = scrubberFor(1, recordingLog());
    const { findings } = await scrubber.checkHeight(target);
    expect(findings.map((f) => f.kind)).toEqual(['tx-index']);
    await node.store.rewriteTxIndex(block);
    expect((await node.store.transaction(txHash(block.txs[0]!)))?.height).toBe(target);
    expect((await scrubber.checkHeight(target)).findings).toEqual([]);
  });
});

describe('a corrupt head block', () => {
  it('does not keep the node from starting, and is repaired from a peer', async () => {
    await c.stop(2);
    const db = new Level<Uint8Array, Uint8Array>(join(c.dir, 'node-2', 'chain'), {
      keyEncoding: 'view',
      valueEncoding: 'view',
    });
    await db.open();
    const head = decode(Head, (await db.get(Buffer.of(PREFIX.head)))!);
    await db.close();
    const original = await flipStoredBlock(2, head.height, 'tx');
    const node = await c.start(2);
    const error = await node.store.block(head.height).catch((e) => e);
    expect(error).toMatchObject({ code: 'CHAIN_BLOCK_CORRUPT', height: head.height });
    expect(await scrubberFor(2, recordingLog()).repair(head.height)).toBe(true);
    expect(await node.store.block(head.height)).toEqual(original);
  });
});

describe('a corrupt certificate', () => {
  it('is not served by block sync, is found by the scrubber and is replaced from a peer', async () => {
    const node = c.nodes[1]!;
    const target = node.store.head.height - 1;
    const key = heightKey(PREFIX.certificate, target);
    const bytes = Buffer.from((await node.store.db.get(key))!);
    bytes[bytes.length - 2]! ^= 0x01; // inside the last vote's signature
    await node.store.db.put(key, bytes);
    const served = await fetchBlocks(c.nodes[0]!.host, [hex(c.keys[1]!.signing.publicKey)], target, target);
    expect(served).toEqual([]);
    const scrubber = scrubberFor(1, recordingLog());
    expect((await scrubber.checkHeight(target)).findings.map((f) => f.kind)).toEqual(['certificate']);
    expect(await scrubber.repair(target)).toBe(true);
    expect((await scrubber.checkHeight(target)).findings).toEqual([]);
    expect((await verifyStore(node.store)).problem).toBeNull();
  });
});

describe('a corrupt genesis block', () => {
  it('is refused on read and rewritten from the genesis file', async () => {
    const store = c.nodes[1]!.store;
    const key = heightKey(PREFIX.block, 0);
    const bytes = Buffer.from((await store.db.get(key))!);
    const good = Buffer.from(bytes);
    bytes[bytes.length - 1]! ^= 0x01;
    await store.db.put(key, bytes);
    await expect(store.block(0)).rejects.toMatchObject({ code: 'CHAIN_BLOCK_CORRUPT', height: 0 });
    const scrubber = scrubberFor(1, recordingLog());
    expect((await scrubber.checkHeight(0)).findings.map((f) => f.kind)).toEqual(['block']);
    expect(await scrubber.repair(0)).toBe(true);
    expect(Buffer.from((await store.db.get(key))!)).toEqual(good);
    expect((await verifyStore(store)).problem).toBeNull();
  });
});

describe('damaged receipts', () => {
  it('are found by the walk against the state root, and rebuilt by the state repair at the next start', async () => {
    const node = c.nodes[1]!;
    const target = await heightWithTxs(node, node.store.head.height);
    const key = heightKey(PREFIX.receipts, target);
    const bytes = Buffer.from((await node.store.db.get(key))!);
    bytes[bytes.length - 1]! ^= 0x01; // in the last event attribute's text: still decodes
    await node.store.db.put(key, bytes);
    const suspect: number[] = [];
    const scrubber = scrubberFor(1, recordingLog(), 500, (height) => {
      suspect.push(height);
      markStateSuspect(
        join(c.dir, 'node-1'),
        new MedledgerError('CHAIN_RECORD_CORRUPT', `receipts ${height}`),
      );
    });
    scrubber.start();
    await until(() => suspect.length > 0, 20_000);
    await scrubber.stop();
    expect(suspect[0]).toBe(target);
    expect(scrubber.counts.findings.get('receipts')).toBeGreaterThanOrEqual(1);
    await c.stop(1);
    const report = await repairStateIfMarked(join(c.dir, 'node-1'), c.genesis, SILENT_LOGGER);
    expect(report?.blocksReexecuted).toEqual([target]);
    const store = await c.start(1);
    expect((await verifyStore(store.store)).problem).toBeNull();
  });
});

describe('the scrub rate', () => {
  it('comes from the option, else MEDLEDGER_SCRUB_BLOCKS_PER_SECOND, else the default; 0 is off', () => {
    expect(scrubRate(5, { MEDLEDGER_SCRUB_BLOCKS_PER_SECOND: '7' })).toBe(5);
    expect(scrubRate(undefined, { MEDLEDGER_SCRUB_BLOCKS_PER_SECOND: '0' })).toBe(0);
    expect(scrubRate(undefined, {})).toBe(DEFAULT_SCRUB_BLOCKS_PER_SECOND);
    for (const bad of ['fast', '-1', '1e9'])
      expect(() => scrubRate(undefined, { MEDLEDGER_SCRUB_BLOCKS_PER_SECOND: bad })).toThrow(
        expect.objectContaining({ code: 'CONFIG_INVALID_SCRUB_RATE' }),
      );
  });
});
