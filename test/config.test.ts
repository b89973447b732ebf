import { describe, expect, it } from 'vitest';
import { parseSettings, resolveSettings } from '../src/node/config.ts';
import { parseConfigText, renderConfig } from '../src/node/settings-toml.ts';

const codeAndMessage = (json: unknown) => {
  try {
    parseSettings(json);
    return 'OK';
  } catch (error) {
    return `${(error as { code: string }).code} ${(error as Error).message}`;
  }
};

describe('config.toml settings', () => {
  it('fills in defaults: loopback API, p2p on every interface, no peers, no faults', () => {
    expect(parseSettings({})).toEqual({
      name: '',
      listen: ['/ip4/0.0.0.0/tcp/7400'],
      advertise: [],
      signatureThreads: 0,
      peers: [],
      api: {
        host: '127.0.0.1',
        port: 7480,
        insecure: false,
        faultInjection: false,
        maxTxPerSenderPerSecond: 250,
        maxUploadBytes: 256 * 1024 * 1024,
        uploadQuotaBytesPerDay: 2 * 1024 * 1024 * 1024,
      },
      consensus: {
        batchMaxTxs: 500,
        batchDelay_ms: 5,
        window: 4,
        requestTimeout_ms: 1000,
        viewChangeTimeout_ms: 1000,
        statusInterval_ms: 500,
        mempoolMaxTxs: 100_000,
        fetchMaxBlocks: 256,
        maxClockSkew_ms: 10_000,
      },
      log: { level: 'info' },
      faults: {},
    });
  });

  it('names an unknown or ill-typed setting', () => {
    expect(codeAndMessage({ lisen: [] })).toMatch(/^CONFIG_INVALID config\.toml: lisen: unknown setting/);
    expect(codeAndMessage({ api: { port: 'eighty' } })).toMatch(
      /config\.toml: api\.port: expected an integer in \[0, 65535\]/,
    );
    expect(codeAndMessage({ consensus: { requestTimeout: 5 } })).toMatch(
      /config\.toml: consensus\.requestTimeout: unknown setting/,
    );
    expect(codeAndMessage({ consensus: { checkpointInterval: 5 } })).toMatch(
      /consensus\.checkpointInterval: unknown setting/,
    );
    expect(codeAndMessage({ peers: [{ publicKey: 'xyz' }] })).toMatch(/peers\[0\]\.publicKey/);
    expect(codeAndMessage({ faults: { dropRate: 2 } })).toMatch(
      /faults\.dropRate: expected a number in \[0, 1\]/,
    );
    expect(codeAndMessage({ log: { level: 'loud' } })).toMatch(/log\.level: expected one of fatal, error/);
    expect(codeAndMessage({ listen: ['not a multiaddr'] })).toMatch(/listen: expected multiaddrs/);
  });

  it('round-trips through the commented TOML file, peers and faults included', () => {
    const settings = parseSettings({
      name: 'St Mary',
      listen: ['/ip4/127.0.0.1/tcp/7001'],
      peers: [{ publicKey: 'ab'.repeat(32), addresses: ['/ip4/10.0.0.2/tcp/7001'] }],
      api: { port: 0 },
      consensus: { logSize: 80, requestTimeout_ms: 2500 },
      faults: { dropRate: 0.25, jitter_ms: 3, partitionedFrom: [1, 2], seed: 1234 },
    });
    const text = renderConfig(settings);
    expect(text).toContain(
      '# env MEDLEDGER_CONSENSUS_REQUEST_TIMEOUT_MS, flag --consensus-request-timeout-ms',
    );
    expect(parseSettings(parseConfigText(text, 'config.toml'))).toEqual(settings);
  });

  it("bounds the API's limits: api.maxTxPerSenderPerSecond, api.maxUploadBytes and api.uploadQuotaBytesPerDay", () => {
    expect(codeAndMessage({ api: { maxTxPerSenderPerSecond: 0 } })).toMatch(
      /api\.maxTxPerSenderPerSecond: expected an integer in \[1, 1000000\]/,
    );
    expect(codeAndMessage({ api: { maxUploadBytes: 2 ** 33 } })).toMatch(
      /api\.maxUploadBytes: expected an integer in \[1, 4294967296\]/,
    );
    expect(codeAndMessage({ api: { uploadQuotaBytesPerDay: 0 } })).toMatch(
      /api\.uploadQuotaBytesPerDay: expected an integer in \[1, 1125899906842624\]/,
    );
    expect(codeAndMessage({ api: { uploadQuotaBytesPerDay: 1.5 } })).toMatch(/api\.uploadQuotaBytesPerDay/);
    const settings = resolveSettings({
      file: { api: { maxUploadBytes: 1024, uploadQuotaBytesPerDay: 1_000_000 } },
      env: { MEDLEDGER_API_MAX_TX_PER_SENDER_PER_SECOND: '40' },
      flags: { 'api-max-upload-bytes': '2048' },
    });
    expect(settings.api).toMatchObject({
      maxTxPerSenderPerSecond: 40,
      maxUploadBytes: 2048,
      uploadQuotaBytesPerDay: 1_000_000,
    });
    // The environment and a flag set it too, the flag over the environment over the file.
    const overridden = resolveSettings({
      file: { api: { uploadQuotaBytesPerDay: 1_000_000 } },
      env: { MEDLEDGER_API_UPLOAD_QUOTA_BYTES_PER_DAY: '2000000' },
      flags: { 'api-upload-quota-bytes-per-day': '3000000' },
    });
    expect(overridden.api.uploadQuotaBytesPerDay).toBe(3_000_000);
    const fromEnv = resolveSettings({
      file: {},
      env: { MEDLEDGER_API_UPLOAD_QUOTA_BYTES_PER_DAY: '2000000' },
      flags: {},
    });
    expect(fromEnv.api.uploadQuotaBytesPerDay).toBe(2_000_000);
  });

  it('names the line and column of a TOML syntax error', () => {
    expect(() => parseConfigText('[api]\nport = \n', 'home/config.toml')).toThrow(
      /^home\/config\.toml: line 2, column \d+: /,
    );
  });
});
