/**
 * The simulated executor: answers the consensus core's `build` and `execute` actions and applies its
 * `commit`s, standing in for the rule engine.
 *
 * Execution is stateless (`executeForTest`: receipts and writes are a pure function of the
 * transactions), so a block's state root is nextStateRoot(parent's state root, writes, receipts) and
 * the state the executor needs is the state root of every block it knows: the committed ones
 * (from the durable chain) and the ones it built or executed speculatively (lost on a crash).
 *
 * Besides, it applies the node's nonce rule (node/executor.ts): a block must take each sender's
 * nonces in order on top of its parent, as the rule engine counts them (a nonce counts only right
 * after the last one). `execute` refuses a block with a transaction that skips a nonce, and `build`
 * leaves such transactions out. So it also knows each sender's last nonce after every block: the
 * durable chain's, and per speculative block the nonces it took.
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

interface SpeculativeBlock extends KnownBlock {
  parent: Uint8Array;
  /** Hex sender → the last nonce it used after this block, for the senders whose nonce it took. */
  nonces: ReadonlyMap<string, number>;
}

/** A sender's last used nonce after some block. */
type LastNonce = (sender: Uint8Array) => number;

/**
 * The rule engine's nonce rule over a block's transactions: the indices of those that skip a nonce
 * of their sender (refused NONCE_GAP, taking no nonce), and each sender's last nonce after the others.
 * A nonce already used (NONCE_REUSED) takes none either, but is no gap: it could run after no order.
 */
function takeNonces(
  txs: readonly Transaction[],
  lastOf: LastNonce,
): { gaps: Set<number>; nonces: Map<string, number> } {
  const gaps = new Set<number>();
  const nonces = new Map<string, number>();
  txs.forEach((tx, i) => {
    const sender = hex(tx.sender);
    const last = nonces.get(sender) ?? lastOf(tx.sender);
    if (tx.nonce === last + 1) nonces.set(sender, tx.nonce);
    else if (tx.nonce > last + 1) gaps.add(i);
  });
  return { gaps, nonces };
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
  readonly #speculative = new Map<string, SpeculativeBlock>();

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

  /**
   * Each sender's last nonce after block `hash`: the nonces its speculative ancestry took, then the
   * committed chain's at the committed block it extends. Undefined for a block not known here.
   */
  #lastNonces(hash: Uint8Array): LastNonce | undefined {
    const path: ReadonlyMap<string, number>[] = [];
    for (let at = hash; ; ) {
      const height = this.#chain.heightOf(at);
      if (height !== undefined) {
        const chain = this.#chain;
        return (sender) => {
          const key = hex(sender);
          for (const nonces of path) {
            const nonce = nonces.get(key);
            if (nonce !== undefined) return nonce;
          }
          return chain.lastNonceAt(sender, height);
        };
      }
      const block = this.#speculative.get(hex(at));
      if (block === undefined) return undefined;
      path.push(block.nonces);
      at = block.parent;
    }
  }

  /** The state root after a block this executor knows (committed, built or executed), if any. */
  stateRootOf(hash: Uint8Array): Uint8Array | undefined {
    return this.#known(hash)?.stateRoot;
  }

  /**
   * Assembles the block the primary proposes; `now` is the virtual wall clock (ms since epoch).
   * Transactions that would skip a nonce of their sender on the parent are left out, as the node
   * leaves them out; with none left (or a parent not known here, on which the node cannot build)
   * the block has no transactions and the core does not propose it.
   */
  build(action: BuildAction, now: number): Block {
    const n = this.#validators.length;
    const lastOf = this.#lastNonces(action.parent.hash);
    const taken = lastOf ? takeNonces(action.txs, lastOf) : null;
    const txs = taken ? action.txs.filter((_, i) => !taken.gaps.has(i)) : [];
    const stateRoot = stateRootAfter(action.parent.stateRoot, txs);
    const block = assembleBlock({
      chainId: this.#chainId,
      height: action.height,
      view: action.view,
      timestamp: Math.max(Math.floor(now), action.parent.timestamp),
      prevHash: action.parent.hash,
      stateRoot,
      proposer: this.#validators[action.view % n]!,
      txs,
    });
    // Leaving a transaction out takes no nonce from the others: `taken` holds for what is left.
    if (taken && txs.length > 0) this.#remember(block, taken.nonces);
    return block;
  }

  /** Checks a proposed block against its parent and remembers it when valid. */
  execute(block: Block): ExecutionResult {
    const { nonces, ...result } = this.#check(block);
    if (nonces) this.#remember(block, nonces);
    return result;
  }

  #remember(block: Block, nonces: ReadonlyMap<string, number>): void {
    const { header } = block;
    this.#speculative.set(hex(blockHash(header)), {
      height: header.height,
      stateRoot: header.stateRoot,
      timestamp: header.timestamp,
      parent: header.prevHash,
      nonces,
    });
  }

  /** The verdict on a proposed block; with it valid, the nonces it takes. */
  #check(block: Block): ExecutionResult & { nonces?: ReadonlyMap<string, number> } {
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
    const lastOf = this.#lastNonces(header.prevHash);
    if (lastOf === undefined) return fail('unknown ancestry of the parent block');
    const { gaps, nonces } = takeNonces(block.txs, lastOf);
    const [gap] = gaps;
    if (gap !== undefined) return fail(`transaction ${gap} is out of its sender's nonce order`);
    return { ok: true, stateRoot, nonces };
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
