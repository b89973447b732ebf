import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hex } from '../src/bytes.ts';
import {
  DEFAULT_SCRYPT,
  decryptKeystore,
  encryptKeystore,
  generateIdentityKeys,
  type IdentityKeys,
  readKeystore,
  readKeystorePublicKeys,
  type ScryptParams,
  writeKeystore,
} from '../src/crypto/index.ts';

const FAST: ScryptParams = { N: 2 ** 12, r: 8, p: 1 };
const PASSPHRASE = 'correct horse battery staple';

let dir: string;
let keys: IdentityKeys;
let text: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'medledger-keystore-'));
  keys = generateIdentityKeys();
  text = await encryptKeystore(keys, PASSPHRASE, FAST);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The file's JSON, loosely typed so tests can damage it. */
interface FileJson {
  version: unknown;
  kdf: Record<string, unknown>;
  cipher: Record<string, string>;
  publicKeys: Record<string, string>;
  check: string;
  ciphertext: string;
}
type Edit = (file: FileJson) => void;

function edited(mutate: Edit): string {
  const file = JSON.parse(text);
  mutate(file);
  return JSON.stringify(file);
}

function flipHex(value: string, index: number): string {
  const digit = value[index] === '0' ? '1' : '0';
  return value.slice(0, index) + digit + value.slice(index + 1);
}

