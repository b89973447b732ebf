import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { bytesEqual, fromHex, hex } from '../src/bytes.ts';
import {
  bool,
  bytes,
  CodecError,
  decode,
  encode,
  encodeAppended,
  type Infer,
  list,
  listLength,
  map,
  oneOf,
  optional,
  str,
  struct,
  u8,
  u64,
  varBytes,
} from '../src/codec/index.ts';

const Item = struct('Item', { id: u64, tag: oneOf(['a', 'b', 'c']), flag: bool });
const Sample = struct('Sample', {
  height: u64,
  small: u8,
  hash: bytes(32),
  body: varBytes(64),
  note: str(40),
  items: list(Item, 5),
  parent: optional(bytes(4)),
  attrs: map(str(16), u64, 4),
});
type Sample = Infer<typeof Sample>;

const itemArb = fc.record({
  id: fc.maxSafeNat(),
  tag: fc.constantFrom('a' as const, 'b' as const, 'c' as const),
  flag: fc.boolean(),
});
const sampleArb: fc.Arbitrary<Sample> = fc.record({
  height: fc.maxSafeNat(),
  small: fc.integer({ min: 0, max: 255 }),
  hash: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  body: fc.uint8Array({ maxLength: 64 }),
  note: fc.string({ unit: 'binary', maxLength: 10 }),
  items: fc.array(itemArb, { maxLength: 5 }),
  parent: fc.option(fc.uint8Array({ minLength: 4, maxLength: 4 }), { nil: null }),
  attrs: fc
    .uniqueArray(fc.tuple(fc.string({ maxLength: 16 }), fc.maxSafeNat()), {
      maxLength: 4,
      selector: ([k]) => k,
    })
    .map((entries) => new Map(entries)),
});

const example: Sample = {
  height: 7,
  small: 200,
  hash: new Uint8Array(32).fill(0xab),
  body: new Uint8Array([1, 2, 3]),
  note: 'héllo',
  items: [{ id: 2 ** 40, tag: 'b', flag: true }],
  parent: null,
  attrs: new Map([
    ['z', 1],
    ['a', 300],
  ]),
};

/** Encodes an arbitrary wire value with plain msgpack, bypassing the schema, to forge inputs. */
const raw = new Packr({ useRecords: false, mapsAsObjects: false, variableMapSize: true });
const forge = (wire: unknown) => raw.pack(wire);
const exampleWire = () => [...(Sample.toWire(example, '') as unknown[])];

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof CodecError) return error.code;
    throw error;
  }
  return 'OK';
}

describe('codec round trip', () => {
  it('decode(encode(x)) equals x for random values', () => {
    fc.assert(
      fc.property(sampleArb, (value) => {
        expect(decode(Sample, encode(Sample, value))).toEqual(value);
      }),
      { numRuns: 500 },
    );
  });

  it('encodes map entries in key order whatever the insertion order', () => {
    const reordered = { ...example, attrs: new Map([...example.attrs].reverse()) };
    expect(encode(Sample, reordered)).toEqual(encode(Sample, example));
  });

  it('keeps the byte form fixed (golden vector: a change here is a protocol change)', () => {
    expect(hex(encode(Sample, example))).toBe(
      '9807ccc8c420abababababababababababababababababababababababababababababababab' +
        'c403010203a668c3a96c6c6f9193cb4270000000000000a162c3c0' +
        '82a161cd012ca17a01',
    );
  });
});

describe('a list encoding grows without being decoded', () => {
  const Samples = list(Sample, 40);

  it('appending items gives the bytes of the longer list, encoded whole', () => {
    fc.assert(
      fc.property(
        fc.array(sampleArb, { maxLength: 20 }),
        fc.array(sampleArb, { maxLength: 20 }),
        (head, tail) => {
          const grown = encodeAppended(Samples, encode(Samples, head), tail);
          expect(hex(grown)).toBe(hex(encode(Samples, [...head, ...tail])));
          expect(listLength(Samples, grown)).toBe(head.length + tail.length);
          expect(decode(Samples, grown)).toEqual([...head, ...tail]);
        },
      ),
    );
  });

  it('changes the header where msgpack does: 16 items (array 16) and 65,536 (array 32)', () => {
    const Bytes = list(u8, 70_000);
    for (const [before, added] of [
      [15, 1],
      [14, 3],
      [65_535, 1],
      [65_534, 4],
    ] as const) {
      const head = new Array<number>(before).fill(7);
      const tail = new Array<number>(added).fill(9);
      expect(
        bytesEqual(encodeAppended(Bytes, encode(Bytes, head), tail), encode(Bytes, [...head, ...tail])),
      ).toBe(true);
    }
  });

  it('refuses to grow a list past its bound, as encoding it would', () => {
    const full = encode(Samples, new Array<Sample>(40).fill(example));
    expect(codeOf(() => encodeAppended(Samples, full, [example]))).toBe('CODEC_LENGTH');
    expect(codeOf(() => encode(Samples, new Array<Sample>(41).fill(example)))).toBe('CODEC_LENGTH');
  });
});

