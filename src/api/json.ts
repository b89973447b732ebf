import { hex } from '../bytes.ts';
/**
 * How the API writes state objects as JSON: byte strings as lowercase hex, maps as objects, union
 * values as objects with their `kind`, absent optionals as null. Field names are the model's
 * (src/contracts/model.ts), so a client reads what the rule engine stores.
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export function toJson(value: unknown): Json {
  if (value === null || value === undefined) return null;
  if (value instanceof Uint8Array) return hex(value);
  if (Array.isArray(value)) return value.map(toJson);
  if (value instanceof Map) {
    const out: { [key: string]: Json } = {};
    for (const [key, item] of value) out[String(key)] = toJson(item);
    return out;
  }
  if (typeof value === 'object') {
    const out: { [key: string]: Json } = {};
    for (const [key, item] of Object.entries(value)) out[key] = toJson(item);
    return out;
  }
  if (typeof value === 'bigint') return Number(value);
  return value as boolean | number | string;
}
