/**
 * Fault tolerance and quorum size of a validator set of n.
 *
 * f = floor((n - 1) / 3) faults are tolerated. A quorum must make any two quorums share at least
 * f + 1 validators (so at least one honest one): q = ceil((n + f + 1) / 2). For n = 3f + 1 this is
 * the familiar 2f + 1; for other n it is larger than 2f + 1, which would be unsafe there
 * (n = 5: 2f + 1 = 3, and two sets of 3 out of 5 may overlap in a single, faulty, validator).
 */
import { assert } from '../errors.ts';

export function maxFaults(validatorCount: number): number {
  assert(Number.isInteger(validatorCount) && validatorCount >= 1, 'a validator set has at least one member');
  return Math.floor((validatorCount - 1) / 3);
}

export function quorumSize(validatorCount: number): number {
  return Math.ceil((validatorCount + maxFaults(validatorCount) + 1) / 2);
}
