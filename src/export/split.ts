/**
 * Dataset splits (`split: { train: 0.8, val: 0.1, test: 0.1, by: key }`): each record falls in one split
 * by a hash of its key (or of a field, so records that belong together stay together), never by chance
 * or position — the same record lands in the same split in every export, and adding records moves none.
 */
import { createHash } from 'node:crypto';
import type { StagedRecord } from '../core/record';
import { parseLossless, stringifyLossless } from '../core/json-text';

export interface SplitSpec {
  /** split name → share of the records; the shares add up to 1 */
  shares: [string, number][];
  /** `key` (the record key), or a top-level field of the record */
  by: string;
}

/** The split a value falls in: the first 52 bits of its sha256, as a fraction, against the cumulative shares. */
export function splitOf(spec: SplitSpec, value: string): string {
  const h = createHash('sha256').update(value).digest();
  const u = (h.readUInt32BE(0) * 2 ** 20 + (h.readUInt32BE(4) >>> 12)) / 2 ** 52;
  let edge = 0;
  for (const [name, share] of spec.shares) {
    edge += share;
    if (u < edge) return name;
  }
  return spec.shares[spec.shares.length - 1]![0]; // rounding of the shares: the last split takes the rest
}

/** The value a record is split by: its key, or the field's value as JSON text (absent → `null`). */
export function splitValue(spec: SplitSpec, r: StagedRecord): string {
  if (spec.by === 'key') return r.key;
  const data = parseLossless(r.json ?? 'null') as Record<string, unknown> | null;
  return stringifyLossless(data?.[spec.by] ?? null);
}
