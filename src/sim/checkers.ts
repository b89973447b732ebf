/**
 * The checkers, run on every simulation. Each looks at what the run left behind (the honest
 * replicas' durable chains, the signatures they put on the wire, the commit times) and reports
 * violations; none trusts the consensus core's own opinion of itself.
 *
 * - agreement: no two honest replicas committed different blocks at one height;
 * - certified-fork (with twins): no twin's replica holds a block with a valid commit certificate
 *   that differs from an honest replica's at its height. Twins are Byzantine, so their chains are
 *   not held to agreement as such; but a valid certificate needs a quorum of distinct keys, so a
 *   conflicting one means honest keys signed both blocks: a fork anyone verifying the chain accepts;
 * - validity: every committed transaction was submitted by a client and its signature verifies;
 * - no-duplicate-tx: no transaction appears twice in one replica's chain;
 * - certificates: every committed block's commit certificate is valid for the validator set;
 * - certificate-quorum: every certificate holds valid COMMITs from a quorum of distinct validators,
 *   the quorum derived here from n alone (not the ledger's quorumSize(), which the code under test
 *   shares, so that a bug there cannot blind this checker);
 * - chain-links: each chain is hash-linked, heights consecutive, roots and timestamps consistent;
 * - honest-equivocation: no honest replica signed two different blocks for one (phase, view,
 *   height), across any number of restarts;
 * - block-time: no committed block's timestamp is further from true (virtual) time than
 *   maxClockSkew_ms and the good clocks' own skew allow: not after its commit plus that, not before
 *   its first proposal minus that (a faulty primary can bend block time by at most the bound);
 * - nonce-order: every transaction on an honest replica's chain takes its sender's next nonce, or one
 *   already used, never one beyond (the rule engine would refuse that one NONCE_GAP, and its client
 *   could never run it again). Backups refuse a block that does so (SimExecutor, as the node's
 *   executor), whoever proposed it;
 * - answer-budget: no honest replica sent one peer more transactions in answers to GET-TXS and
 *   GET-BODIES within one of its STATUS periods than twice what the pipeline window lets an honest
 *   peer ask for (2 × window × maxBlockTxs), however often it was asked;
 * - liveness: after the last fault heals (heal_ms), every honest replica commits every submitted
 *   transaction within the liveness bound.
 * - progress-admitted and progress-voting (progress.ts), with `progressChecks`: progress per replica
 *   while other faults persist.
 * Runtime failures found while running (an exception thrown by the core, a commit the executor
 * could not apply) are reported too.
 */
import { bytesEqual, hex } from '../bytes.ts';
import { encode } from '../codec/index.ts';
import { sha256, verify } from '../crypto/index.ts';
import {
  blockHash,
  CommitCertificate,
  checkCertificate,
  commitPayload,
  txHash,
  txRootOf,
  verifyTransactionSignature,
} from '../ledger/index.ts';
import type { CommittedEntry } from './committed-chain.ts';
import { DEFAULT_PROGRESS_BOUND_MS, progressChecksOn } from './options.ts';
import { checkAdmittedProgress, checkVoting } from './progress.ts';
import { SIM_GENESIS_TIME } from './setup.ts';
import type { SimulationResult, Violation } from './simulator.ts';

const short = (id: string) => id.slice(0, 12);

/** The checkers' verdict on one run, with the liveness measurement. */
export interface CheckReport {
  violations: Violation[];
  /** Virtual ms from healing until the last honest replica committed the last transaction (0 if before). */
  recovery_ms: number;
  livenessBound_ms: number;
}

/** Reports at most this many violations per checker, so a broken run stays readable. */
const MAX_PER_CHECKER = 5;

export function checkRun(result: SimulationResult): CheckReport {
  const violations: Violation[] = [...result.runtimeViolations];
  const add = (list: Violation[]) => violations.push(...list.slice(0, MAX_PER_CHECKER));
  add(checkAgreement(result));
  add(checkCertifiedFork(result));
  add(checkValidity(result));
  add(checkNoDuplicateTx(result));
  add(checkCertificates(result));
  add(checkCertificateQuorum(result));
  add(checkChainLinks(result));
  add(checkHonestEquivocation(result));
  add(checkBlockTime(result));
  add(checkNonceOrder(result));
  add(checkAnswerBudget(result));
  const liveness = checkLiveness(result);
  add(liveness.violations);
  if (progressChecksOn(result.options)) {
    const bound_ms = result.options.progressBound_ms ?? DEFAULT_PROGRESS_BOUND_MS;
    add(checkAdmittedProgress(result, bound_ms));
    add(checkVoting(result));
  }
  return {
    violations,
    recovery_ms: liveness.recovery_ms,
    livenessBound_ms: result.options.livenessBound_ms,
  };
}

