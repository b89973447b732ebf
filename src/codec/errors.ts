/** The codec's one error type: anything wrong with bytes or values being encoded or decoded. */
import { MedledgerError } from '../errors.ts';

export type CodecErrorCode =
  | 'CODEC_TOO_LARGE' // input over the configured byte limit
  | 'CODEC_MALFORMED' // not a single well-formed msgpack value (truncated, trailing bytes, reserved bytes)
  | 'CODEC_TYPE' // a value of the wrong type at some path
  | 'CODEC_LENGTH' // wrong fixed length, wrong field count, or over a string/array/map bound
  | 'CODEC_RANGE' // an integer outside its range
  | 'CODEC_NON_CANONICAL'; // decodable, but not the one canonical byte form of its value

export class CodecError extends MedledgerError {
  override readonly code: CodecErrorCode;

  constructor(code: CodecErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'CodecError';
    this.code = code;
  }
}
