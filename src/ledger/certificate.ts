/**
 * Commit certificates: a quorum of validators' COMMIT signatures over (chain id, height, view,
 * block hash). Stored with each block, they let anyone who knows the validator set check that the
 * block was committed, offline and without trusting the node that served it.
 */
import { bytesEqual, compareBytes, hex } from '../bytes.ts';
import { encode } from '../codec/index.ts';
import { sign, signingPublicKeyFrom, verify } from '../crypto/index.ts';
import { DOMAIN } from './domain.ts';
import { quorumSize } from './quorum.ts';
import { type CommitCertificate, CommitStatement, type CommitVote } from './types.ts';

export function commitPayload(statement: CommitStatement): Uint8Array {
  return Buffer.concat([DOMAIN.commit, encode(CommitStatement, statement)]);
}

export function signCommit(statement: CommitStatement, secretKey: Uint8Array): CommitVote {
  return { validator: signingPublicKeyFrom(secretKey), signature: sign(secretKey, commitPayload(statement)) };
}

/** Sorts votes by validator key, the certificate's one canonical order. */
export function sortVotes(votes: readonly CommitVote[]): CommitVote[] {
  return [...votes].sort((a, b) => compareBytes(a.validator, b.validator));
}

export interface CertificateContext {
  chainId: string;
  /** Validator public keys, as lowercase hex. */
  validators: ReadonlySet<string>;
  height: number;
  blockHash: Uint8Array;
  /** The view the block was proposed in; it commits in that view or a later one. */
  proposedInView: number;
}

/**
 * Checks a certificate against the block it certifies. Returns null when valid, otherwise a sentence
 * saying what is wrong. Every vote must be valid (one bad signature spoils the certificate, so a
 * stored certificate cannot be altered without detection), votes strictly sorted (hence distinct).
 */
export function checkCertificate(cert: CommitCertificate, ctx: CertificateContext): string | null {
  if (cert.height !== ctx.height) return `certificate is for height ${cert.height}`;
  if (!bytesEqual(cert.blockHash, ctx.blockHash)) return 'certificate is for another block hash';
  if (cert.view < ctx.proposedInView) return `certificate view ${cert.view} precedes the block's view`;
  const quorum = quorumSize(ctx.validators.size);
  if (cert.votes.length < quorum) return `certificate has ${cert.votes.length} votes, quorum is ${quorum}`;
  const payload = commitPayload({
    chainId: ctx.chainId,
    height: cert.height,
    view: cert.view,
    blockHash: cert.blockHash,
  });
  for (let i = 0; i < cert.votes.length; i++) {
    const vote = cert.votes[i]!;
    if (i > 0 && compareBytes(cert.votes[i - 1]!.validator, vote.validator) >= 0) {
      return 'certificate votes are not sorted by distinct validators';
    }
    const validator = hex(vote.validator);
    if (!ctx.validators.has(validator))
      return `vote ${i} is from ${validator.slice(0, 16)}…, not a validator`;
    if (!verify(vote.validator, payload, vote.signature)) return `vote ${i} has an invalid signature`;
  }
  return null;
}