export function checkAgreement(result: SimulationResult): Violation[] {
  const out: Violation[] = [];
  const byHeight = new Map<number, { node: number; hash: string }>();
  for (const node of result.honest) {
    for (const entry of result.chains[node]!.blocks()) {
      const height = entry.block.header.height;
      const hash = hex(entry.hash);
      const first = byHeight.get(height);
      if (!first) byHeight.set(height, { node, hash });
      else if (first.hash !== hash) {
        out.push({
          checker: 'agreement',
          detail: `height ${height}: replica ${first.node} committed ${short(first.hash)}…, replica ${node} committed ${short(hash)}…`,
        });
      }
    }
  }
  return out;
}

export function checkCertifiedFork(result: SimulationResult): Violation[] {
  const out: Violation[] = [];
  const twins = result.plan.twins;
  if (!twins || result.honest.length === 0) return out;
  const n = result.identities.validatorKeys.length;
  const byHeight = new Map<number, { node: number; hash: string }>();
  for (const node of result.honest) {
    for (const entry of result.chains[node]!.blocks())
      if (!byHeight.has(entry.block.header.height))
        byHeight.set(entry.block.header.height, { node, hash: hex(entry.hash) });
  }
  twins.nodes.forEach((validator, k) => {
    const instance = n + k;
    for (const node of [validator, instance]) {
      for (const entry of result.chains[node]!.blocks()) {
        const height = entry.block.header.height;
        const honest = byHeight.get(height);
        const hash = hex(entry.hash);
        if (!honest || honest.hash === hash || !entry.certificate) continue;
        const problem = ledgerVerdict(result, entry, entry.certificate);
        out.push({
          checker: 'certified-fork',
          detail:
            `height ${height}: twin ${node === validator ? validator : `${validator}'`} committed ${short(hash)}… ` +
            `(${problem ? `certificate invalid: ${problem}` : 'valid certificate'}), honest replica ${honest.node} ${short(honest.hash)}…`,
        });
      }
    }
  });
  return out;
}

export function checkValidity(result: SimulationResult): Violation[] {
  const out: Violation[] = [];
  const submitted = new Set(result.workload.map((p) => p.id));
  const verified = new Map<string, boolean>();
  for (const node of result.honest) {
    for (const entry of result.chains[node]!.blocks()) {
      for (const tx of entry.block.txs) {
        const id = hex(txHash(tx));
        let ok = verified.get(id);
        if (ok === undefined) {
          ok = verifyTransactionSignature(tx);
          verified.set(id, ok);
        }
        const height = entry.block.header.height;
        if (!submitted.has(id)) {
          out.push({
            checker: 'validity',
            detail: `replica ${node} height ${height}: tx ${short(id)}… was never submitted`,
          });
        }
        if (!ok) {
          out.push({
            checker: 'validity',
            detail: `replica ${node} height ${height}: tx ${short(id)}… has an invalid signature`,
          });
        }
      }
    }
  }
  return out;
}

export function checkNoDuplicateTx(result: SimulationResult): Violation[] {
  const out: Violation[] = [];
  for (const node of result.honest) {
    const seen = new Map<string, number>();
    for (const entry of result.chains[node]!.blocks()) {
      const height = entry.block.header.height;
      for (const tx of entry.block.txs) {
        const id = hex(txHash(tx));
        const earlier = seen.get(id);
        if (earlier !== undefined) {
          out.push({
            checker: 'no-duplicate-tx',
            detail: `replica ${node}: tx ${short(id)}… committed at heights ${earlier} and ${height}`,
          });
        } else seen.set(id, height);
      }
    }
  }
  return out;
}

/** The ledger's verdict on each distinct certificate of a run (replicas often hold identical ones). */
const ledgerVerdicts = new WeakMap<SimulationResult, Map<string, string | null>>();

