/** src/bytes.ts: hex both ways, equality, order, concatenation and the zero-copy views. */
import { describe, expect, it } from 'vitest';
import { asBuffer, bytesEqual, compareBytes, concatBytes, fromHex, hex, plainBytes } from '../src/bytes.ts';
import { MedledgerError } from '../src/errors.ts';

const pooled = () => Buffer.from('00010203ff0a', 'hex'); // small: a view into Node's shared pool

describe('hex', () => {
  it('writes lowercase hex of exactly the view it is given', () => {
    expect(hex(new Uint8Array([0, 1, 0xab, 0xff]))).toBe('0001abff');
    expect(hex(new Uint8Array(0))).toBe('');
    const bytes = pooled();
    expect(bytes.byteOffset > 0 || bytes.buffer.byteLength > bytes.length).toBe(true);
    expect(hex(bytes.subarray(2, 5))).toBe('0203ff');
    expect(hex(plainBytes(bytes).subarray(4))).toBe('ff0a');
  });

  it('reads back what it wrote, upper or lower case, into memory of its own', () => {
    const bytes = fromHex('00ABff10');
    expect(bytes).toEqual(new Uint8Array([0, 0xab, 0xff, 0x10]));
    expect(bytes.constructor).toBe(Uint8Array);
    expect(bytes.byteOffset).toBe(0);
    expect(bytes.buffer.byteLength).toBe(4);
    expect(fromHex('')).toEqual(new Uint8Array(0));
  });

  it('refuses an odd number of digits and anything not a hex digit, with BAD_HEX', () => {
    for (const text of ['abc', '0', 'zz', '0x00', '00 ', ' 00', 'ab-d', 'é0']) {
      expect(() => fromHex(text), text).toThrow(MedledgerError);
      try {
        fromHex(text);
      } catch (error) {
        expect((error as MedledgerError).code).toBe('BAD_HEX');
      }
    }
    expect(() => fromHex('abc')).toThrow('3 digits, an odd number');
    expect(() => fromHex('0g')).toThrow('character 2 of 2 is not a hex digit');
  });
});

describe('equality and order', () => {
  it('compares the bytes of views, not the memory behind them', () => {
    const bytes = pooled();
    expect(bytesEqual(bytes.subarray(1, 3), new Uint8Array([1, 2]))).toBe(true);
    expect(bytesEqual(new Uint8Array([1, 2]), bytes.subarray(1, 3))).toBe(true);
    expect(bytesEqual(new Uint8Array([1, 2]), new Uint8Array([1, 3]))).toBe(false);
    expect(bytesEqual(new Uint8Array(0), new Uint8Array(0))).toBe(true);
  });

  it('is false for different lengths, a prefix included', () => {
    expect(bytesEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2, 0]))).toBe(false);
    expect(bytesEqual(new Uint8Array([1, 2, 0]), new Uint8Array([1, 2]))).toBe(false);
  });

  it('orders as Buffer.compare does: byte by byte, a prefix first', () => {
    const cases: [number[], number[], number][] = [
      [[1], [2], -1],
      [[2], [1], 1],
      [[1, 2], [1, 2], 0],
      [[1, 2], [1, 2, 0], -1],
      [[0xff], [1, 0], 1],
      [[], [0], -1],
    ];
    for (const [a, b, order] of cases) {
      expect(compareBytes(new Uint8Array(a), new Uint8Array(b))).toBe(order);
      expect(compareBytes(new Uint8Array(a), new Uint8Array(b))).toBe(
        Buffer.compare(Buffer.from(a), Buffer.from(b)),
      );
    }
    expect(compareBytes(pooled().subarray(4), new Uint8Array([0xff, 0x0a]))).toBe(0);
  });
});

describe('views and concatenation', () => {
  it('views the same memory as a Buffer and as a plain Uint8Array, without copying', () => {
    const bytes = new Uint8Array([1, 2, 3, 4]).subarray(1, 3);
    const buffer = asBuffer(bytes);
    expect(Buffer.isBuffer(buffer)).toBe(true);
    buffer[0] = 9;
    expect(bytes[0]).toBe(9);
    const plain = plainBytes(buffer);
    expect(plain.constructor).toBe(Uint8Array);
    expect(plain).toEqual(new Uint8Array([9, 3]));
    plain[1] = 7;
    expect(bytes[1]).toBe(7);
    expect(plainBytes(bytes)).toBe(bytes);
  });

  it('concatenates into a new plain array', () => {
    const a = pooled().subarray(0, 2);
    const out = concatBytes([a, new Uint8Array([7]), new Uint8Array(0)]);
    expect(out).toEqual(new Uint8Array([0, 1, 7]));
    expect(out.constructor).toBe(Uint8Array);
    out[0] = 5;
    expect(a[0]).toBe(0);
    expect(concatBytes([])).toEqual(new Uint8Array(0));
  });
});
