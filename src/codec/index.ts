/** The canonical encoding of everything medledger hashes, signs or sends. See codec.ts. */
export { DEFAULT_MAX_BYTES, decode, encode, encodeAppended, listLength } from './codec.ts';
export { CodecError, type CodecErrorCode } from './errors.ts';
export {
  bool,
  bytes,
  type Infer,
  type ListSchema,
  list,
  map,
  oneOf,
  optional,
  type Schema,
  type StructOf,
  type StructSchema,
  str,
  struct,
  type UnionOf,
  u8,
  u32,
  u64,
  uint,
  union,
  varBytes,
  withReceivedBytes,
} from './schema.ts';
