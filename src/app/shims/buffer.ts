/**
 * Node's Buffer for the browser bundle: the `buffer` package, made to agree with Node where the
 * project's reused code relies on it. The package's equals() refuses a plain Uint8Array, which
 * Node accepts (bytes.ts compares Buffers with Uint8Arrays), and it has no 'base64url'
 * encoding (http-signature.ts writes its nonce in it). Nothing else is changed.
 */
import type { Buffer as BufferClass } from 'buffer';

type BufferConstructor = typeof BufferClass;

export function nodeCompatible(Buffer: BufferConstructor): BufferConstructor {
  const proto = Buffer.prototype as unknown as {
    equals(other: Uint8Array): boolean;
    toString(encoding?: string, start?: number, end?: number): string;
  };
  const nodeToString = proto.toString;
  proto.equals = function equals(this: Uint8Array, other: Uint8Array): boolean {
    if (!(other instanceof Uint8Array))
      throw new TypeError('The "otherBuffer" argument must be a Uint8Array');
    return this === other || Buffer.compare(this, other) === 0;
  };
  proto.toString = function (this: InstanceType<BufferConstructor>, encoding?: string, ...range: number[]) {
    if (encoding !== 'base64url') return nodeToString.call(this, encoding, ...range);
    return nodeToString
      .call(this, 'base64', ...range)
      .replaceAll('+', '-')
      .replaceAll('/', '_')
      .replace(/=+$/, '');
  };
  return Buffer;
}
