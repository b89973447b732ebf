/**
 * Opening a validator's replica from its two databases: the chain store (blocks, state, indexes) and
 * the consensus log (what the replica signed and saw prepared). The daemon opens them on disk, the
 * simulator in memory (memory-level), and a simulated crash-and-restart reopens them through this same
 * path, so a restarted replica recovers exactly as a restarted process does: its executed head from
 * the chain store, its durable records from the log.
 */
import { Replica } from '../consensus/replica.ts';
import type { ConsensusParams, ReplicaConfig } from '../consensus/types.ts';
import { genesisState } from '../contracts/index.ts';
import { rememberedSenderAccounts } from '../contracts/sender-account.ts';
import { blockHash, type ChainDb, ChainStore, type Genesis, genesisBlock } from '../ledger/index.ts';
import { ConsensusLog } from './consensus-log.ts';
import { NodeExecutor } from './executor.ts';

export interface ReplicaDatabases {
  chain: ChainDb;
  log: ChainDb;
  /** Where the chain database is, for error messages (a directory, or "memory"). */
  where?: string;
}

export interface ReplicaSetup {
  genesis: Genesis;
  /** This validator's index in the genesis validator set. */
  self: number;
  secretKey: Uint8Array;
  params: ConsensusParams;
  /** The validator's wall clock (ms since the epoch): it stamps blocks and judges proposals' times. */
  clock: () => number;
  unsafe?: ReplicaConfig['unsafe'];
}

export interface OpenedReplica {
  store: ChainStore;
  log: ConsensusLog;
  replica: Replica;
  /** Runs blocks through the rule engine over `store`: the driver's executor port. */
  executor: NodeExecutor;
}

/** Opens the chain store and the consensus log, and makes the replica they restore. */
export async function openReplica(databases: ReplicaDatabases, setup: ReplicaSetup): Promise<OpenedReplica> {
  const { genesis } = setup;
  const initialState = genesisState(genesis);
  let store: ChainStore | undefined;
  let opened: Awaited<ReturnType<typeof ConsensusLog.openOn>>;
  try {
    store = await ChainStore.openOn(databases.chain, genesis, initialState, databases.where);
    opened = await ConsensusLog.openOn(databases.log);
  } catch (error) {
    // A start that fails leaves no database open (a chain store that failed closed its own).
    await store?.close();
    await databases.log.close();
    throw error;
  }
  const { log, records } = opened;
  const genesisHeader = genesisBlock(genesis, initialState).header;
  const validators = genesis.validators.map((v) => v.publicKey);
  const replica = new Replica(
    {
      chainId: genesis.chainId,
      validators,
      self: setup.self,
      secretKey: setup.secretKey,
      params: setup.params,
      genesis: {
        hash: blockHash(genesisHeader),
        stateRoot: genesisHeader.stateRoot,
        timestamp: genesisHeader.timestamp,
      },
      isCommitted: (hash) => store.hasTxSync(hash),
      senderAccount: rememberedSenderAccounts(store.stateReader, () => store.head.height),
      clock: setup.clock,
      ...(setup.unsafe ? { unsafe: setup.unsafe } : {}),
    },
    {
      executed: {
        height: store.head.height,
        hash: store.head.hash,
        stateRoot: store.head.stateRoot,
        // The header alone: a head block whose transactions are damaged is repaired while running.
        timestamp: store.tipHeader.timestamp,
      },
      records,
    },
  );
  return { store, log, replica, executor: new NodeExecutor(store, validators, setup.clock) };
}