describe('keystore', () => {
  it('writes and reads back identical keys, with file mode 0600', async () => {
    const path = join(dir, 'roundtrip.json');
    await writeKeystore(path, keys, PASSPHRASE, { scrypt: FAST });
    expect(await readKeystore(path, PASSPHRASE)).toEqual(keys);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
  });

  it('works with the default scrypt parameters', async () => {
    const path = join(dir, 'default.json');
    await writeKeystore(path, keys, PASSPHRASE);
    const file = JSON.parse(await readFile(path, 'utf8'));
    expect(file.kdf).toMatchObject({ name: 'scrypt', ...DEFAULT_SCRYPT });
    expect(await readKeystore(path, PASSPHRASE)).toEqual(keys);
  });

  it('reports a wrong passphrase', async () => {
    await expect(decryptKeystore(text, 'not the passphrase')).rejects.toMatchObject({
      code: 'KEYSTORE_WRONG_PASSPHRASE',
    });
  });

  it('reports a truncated file as corrupt', async () => {
    for (const length of [0, 1, 20, Math.floor(text.length / 2), text.length - 3]) {
      await expect(decryptKeystore(text.slice(0, length), PASSPHRASE)).rejects.toMatchObject({
        code: 'KEYSTORE_CORRUPT',
      });
    }
  });

  it('reports an edited ciphertext, public key or nonce as corrupt', async () => {
    const edits: Edit[] = [
      (file) => {
        file.ciphertext = flipHex(file.ciphertext, 10);
      },
      (file) => {
        file.ciphertext = flipHex(file.ciphertext, file.ciphertext.length - 1);
      },
      (file) => {
        file.publicKeys.ed25519 = flipHex(file.publicKeys.ed25519!, 0);
      },
      (file) => {
        file.publicKeys.x25519 = hex(generateIdentityKeys().encryption.publicKey);
      },
      (file) => {
        file.cipher.nonce = flipHex(file.cipher.nonce!, 0);
      },
    ];
    for (const edit of edits) {
      await expect(decryptKeystore(edited(edit), PASSPHRASE)).rejects.toMatchObject({
        code: 'KEYSTORE_CORRUPT',
      });
    }
  });

  it('reports ill-typed or wrong-length fields as corrupt', async () => {
    const edits: Edit[] = [
      (file) => {
        delete (file as Partial<FileJson>).ciphertext;
      },
      (file) => {
        (file as { kdf: unknown }).kdf = 'scrypt';
      },
      (file) => {
        file.kdf.N = '4096';
      },
      (file) => {
        file.check = file.check.slice(2);
      },
      (file) => {
        file.cipher.nonce = 'zz'.repeat(12);
      },
    ];
    for (const edit of edits) {
      await expect(decryptKeystore(edited(edit), PASSPHRASE)).rejects.toMatchObject({
        code: 'KEYSTORE_CORRUPT',
      });
    }
    await expect(decryptKeystore('[]', PASSPHRASE)).rejects.toMatchObject({ code: 'KEYSTORE_CORRUPT' });
  });

  it('reports an edited salt or scrypt parameter as a wrong passphrase (the check depends on them)', async () => {
    const edits: Edit[] = [
      (file) => {
        file.kdf.N = 2 ** 13;
      },
      (file) => {
        file.kdf.salt = flipHex(file.kdf.salt as string, 0);
      },
    ];
    for (const edit of edits) {
      await expect(decryptKeystore(edited(edit), PASSPHRASE)).rejects.toMatchObject({
        code: 'KEYSTORE_WRONG_PASSPHRASE',
      });
    }
  });

  it('reports a file that is not JSON as corrupt', async () => {
    await expect(decryptKeystore('this is not json', PASSPHRASE)).rejects.toMatchObject({
      code: 'KEYSTORE_CORRUPT',
    });
  });

  it('reports an unknown version, kdf or cipher as unsupported', async () => {
    const unsupported = [
      edited((file) => {
        file.version = 2;
      }),
      edited((file) => {
        file.kdf.name = 'argon2id';
      }),
      edited((file) => {
        file.cipher.name = 'chacha20-poly1305';
      }),
    ];
    for (const candidate of unsupported) {
      await expect(decryptKeystore(candidate, PASSPHRASE)).rejects.toMatchObject({
        code: 'KEYSTORE_UNSUPPORTED',
      });
    }
  });

  it('rejects hostile scrypt parameters quickly, without running the KDF', async () => {
    const started = performance.now();
    for (const kdf of [{ N: 2 ** 30 }, { N: 3000 }, { N: 2 ** 8 }, { r: 64 }, { p: 0 }, { p: 1000 }]) {
      const hostile = edited((file) => {
        Object.assign(file.kdf, kdf);
      });
      await expect(decryptKeystore(hostile, PASSPHRASE)).rejects.toMatchObject({ code: 'KEYSTORE_CORRUPT' });
    }
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('reports a missing file with its path', async () => {
    const path = join(dir, 'missing.json');
    await expect(readKeystore(path, PASSPHRASE)).rejects.toMatchObject({ code: 'KEYSTORE_NOT_FOUND' });
    await expect(readKeystorePublicKeys(path)).rejects.toThrow(path);
  });

  it('refuses to overwrite an existing file unless asked', async () => {
    const path = join(dir, 'existing.json');
    await writeFile(path, 'original');
    await expect(writeKeystore(path, keys, PASSPHRASE, { scrypt: FAST })).rejects.toMatchObject({
      code: 'KEYSTORE_EXISTS',
    });
    expect(await readFile(path, 'utf8')).toBe('original');
    await writeKeystore(path, keys, PASSPHRASE, { scrypt: FAST, overwrite: true });
    expect(await readKeystore(path, PASSPHRASE)).toEqual(keys);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
  });

  it('refuses a short or empty passphrase', async () => {
    for (const weak of ['', 'short', '1234567']) {
      await expect(encryptKeystore(keys, weak, FAST)).rejects.toMatchObject({
        code: 'KEYSTORE_WEAK_PASSPHRASE',
      });
      await expect(writeKeystore(join(dir, 'weak.json'), keys, weak, { scrypt: FAST })).rejects.toMatchObject(
        {
          code: 'KEYSTORE_WEAK_PASSPHRASE',
        },
      );
    }
    await expect(stat(join(dir, 'weak.json'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('shows the public keys without the passphrase', async () => {
    const path = join(dir, 'public.json');
    await writeKeystore(path, keys, PASSPHRASE, { scrypt: FAST });
    expect(await readKeystorePublicKeys(path)).toEqual({
      signingPublicKey: keys.signing.publicKey,
      encryptionPublicKey: keys.encryption.publicKey,
    });
  });
});
