/**
 * Merkle root of a block's transactions, RFC 6962 (Certificate Transparency) style:
 * leaf = SHA-256(0x00 || leaf bytes), node = SHA-256(0x01 || left || right), the tree split at the
 * largest power of two below n. Unlike Bitcoin's tree, no leaf is ever duplicated, so two different
 * transaction lists can never share a root (CVE-2012-2459), and leaves cannot pose as inner nodes.
 */
import { sha256 } from '../crypto/index.ts';

const LEAF = new Uint8Array([0]);
const NODE = new Uint8Array([1]);
const EMPTY_ROOT = sha256();

/** Root over the given leaves (for transactions: their hashes). The empty list has root SHA-256(""). */
export function merkleRoot(leaves: readonly Uint8Array[]): Uint8Array {
  if (leaves.length === 0) return EMPTY_ROOT;
  // Bottom-up: pairing left to right and carrying an odd last node up unchanged yields exactly
  // RFC 6962's split-at-largest-power-of-two tree.
  let level = leaves.map((leaf) => sha256(LEAF, leaf));
  while (level.length > 1) {
    const next: Uint8Array[] = [];
    for (let i = 0; i + 1 < level.length; i += 2) next.push(sha256(NODE, level[i]!, level[i + 1]!));
    if (level.length % 2 === 1) next.push(level[level.length - 1]!);
    level = next;
  }
  return level[0]!;
}