function ledgerVerdict(
  result: SimulationResult,
  entry: CommittedEntry,
  certificate: CommitCertificate,
): string | null {
  let checked = ledgerVerdicts.get(result);
  if (!checked) {
    checked = new Map();
    ledgerVerdicts.set(result, checked);
  }
  const { header } = entry.block;
  const key = `${hex(entry.hash)}/${header.view}/${hex(sha256(encode(CommitCertificate, certificate)))}`;
  let problem = checked.get(key);
  if (problem === undefined) {
    problem = checkCertificate(certificate, {
      chainId: result.identities.chainId,
      validators: new Set(result.identities.validatorKeys.map(hex)),
      height: header.height,
      blockHash: entry.hash,
      proposedInView: header.view,
    });
    checked.set(key, problem);
  }
  return problem;
}

export function checkCertificates(result: SimulationResult): Violation[] {
  const out: Violation[] = [];
  for (const node of result.honest) {
    for (const entry of result.chains[node]!.blocks()) {
      const { header } = entry.block;
      const certificate = entry.certificate;
      if (!certificate) {
        out.push({
          checker: 'certificates',
          detail: `replica ${node} height ${header.height}: no certificate`,
        });
        continue;
      }
      const problem = ledgerVerdict(result, entry, certificate);
      if (problem) {
        out.push({ checker: 'certificates', detail: `replica ${node} height ${header.height}: ${problem}` });
      }
    }
  }
  return out;
}

/**
 * The size of a commit quorum for n validators, worked out here from first principles: f =
 * floor((n - 1) / 3) faulty replicas tolerated, and any two quorums must share at least f + 1
 * replicas (so at least one honest one), i.e. 2q - n >= f + 1. For n = 3f + 1 that is 2f + 1.
 */
export function independentQuorum(n: number): number {
  const f = Math.floor((n - 1) / 3);
  let q = f + 1;
  while (2 * q - n < f + 1) q++;
  return q;
}

export function checkCertificateQuorum(result: SimulationResult): Violation[] {
  const out: Violation[] = [];
  const keys = result.identities.validatorKeys.map(hex);
  const quorum = independentQuorum(keys.length);
  const counted = new Map<string, number>();
  for (const node of result.honest) {
    for (const entry of result.chains[node]!.blocks()) {
      const certificate = entry.certificate;
      if (!certificate) continue; // reported by the certificates checker
      const key = hex(sha256(encode(CommitCertificate, certificate)));
      let signers = counted.get(key);
      if (signers === undefined) {
        // A certificate the ledger passed holds only valid votes from distinct validators, so its
        // votes are its signers (the ledger's quorum is not relied on). Otherwise count them here.
        signers =
          ledgerVerdict(result, entry, certificate) === null
            ? certificate.votes.length
            : countSigners(result.identities.chainId, certificate, keys);
        counted.set(key, signers);
      }
      if (signers < quorum || !bytesEqual(certificate.blockHash, entry.hash)) {
        out.push({
          checker: 'certificate-quorum',
          detail: `replica ${node} height ${entry.block.header.height}: ${signers} distinct validators signed its certificate, a quorum of ${keys.length} is ${quorum}`,
        });
      }
    }
  }
  return out;
}

/** Distinct validators with a valid COMMIT signature in the certificate. */
function countSigners(chainId: string, certificate: CommitCertificate, validatorKeys: string[]): number {
  const payload = commitPayload({
    chainId,
    height: certificate.height,
    view: certificate.view,
    blockHash: certificate.blockHash,
  });
  const signers = new Set<string>();
  for (const vote of certificate.votes) {
    const who = hex(vote.validator);
    if (validatorKeys.includes(who) && verify(vote.validator, payload, vote.signature)) signers.add(who);
  }
  return signers.size;
}

export function checkChainLinks(result: SimulationResult): Violation[] {
  const out: Violation[] = [];
  const { chainId } = result.identities;
  for (const node of result.honest) {
    const chain = result.chains[node]!;
    for (let height = 1; height <= chain.height; height++) {
      const entry = chain.at(height)!;
      const parent = chain.at(height - 1)!;
      const { header } = entry.block;
      const problem =
        header.height !== height
          ? `header says height ${header.height}`
          : !bytesEqual(header.prevHash, parent.hash)
            ? 'prevHash is not the hash of the block below'
            : !bytesEqual(blockHash(header), entry.hash)
              ? 'stored hash is not the header hash'
              : header.chainId !== chainId
                ? `chain id ${header.chainId}`
                : !bytesEqual(txRootOf(entry.block.txs), header.txRoot)
                  ? 'txRoot does not match the transactions'
                  : header.timestamp < parent.block.header.timestamp
                    ? 'timestamp goes backwards'
                    : null;
      if (problem)
        out.push({ checker: 'chain-links', detail: `replica ${node} height ${height}: ${problem}` });
    }
  }
  return out;
}

