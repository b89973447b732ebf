import { describe, expect, it } from 'vitest';
import { parseSettings } from '../src/node/config.ts';

const codeAndMessage = (json: unknown) => {
  try {
    parseSettings(json);
    return 'OK';
  } catch (error) {
    return `${(error as { code: string }).code} ${(error as Error).message}`;
  }
};

describe('node.json settings', () => {
  it('fills in defaults: loopback API, an ephemeral p2p port, no peers, no faults', () => {
    expect(parseSettings({})).toEqual({
      listen: ['/ip4/127.0.0.1/tcp/0'],
      peers: [],
      api: { host: '127.0.0.1', port: 0 },
      consensus: {},
      faults: {},
    });
  });

  it('names an unknown or ill-typed setting', () => {
    expect(codeAndMessage({ lisen: [] })).toMatch(/^CONFIG_INVALID node\.json: \$\.lisen: unknown field/);
    expect(codeAndMessage({ api: { port: 'eighty' } })).toMatch(/\$\.api\.port: expected a number/);
    expect(codeAndMessage({ consensus: { requestTimeout: 5 } })).toMatch(
      /\$\.consensus\.requestTimeout: unknown field/,
    );
    expect(codeAndMessage({ peers: [{ publicKey: 'xyz' }] })).toMatch(/\$\.peers\[0\]\.publicKey/);
    expect(codeAndMessage({ faults: { dropRate: 2 } })).toMatch(
      /\$\.faults\.dropRate: expected a number in \[0, 1\]/,
    );
  });
});
