/**
 * View-change validation and the NEW-VIEW rule, as pure functions shared by the new primary (which
 * builds a NEW-VIEW) and every replica (which checks one before entering the view).
 *
 * The rule: take the highest stable checkpoint among the quorum of VIEW-CHANGEs; then, height by
 * height above it, the prepared certificate of the highest view; stop at the first height with none,
 * or whose block does not extend the chain chosen so far. Those blocks are re-proposed unchanged.
 *
 * Why stopping is safe: a replica sends COMMIT for height h only when it is prepared at h-1 in the
 * same view (or has committed h-1), so a block committed anywhere has f+1 honest replicas prepared
 * for it and for every uncommitted ancestor above the checkpoint; any quorum of VIEW-CHANGEs includes
 * one of them, and within one view two prepared certificates for one height cannot disagree. So every
 * committed block lies on the chosen chain, below the first gap or fork, and nothing committed is lost.
 */
import { bytesEqual, compareBytes } from '../bytes.ts';
import { type BlockHeader, blockHash } from '../ledger/index.ts';
import {
  type CheckpointProof,
  type PreparedCert,
  type ViewChange,
  verifyMessage,
  verifyProposal,
} from './messages.ts';

export interface ValidatorContext {
  chainId: string;
  validators: readonly Uint8Array[];
  quorum: number;
  genesis: { hash: Uint8Array; stateRoot: Uint8Array };
}

const primaryOf = (view: number, n: number) => view % n;

/** Null when the checkpoint proof holds, else why not. */
export function checkCheckpointProof(proof: CheckpointProof, ctx: ValidatorContext): string | null {
  if (proof.height === 0) {
    const isGenesis =
      bytesEqual(proof.blockHash, ctx.genesis.hash) && bytesEqual(proof.stateRoot, ctx.genesis.stateRoot);
    return isGenesis && proof.votes.length === 0 ? null : 'height-0 checkpoint is not genesis';
  }
  const signers = new Set<number>();
  for (const vote of proof.votes) {
    if (
      vote.height !== proof.height ||
      !bytesEqual(vote.blockHash, proof.blockHash) ||
      !bytesEqual(vote.stateRoot, proof.stateRoot)
    ) {
      return 'checkpoint vote for another checkpoint';
    }
    if (signers.has(vote.from)) return 'duplicate checkpoint signer';
    if (!verifyMessage(ctx.chainId, 'checkpoint', vote, ctx.validators)) return 'bad checkpoint signature';
    signers.add(vote.from);
  }
  return signers.size >= ctx.quorum ? null : 'checkpoint proof short of a quorum';
}

/** Null when the prepared certificate holds, else why not. */
export function checkPreparedCert(cert: PreparedCert, ctx: ValidatorContext): string | null {
  const { prePrepare: pp } = cert;
  const n = ctx.validators.length;
  if (pp.from !== primaryOf(pp.view, n)) return 'pre-prepare not from the primary of its view';
  if (pp.header.height !== pp.height) return 'pre-prepare height differs from its block';
  if (!verifyProposal(ctx.chainId, pp, ctx.validators)) return 'bad pre-prepare signature';
  const hash = blockHash(pp.header);
  const signers = new Set<number>();
  for (const prepare of cert.prepares) {
    if (prepare.view !== pp.view || prepare.height !== pp.height || !bytesEqual(prepare.blockHash, hash)) {
      return 'prepare for another proposal';
    }
    if (prepare.from === pp.from || signers.has(prepare.from)) return 'prepare from the primary or repeated';
    if (!verifyMessage(ctx.chainId, 'prepare', prepare, ctx.validators)) return 'bad prepare signature';
    signers.add(prepare.from);
  }
  return signers.size >= ctx.quorum - 1 ? null : 'prepared certificate short of a quorum';
}

/** Null when the VIEW-CHANGE is well-formed and every proof in it holds, else why not. */
export function checkViewChange(vc: ViewChange, ctx: ValidatorContext): string | null {
  if (vc.from >= ctx.validators.length) return 'view change from an unknown validator';
  if (!verifyMessage(ctx.chainId, 'viewchange', vc, ctx.validators)) return 'bad view-change signature';
  const checkpoint = checkCheckpointProof(vc.checkpoint, ctx);
  if (checkpoint) return checkpoint;
  const heights = new Set<number>();
  for (const cert of vc.prepared) {
    const { height, view } = cert.prePrepare;
    if (height <= vc.checkpoint.height) return 'prepared certificate at or below the checkpoint';
    if (view >= vc.newView) return 'prepared certificate from a view not before the new one';
    if (heights.has(height)) return 'two prepared certificates for one height';
    heights.add(height);
    const why = checkPreparedCert(cert, ctx);
    if (why) return why;
  }
  return null;
}

export interface Reproposals {
  checkpoint: CheckpointProof;
  /** The headers of the blocks to re-propose, by height from the checkpoint up. */
  headers: BlockHeader[];
}

/** The NEW-VIEW rule (see the top of this file). The view changes must already be checked. */
export function chooseReproposals(viewChanges: readonly ViewChange[]): Reproposals {
  let checkpoint = viewChanges[0]!.checkpoint;
  for (const vc of viewChanges) if (vc.checkpoint.height > checkpoint.height) checkpoint = vc.checkpoint;

  const best = new Map<number, { view: number; header: BlockHeader; hash: Uint8Array }>();
  for (const vc of viewChanges) {
    for (const { prePrepare: pp } of vc.prepared) {
      if (pp.height <= checkpoint.height) continue;
      const hash = blockHash(pp.header);
      const current = best.get(pp.height);
      // Highest view wins; equal views cannot disagree among honest certificates, and ties between
      // forged ones (more than f faults) are broken by hash so every replica still chooses alike.
      if (
        !current ||
        pp.view > current.view ||
        (pp.view === current.view && compareBytes(hash, current.hash) < 0)
      ) {
        best.set(pp.height, { view: pp.view, header: pp.header, hash });
      }
    }
  }
  const headers: BlockHeader[] = [];
  let parent = checkpoint.blockHash;
  for (let height = checkpoint.height + 1; ; height++) {
    const chosen = best.get(height);
    if (!chosen || !bytesEqual(chosen.header.prevHash, parent)) break;
    headers.push(chosen.header);
    parent = chosen.hash;
  }
  return { checkpoint, headers };
}
