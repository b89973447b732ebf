/**
 * A strict msgpack reader that schemas drive token by token.
 *
 * Decoding follows the schema, so nothing is built that the schema does not expect: a declared array
 * or map length above the schema's bound, a string longer than allowed, a type the schema does not
 * name (floats, negative integers, extension types, references) is rejected before any allocation.
 * No general-purpose msgpack parser ever sees untrusted bytes. Minimality of the encoding is checked
 * afterwards by re-encoding (codec.ts); this reader only has to be strict about shape and bounds.
 */
import { CodecError } from './errors.ts';

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export class Reader {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  #pos = 0;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  #need(count: number): number {
    const at = this.#pos;
    if (at + count > this.#bytes.length) throw new CodecError('CODEC_MALFORMED', 'unexpected end of input');
    this.#pos = at + count;
    return at;
  }

  #byte(): number {
    return this.#bytes[this.#need(1)]!;
  }

  /** How many bytes have been read. */
  get position(): number {
    return this.#pos;
  }

  /** A copy of the input's bytes [start, end) (what a value already read was read from). */
  copy(start: number, end: number): Uint8Array {
    // Not slice: on a Buffer input that is a view, which a later change of the input would alter.
    return new Uint8Array(this.#bytes.subarray(start, end));
  }

  /** The next token byte, without consuming it. */
  peek(): number {
    if (this.#pos >= this.#bytes.length) throw new CodecError('CODEC_MALFORMED', 'unexpected end of input');
    return this.#bytes[this.#pos]!;
  }

  done(): void {
    if (this.#pos !== this.#bytes.length) {
      throw new CodecError('CODEC_MALFORMED', `${this.#bytes.length - this.#pos} trailing bytes`);
    }
  }

  static #mismatch(path: string, expected: string, token: number): CodecError {
    return new CodecError(
      'CODEC_TYPE',
      `${path || 'value'}: expected ${expected}, got msgpack token 0x${token.toString(16)}`,
    );
  }

  /** A non-negative integer; integers of 2^32 and more arrive as float64 (the packer's form for them). */
  uint(path: string): number {
    const token = this.#byte();
    if (token <= 0x7f) return token;
    switch (token) {
      case 0xcc:
        return this.#bytes[this.#need(1)]!;
      case 0xcd:
        return this.#view.getUint16(this.#need(2));
      case 0xce:
        return this.#view.getUint32(this.#need(4));
      case 0xcf: {
        const value = this.#view.getBigUint64(this.#need(8));
        if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
          throw new CodecError('CODEC_RANGE', `${path || 'value'}: integer above 2^53 - 1`);
        }
        return Number(value);
      }
      case 0xcb: {
        const value = this.#view.getFloat64(this.#need(8));
        if (!Number.isSafeInteger(value) || value < 0)
          throw Reader.#mismatch(path, 'unsigned integer', token);
        return value;
      }
      default:
        throw Reader.#mismatch(path, 'unsigned integer', token);
    }
  }

  bool(path: string): boolean {
    const token = this.#byte();
    if (token === 0xc2) return false;
    if (token === 0xc3) return true;
    throw Reader.#mismatch(path, 'bool', token);
  }

  /** Consumes a nil if one is next. */
  nil(): boolean {
    if (this.peek() !== 0xc0) return false;
    this.#pos++;
    return true;
  }

  #tooLong(path: string, what: string, length: number, max: number): CodecError {
    return new CodecError('CODEC_LENGTH', `${path || 'value'}: ${what} of ${length}, at most ${max} allowed`);
  }

  bin(path: string, maxLength: number): Uint8Array {
    const token = this.#byte();
    let length: number;
    if (token === 0xc4) length = this.#bytes[this.#need(1)]!;
    else if (token === 0xc5) length = this.#view.getUint16(this.#need(2));
    else if (token === 0xc6) length = this.#view.getUint32(this.#need(4));
    else throw Reader.#mismatch(path, 'bytes', token);
    if (length > maxLength) throw this.#tooLong(path, 'bytes', length, maxLength);
    const at = this.#need(length);
    return new Uint8Array(this.#bytes.subarray(at, at + length)); // a copy the input cannot alter
  }

  str(path: string, maxBytes: number): string {
    const token = this.#byte();
    let length: number;
    if (token >= 0xa0 && token <= 0xbf) length = token - 0xa0;
    else if (token === 0xd9) length = this.#bytes[this.#need(1)]!;
    else if (token === 0xda) length = this.#view.getUint16(this.#need(2));
    else if (token === 0xdb) length = this.#view.getUint32(this.#need(4));
    else throw Reader.#mismatch(path, 'string', token);
    if (length > maxBytes) throw this.#tooLong(path, 'string bytes', length, maxBytes);
    const at = this.#need(length);
    try {
      return utf8.decode(this.#bytes.subarray(at, at + length));
    } catch {
      throw new CodecError('CODEC_TYPE', `${path || 'value'}: string is not valid UTF-8`);
    }
  }

  /** An array header; its length must be within `maxItems`. */
  array(path: string, maxItems: number): number {
    const token = this.#byte();
    let length: number;
    if (token >= 0x90 && token <= 0x9f) length = token - 0x90;
    else if (token === 0xdc) length = this.#view.getUint16(this.#need(2));
    else if (token === 0xdd) length = this.#view.getUint32(this.#need(4));
    else throw Reader.#mismatch(path, 'array', token);
    if (length > maxItems) throw this.#tooLong(path, 'array length', length, maxItems);
    return length;
  }

  /** A map header; its size must be within `maxEntries`. */
  map(path: string, maxEntries: number): number {
    const token = this.#byte();
    let size: number;
    if (token >= 0x80 && token <= 0x8f) size = token - 0x80;
    else if (token === 0xde) size = this.#view.getUint16(this.#need(2));
    else if (token === 0xdf) size = this.#view.getUint32(this.#need(4));
    else throw Reader.#mismatch(path, 'map', token);
    if (size > maxEntries) throw this.#tooLong(path, 'map size', size, maxEntries);
    return size;
  }
}
