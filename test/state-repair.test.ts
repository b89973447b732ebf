/**
 * A damaged state value in a validator's LevelDB: the node stops with NODE_STATE_DIVERGED as soon as
 * a transaction reads it, leaves the mark (as the daemon does), and the next start rebuilds the state
 * from the stored blocks (node/state-repair.ts) instead of diverging again; damaged per-block writes
 * are rebuilt by re-executing their block. With nothing damaged, the start refuses with a clear code.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hex } from '../src/bytes.ts';
import { genesisState, stateKey } from '../src/contracts/index.ts';
import { MedledgerError } from '../src/errors.ts';
import { blockHash, txHash, verifyChain, verifyStore } from '../src/ledger/index.ts';
import { heightKey, PREFIX } from '../src/ledger/keys.ts';
import { SILENT_LOGGER } from '../src/logger.ts';
import {
  markIfDiverged,
  markStateSuspect,
  repairStateIfMarked,
  STATE_MARK_FILE,
} from '../src/node/state-repair.ts';
import { ValidatorNode } from '../src/node/validator.ts';
import {
  commitMore as commitMoreOf,
  FAST_PARAMS,
  orgRegistrations,
  rawChainDb as rawChainDbOf,
  startValidators,
  type TestValidators,
  until,
} from './fixtures/validators.ts';

let c: TestValidators;
const nonces = new Map<number, number>();

const commitMore = (count: number) => commitMoreOf(c, count, nonces);
const rawChainDb = (i: number) => rawChainDbOf(c, i);

const stateDbKey = (key: Uint8Array) => Buffer.concat([Buffer.of(PREFIX.state), key]);

beforeAll(async () => {
  c = await startValidators(4);
  await until(() => c.nodes.every((n) => n!.status().peers === 3));
  await commitMore(8);
}, 90_000);

afterAll(async () => {
  await c?.close();
});

describe('a damaged state value', () => {
  it('stops the node with NODE_STATE_DIVERGED, and the next start repairs the state and catches up', async () => {
    const dataDir = join(c.dir, 'node-3');
    await c.stop(3);
    // Flip the lowest bit of admin 0's nonce (a one-byte integer): the next tx of admin 0 reads it.
    const db = await rawChainDb(3);
    const nonceKey = stateDbKey(stateKey.nonce(c.admins[0]!.publicKey));
    const value = Buffer.from((await db.get(nonceKey))!);
    value[value.length - 1]! ^= 0x01;
    await db.put(nonceKey, value);
    await db.close();

    // Started as the daemon starts it: on a fatal error, the mark.
    let fatal: Error | null = null;
    const node = await ValidatorNode.start({
      dataDir,
      genesis: c.genesis,
      secretKey: c.keys[3]!.signing.secretKey,
      listen: ['/ip4/127.0.0.1/tcp/0'],
      peers: c.nodes.flatMap((n, j) =>
        n && j !== 3 ? [{ publicKey: c.keys[j]!.signing.publicKey, addresses: n.host.addresses }] : [],
      ),
      params: FAST_PARAMS,
      onFatal: (error) => {
        fatal = error;
        markIfDiverged(dataDir, error);
      },
    });
    c.nodes[3] = node;
    for (const other of c.nodes.slice(0, 3))
      other!.host.setPeerAddresses(c.keys[3]!.signing.publicKey, node.host.addresses);
    await until(() => node.status().peers === 3);
    const batch = orgRegistrations(c, 4, nonces); // admin 0's next transaction first
    const tx = batch[0]!;
    for (const more of batch) c.nodes[0]!.submit(more);
    await until(() => fatal !== null, 30_000);
    expect(fatal).toMatchObject({ code: 'NODE_STATE_DIVERGED' });
    expect(existsSync(join(dataDir, STATE_MARK_FILE))).toBe(true);
    await node.stop();
    c.nodes[3] = null;

    // The next start: the state is rebuilt from the stored blocks, the mark removed.
    const report = await repairStateIfMarked(dataDir, c.genesis, SILENT_LOGGER);
    expect(report).toMatchObject({ keysRepaired: 1, blocksReexecuted: [] });
    expect(existsSync(join(dataDir, STATE_MARK_FILE))).toBe(false);
    expect(await repairStateIfMarked(dataDir, c.genesis, SILENT_LOGGER)).toBeNull();

    const restarted = await c.start(3);
    await until(() => restarted.store.hasTxSync(txHash(tx)), 30_000);
    await commitMore(2);
    const height = c.nodes[0]!.store.head.height;
    await until(() => restarted.store.head.height >= height, 30_000);
    // Compared at one height: either node may already have committed a later block.
    const hashAt = async (node: ValidatorNode) => hex(blockHash((await node.store.block(height))!.header));
    expect(await hashAt(restarted)).toBe(await hashAt(c.nodes[0]!));
    expect((await verifyStore(restarted.store)).problem).toBeNull();
  }, 90_000);
});

describe('the state rebuild', () => {
  it('rewrites changed, missing and stray state keys and re-executes a block whose stored writes are damaged', async () => {
    const dataDir = join(c.dir, 'node-2');
    await c.stop(2);
    const db = await rawChainDb(2);
    const head = (await db.get(Buffer.of(PREFIX.head)))!;
    expect(head).toBeDefined();
    const entries: Array<[Uint8Array, Uint8Array]> = [];
    for await (const entry of db.iterator({ gte: Buffer.of(PREFIX.state), lt: Buffer.of(PREFIX.state + 1) }))
      entries.push(entry);
    const [changed, missing] = [entries[entries.length - 1]!, entries[entries.length - 2]!];
    const altered = Buffer.from(changed[1]);
    altered[0]! ^= 0x40;
    await db.put(changed[0], altered);
    await db.del(missing[0]);
    await db.put(stateDbKey(Buffer.from('stray')), Buffer.from('x'));
    // The stored writes of block 3: one value altered (still decodable).
    const writesKey = heightKey(PREFIX.writes, 3);
    const writes = Buffer.from((await db.get(writesKey))!);
    writes[writes.length - 1]! ^= 0x01;
    await db.put(writesKey, writes);
    await db.close();
    const chainDir = join(dataDir, 'chain');
    expect((await verifyChain(chainDir, c.genesis, genesisState(c.genesis))).ok).toBe(false);

    markStateSuspect(dataDir, new MedledgerError('NODE_STATE_DIVERGED', 'block 9: our state root differs'));
    const report = await repairStateIfMarked(dataDir, c.genesis, SILENT_LOGGER);
    expect(report).toMatchObject({ keysRepaired: 3, blocksReexecuted: [3] });
    expect(await verifyChain(chainDir, c.genesis, genesisState(c.genesis))).toMatchObject({
      ok: true,
      problem: null,
    });

    // Nothing damaged: the divergence is not this disk's; the start refuses, now and at once later.
    markStateSuspect(dataDir, new MedledgerError('NODE_STATE_DIVERGED', 'block 9: our state root differs'));
    for (let attempt = 0; attempt < 2; attempt++) {
      await expect(repairStateIfMarked(dataDir, c.genesis, SILENT_LOGGER)).rejects.toMatchObject({
        code: 'NODE_STATE_DIVERGED',
        message: expect.stringContaining(STATE_MARK_FILE),
      });
    }
  }, 60_000);
});
