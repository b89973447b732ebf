/**
 * The simulated executor: answers the consensus core's `build` and `execute` actions and applies its
 * `commit`s, standing in for the rule engine.
 *
 * Execution is stateless (`executeForTest`: receipts and writes are a pure function of the
 * transactions), so a block's state root is nextStateRoot(parent's state root, writes, receipts) and
 * the only state the executor needs is the state root of every block it knows: the committed ones
 * (from the durable chain) and the ones it built or executed speculatively (lost on a crash).
 */
import type { ConsensusAction } from '../consensus/types.ts';
import { hex } from '../hex.ts';
import {
  assembleBlock,
  type Block,
  blockHash,
  type CommitCertificate,
  nextStateRoot,
  RECEIPT_OK,
  type Receipt,
  type StateWrite,
  type Transaction,
  txHash,
  txRootOf,
  ZERO_HASH,
} from '../ledger/index.ts';
import type { CommittedChain } from './durable.ts';

/** Stand-in for the rule engine: one state write per sender, events naming a patient and a record. */
export function executeForTest(txs: readonly Transaction[]): { receipts: Receipt[]; writes: StateWrite[] } {
  const latest = new Map<string, StateWrite>();
  const receipts = txs.map((tx): Receipt => {
    const key = Buffer.concat([Buffer.from('nonce/'), tx.sender]);
    latest.set(key.toString('hex'), {
      key: new Uint8Array(key),
      value: new Uint8Array(Buffer.from(String(tx.nonce))),
    });
    return {
      txHash: txHash(tx),
      code: RECEIPT_OK,
      message: '',
      events: [
        {
          type: 'test.noted',
          attributes: new Map([
            ['patient', `patient-${tx.nonce % 3}`],
            ['record', `record-${Buffer.from(tx.sender).toString('hex').slice(0, 8)}-${tx.nonce}`],
          ]),
        },
      ],
    };
  });
  const writes = [...latest.values()].sort((a, b) => Buffer.compare(a.key, b.key));
  return { receipts, writes };
}

/** The state root after executing `txs` on top of a block whose state root is `parentRoot`. */
export function stateRootAfter(parentRoot: Uint8Array, txs: readonly Transaction[]): Uint8Array {
  const { receipts, writes } = executeForTest(txs);
  return nextStateRoot(parentRoot, writes, receipts);
}

interface KnownBlock {
  height: number;
  stateRoot: Uint8Array;
  timestamp: number;
}

export interface ExecutionResult {
  ok: boolean;
  stateRoot: Uint8Array;
  reason?: string;
}

type BuildAction = Extract<ConsensusAction, { kind: 'build' }>;

const equal = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(b);

export class SimExecutor {
  readonly #chainId: string;
  readonly #validators: readonly Uint8Array[];
  readonly #validatorSet: ReadonlySet<string>;
  readonly #chain: CommittedChain;
  /** Speculatively built or executed blocks, by hash. */
  readonly #speculative = new Map<string, KnownBlock>();

  constructor(chainId: string, validators: readonly Uint8Array[], chain: CommittedChain) {
    this.#chainId = chainId;
    this.#validators = validators;
    this.#validatorSet = new Set(validators.map(hex));
    this.#chain = chain;
  }

  #known(hash: Uint8Array): KnownBlock | undefined {
    const height = this.#chain.heightOf(hash);
    if (height !== undefined) {
      const { header } = this.#chain.at(height)!.block;
      return { height, stateRoot: header.stateRoot, timestamp: header.timestamp };
    }
    return this.#speculative.get(hex(hash));
  }

  /** The state root after a block this executor knows (committed, built or executed), if any. */
  stateRootOf(hash: Uint8Array): Uint8Array | undefined {
    return this.#known(hash)?.stateRoot;
  }

  /** Assembles the block the primary proposes; `now` is the virtual wall clock (ms since epoch). */
  build(action: BuildAction, now: number): Block {
    const n = this.#validators.length;
    const stateRoot = stateRootAfter(action.parent.stateRoot, action.txs);
    const block = assembleBlock({
      chainId: this.#chainId,
      height: action.height,
      view: action.view,
      timestamp: Math.max(Math.floor(now), action.parent.timestamp),
      prevHash: action.parent.hash,
      stateRoot,
      proposer: this.#validators[action.view % n]!,
      txs: action.txs,
    });
    this.#speculative.set(hex(blockHash(block.header)), {
      height: action.height,
      stateRoot,
      timestamp: block.header.timestamp,
    });
    return block;
  }

  /** Checks a proposed block against its parent and remembers its state root when valid. */
  execute(block: Block): ExecutionResult {
    const result = this.#check(block);
    if (result.ok) {
      this.#speculative.set(hex(blockHash(block.header)), {
        height: block.header.height,
        stateRoot: result.stateRoot,
        timestamp: block.header.timestamp,
      });
    }
    return result;
  }

  #check(block: Block): ExecutionResult {
    const { header } = block;
    const fail = (reason: string, stateRoot: Uint8Array = ZERO_HASH): ExecutionResult => ({
      ok: false,
      stateRoot,
      reason,
    });
    if (header.chainId !== this.#chainId) return fail(`chain id ${header.chainId}`);
    if (!equal(txRootOf(block.txs), header.txRoot)) return fail('txRoot does not match the transactions');
    if (!this.#validatorSet.has(hex(header.proposer))) return fail('proposer is not a validator');
    const parent = this.#known(header.prevHash);
    if (parent === undefined) return fail('unknown parent block');
    if (header.height !== parent.height + 1)
      return fail(`height ${header.height} after parent ${parent.height}`);
    if (header.timestamp < parent.timestamp) return fail('timestamp goes backwards');
    const stateRoot = stateRootAfter(parent.stateRoot, block.txs);
    if (!equal(stateRoot, header.stateRoot)) return fail('state root does not match execution', stateRoot);
    return { ok: true, stateRoot };
  }

  /**
   * Applies a committed block to the durable chain. Returns null, or what is wrong (a block that does
   * not extend the tip, or whose state root is not what execution produces): a core bug.
   */
  commit(block: Block, certificate: CommitCertificate): string | null {
    const tip = this.#chain.tip;
    const { header } = block;
    if (header.height !== tip.block.header.height + 1) {
      return `commit of height ${header.height} when the chain's tip is ${tip.block.header.height}`;
    }
    if (!equal(header.prevHash, tip.hash)) return `commit of height ${header.height} does not extend the tip`;
    const hash = blockHash(header);
    const known = this.#speculative.get(hex(hash));
    const stateRoot = known?.stateRoot ?? stateRootAfter(tip.block.header.stateRoot, block.txs);
    if (!equal(stateRoot, header.stateRoot)) {
      return `commit of height ${header.height}: state root differs from execution`;
    }
    if (!equal(txRootOf(block.txs), header.txRoot)) return `commit of height ${header.height}: bad txRoot`;
    this.#chain.append(block, certificate);
    this.#speculative.delete(hex(hash));
    return null;
  }
}