export function checkHonestEquivocation(result: SimulationResult): Violation[] {
  return result.signatures.conflicts.map((c) => ({
    checker: 'honest-equivocation',
    detail: `honest replica ${c.node} signed ${c.phase.toUpperCase()} for two blocks at view ${c.view} height ${c.height}: ${short(c.first)}… and ${short(c.second)}…`,
  }));
}

export function checkAnswerBudget(result: SimulationResult): Violation[] {
  const { window, maxBlockTxs } = result.options.params;
  const budget = 2 * window * maxBlockTxs;
  return result.answers
    .peaks()
    .filter((peak) => peak.txs > budget)
    .map((peak) => ({
      checker: 'answer-budget',
      detail:
        `honest replica ${peak.from} sent replica ${peak.to} ${peak.txs} transactions in answers within one ` +
        `STATUS period (incarnation ${peak.incarnation}, period ${peak.period}); the budget is ${budget}`,
    }));
}

export function checkBlockTime(result: SimulationResult): Violation[] {
  const out: Violation[] = [];
  const { skews_ms } = result.plan.clocks;
  const slack_ms = result.options.params.maxClockSkew_ms + Math.max(0, ...skews_ms.map(Math.abs));
  for (const node of result.honest) {
    const chain = result.chains[node]!;
    for (let height = 1; height <= chain.height; height++) {
      const { header } = chain.at(height)!.block;
      const time = (virtual_ms: number) => SIM_GENESIS_TIME + virtual_ms;
      const committed_ms = result.blockCommitTimes[node]!.get(height);
      const first_ms = result.firstProposed_ms.get(hex(blockHash(header)));
      let problem: string | null = null;
      if (committed_ms !== undefined && header.timestamp > time(committed_ms) + slack_ms)
        problem = `${header.timestamp - time(committed_ms)} ms ahead of its commit`;
      else if (first_ms !== undefined && header.timestamp < time(first_ms) - slack_ms)
        problem = `${time(first_ms) - header.timestamp} ms behind its first proposal`;
      if (problem)
        out.push({
          checker: 'block-time',
          detail: `replica ${node} height ${height}: timestamp ${problem} (bound ${slack_ms} ms)`,
        });
    }
  }
  return out;
}

export function checkNonceOrder(result: SimulationResult): Violation[] {
  const out: Violation[] = [];
  for (const node of result.honest) {
    const last = new Map<string, number>();
    for (const entry of result.chains[node]!.blocks()) {
      for (const tx of entry.block.txs) {
        const sender = hex(tx.sender);
        const before = last.get(sender) ?? 0;
        if (tx.nonce === before + 1) last.set(sender, tx.nonce);
        else if (tx.nonce > before + 1)
          out.push({
            checker: 'nonce-order',
            detail: `replica ${node} height ${entry.block.header.height}: tx ${short(hex(txHash(tx)))}… takes nonce ${tx.nonce} of its sender, whose last was ${before}`,
          });
      }
    }
  }
  return out;
}

export function checkLiveness(result: SimulationResult): { violations: Violation[]; recovery_ms: number } {
  const out: Violation[] = [];
  let last_ms = result.heal_ms;
  for (const node of result.honest) {
    const times = result.commitTimes[node]!;
    let missing = 0;
    let late = 0;
    let example = '';
    for (const planned of result.workload) {
      const at = times.get(planned.id);
      if (at === undefined) {
        missing++;
        example ||= `tx ${short(planned.id)}… (submitted at ${planned.at_ms.toFixed(0)} ms) never committed`;
      } else {
        last_ms = Math.max(last_ms, at);
        if (at > result.deadline_ms) {
          late++;
          example ||= `tx ${short(planned.id)}… committed at ${at.toFixed(0)} ms`;
        }
      }
    }
    if (missing + late > 0) {
      out.push({
        checker: 'liveness',
        detail:
          `replica ${node}: ${missing} of ${result.workload.length} transactions not committed and ${late} late ` +
          `by ${result.deadline_ms} virtual ms (healed at ${result.heal_ms} ms, bound ${result.options.livenessBound_ms} ms; ` +
          `chain height ${result.chains[node]!.height}); e.g. ${example}`,
      });
    }
  }
  return { violations: out, recovery_ms: last_ms - result.heal_ms };
}
