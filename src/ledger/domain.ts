/**
 * Domain-separation tags: every signed or hashed statement is prefixed with its own tag, so a
 * signature or hash made for one purpose can never be replayed as another.
 */
const tag = (name: string) => new TextEncoder().encode(`medledger/${name}\0`);

export const DOMAIN = {
  tx: tag('tx/v1'),
  commit: tag('commit/v1'),
  state: tag('state/v1'),
} as const;