describe('codec rejects malformed input with its own error', () => {
  it('random byte strings never throw anything but CodecError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (input) => {
        const code = codeOf(() => decode(Sample, input));
        expect(code).not.toBe('OK');
      }),
      { numRuns: 2000 },
    );
  });

  it('a mutated encoding is rejected, or decodes to a value whose encoding is exactly those bytes', () => {
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }),
      fc.record({
        kind: fc.constant('insert' as const),
        at: fc.nat(),
        byte: fc.integer({ min: 0, max: 255 }),
      }),
      fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
    );
    fc.assert(
      fc.property(sampleArb, mutation, (value, m) => {
        const bytesIn = Buffer.from(encode(Sample, value));
        const at = m.at % bytesIn.length;
        let mutated: Buffer;
        if (m.kind === 'flip') {
          mutated = Buffer.from(bytesIn);
          mutated[at] = mutated[at]! ^ m.mask;
        } else if (m.kind === 'insert') {
          mutated = Buffer.concat([bytesIn.subarray(0, at), Buffer.from([m.byte]), bytesIn.subarray(at)]);
        } else if (m.kind === 'delete') {
          mutated = Buffer.concat([bytesIn.subarray(0, at), bytesIn.subarray(at + 1)]);
        } else {
          mutated = bytesIn.subarray(0, at);
        }
        let decoded: Sample;
        try {
          decoded = decode(Sample, mutated);
        } catch (error) {
          expect(error).toBeInstanceOf(CodecError);
          return;
        }
        // Never a silently different value: whatever decodes is exactly what those bytes encode.
        expect(bytesEqual(encode(Sample, decoded), mutated)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('rejects trailing bytes', () => {
    const bytesIn = Buffer.concat([encode(Sample, example), Buffer.from([0])]);
    expect(codeOf(() => decode(Sample, bytesIn))).toBe('CODEC_MALFORMED');
  });

  it('rejects empty and truncated input', () => {
    const bytesIn = encode(Sample, example);
    expect(codeOf(() => decode(Sample, new Uint8Array()))).toBe('CODEC_MALFORMED');
    expect(codeOf(() => decode(Sample, bytesIn.subarray(0, bytesIn.length - 1)))).toBe('CODEC_MALFORMED');
  });

  it('rejects input over the size limit before parsing it', () => {
    expect(codeOf(() => decode(Sample, encode(Sample, example), 10))).toBe('CODEC_TOO_LARGE');
  });

  it('rejects a wrong field count', () => {
    expect(codeOf(() => decode(Sample, forge(exampleWire().slice(0, 7))))).toBe('CODEC_LENGTH');
    expect(codeOf(() => decode(Sample, forge([...exampleWire(), 1])))).toBe('CODEC_LENGTH');
  });

  it('rejects wrong types, naming the path', () => {
    const wire = exampleWire();
    wire[0] = 'seven';
    expect(() => decode(Sample, forge(wire))).toThrow(/height: expected unsigned integer/);
    const items = exampleWire();
    items[5] = [[1, 'z', true]];
    expect(() => decode(Sample, forge(items))).toThrow(/items\[0\]\.tag: expected one of a, b, c/);
    expect(codeOf(() => decode(Sample, forge({ height: 1 })))).toBe('CODEC_TYPE');
  });

  it('rejects negative numbers, floats and integers out of range', () => {
    for (const height of [-1, 1.5, 2 ** 53]) {
      const wire = exampleWire();
      wire[0] = height;
      expect(codeOf(() => decode(Sample, forge(wire)))).not.toBe('OK');
    }
    const wire = exampleWire();
    wire[1] = 256;
    expect(codeOf(() => decode(Sample, forge(wire)))).toBe('CODEC_RANGE');
  });

  it('rejects over-long strings, byte strings, arrays and maps', () => {
    const cases: Array<[number, unknown]> = [
      [4, 'x'.repeat(41)],
      [3, new Uint8Array(65)],
      [2, new Uint8Array(31)],
      [5, Array(6).fill([1, 'a', true])],
      [
        7,
        new Map([
          ['a', 1],
          ['b', 2],
          ['c', 3],
          ['d', 4],
          ['e', 5],
        ]),
      ],
    ];
    for (const [field, value] of cases) {
      const wire = exampleWire();
      wire[field] = value;
      expect(codeOf(() => decode(Sample, forge(wire)))).toBe('CODEC_LENGTH');
    }
  });

  it('rejects non-canonical forms of a valid value', () => {
    const small = struct('Small', { n: u64 });
    // 1 as uint8 (0xcc01) instead of the positive fixint 0x01
    expect(codeOf(() => decode(small, fromHex('91cc01')))).toBe('CODEC_NON_CANONICAL');
    // 1 as float64
    expect(codeOf(() => decode(small, fromHex('91cb3ff0000000000000')))).toBe('CODEC_NON_CANONICAL');
    // array length in an array16 header
    expect(codeOf(() => decode(small, fromHex('dc000101')))).toBe('CODEC_NON_CANONICAL');
    // map keys out of order, and a duplicate key
    const m = map(str(4), u64, 4);
    expect(codeOf(() => decode(m, fromHex('82a17a01a16102')))).toBe('CODEC_NON_CANONICAL');
    expect(codeOf(() => decode(m, fromHex('82a16101a16102')))).toBe('CODEC_NON_CANONICAL');
    // invalid UTF-8 in a string
    expect(codeOf(() => decode(str(4), fromHex('a2c328')))).not.toBe('OK');
  });

  it('refuses to encode what it would refuse to decode', () => {
    expect(codeOf(() => encode(Sample, { ...example, note: '\ud800' }))).toBe('CODEC_TYPE');
    expect(codeOf(() => encode(Sample, { ...example, hash: new Uint8Array(3) }))).toBe('CODEC_LENGTH');
    expect(codeOf(() => encode(Sample, { ...example, height: -1 }))).toBe('CODEC_RANGE');
  });

  it('bounds a string by its UTF-8 bytes, and sorts and dedupes map keys by them', () => {
    const bounded = str(12);
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 12 }), (text) => {
        const fits = Buffer.byteLength(text, 'utf8') <= 12;
        expect(codeOf(() => encode(bounded, text))).toBe(fits ? 'OK' : 'CODEC_LENGTH');
      }),
    );
    // UTF-8 order is code point order: U+FFFD sorts before U+10000 (a surrogate pair), unlike UTF-16.
    const keys = map(str(8), u64, 4);
    const wire = encode(
      keys,
      new Map([
        ['\u{10000}', 1],
        ['\ufffd', 2],
        ['b', 3],
        ['a', 4],
      ]),
    );
    expect([...decode(keys, wire).keys()]).toEqual(['a', 'b', '\ufffd', '\u{10000}']);
  });

  it('rejects msgpack extension types and deep nesting without crashing', () => {
    expect(codeOf(() => decode(Sample, fromHex('d6ff00000000')))).toBe('CODEC_TYPE');
    expect(codeOf(() => decode(Sample, fromHex('c1')))).not.toBe('OK');
    const deep = Buffer.alloc(200_000, 0x91);
    expect(codeOf(() => decode(Sample, deep))).not.toBe('OK');
  });

  it('rejects hostile inputs before building anything large', () => {
    const Writes = list(struct('Write', { key: varBytes(256), value: optional(varBytes(1 << 20)) }), 200_000);
    // msgpackr's shared-reference extension (0x69 define, 0x70 refer) is not msgpack: refused at once.
    expect(codeOf(() => decode(Writes, fromHex('9269c4010170')))).toBe('CODEC_TYPE');
    // An array32 header declaring 33 million elements, with empty maps where structs belong.
    const maps = Buffer.concat([fromHex('dd01f78a40'), Buffer.alloc(1024, 0x80)]);
    expect(codeOf(() => decode(Writes, maps))).toBe('CODEC_LENGTH');
    const fewer = Buffer.concat([fromHex('dd00030d40'), Buffer.alloc(1024, 0x80)]);
    expect(codeOf(() => decode(Writes, fewer))).toBe('CODEC_TYPE');
    // A large byte string with one trailing byte.
    const big = Buffer.concat([
      fromHex('c6'),
      Buffer.from([0, 0x10, 0, 0]),
      Buffer.alloc(1 << 20),
      Buffer.of(0),
    ]);
    expect(codeOf(() => decode(varBytes(1 << 20), big))).toBe('CODEC_MALFORMED');
  });
});
