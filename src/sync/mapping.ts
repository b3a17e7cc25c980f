/**
 * The field mapping of a sync pipeline, ready to use: each mapped field with its transform and its own
 * conflict policy, and the conversions of a whole record from one side's fields to the other's.
 */
import type { JsonObject } from '../core/record';
import type { FieldPolicy, SideId, SyncConfig } from './config';
import { carries } from './merge';
import { fieldTransform, type FieldTransform } from './transforms';
import { fieldOf, jsonOf } from './values';

export interface MappedField {
  a: string;
  b: string;
  direction: 'both' | 'a_to_b' | 'b_to_a';
  transform: FieldTransform;
  /** `fieldConflicts` for this field, over the record's policy. */
  policy?: FieldPolicy;
}

export interface Mapping {
  fields: MappedField[];
  /** Each side's mapped field names. */
  names: Record<SideId, string[]>;
}

export function mappingOf(config: SyncConfig): Mapping {
  const fields = config.fields.map((f): MappedField => {
    const policy = fieldOf(config.fieldConflicts, f.a);
    return { a: f.a, b: f.b, direction: f.direction, transform: fieldTransform(f), ...(policy ? { policy } : {}) };
  });
  return { fields, names: { a: fields.map((f) => f.a), b: fields.map((f) => f.b) } };
}

export const other = (side: SideId): SideId => (side === 'a' ? 'b' : 'a');

/**
 * The values a record of side `from` becomes on the other side (for a create), or the first field that
 * cannot be converted. Fields that do not travel that way are left to the other side's defaults.
 */
export function translate(
  data: JsonObject,
  from: SideId,
  mapping: Mapping,
  direction: 'both' | 'a_to_b' | 'b_to_a',
): { ok: true; values: JsonObject } | { ok: false; field: string; reason: string } {
  const to = other(from);
  const values: JsonObject = {};
  for (const f of mapping.fields) {
    if (!carries(f, direction, to)) continue;
    const converted = to === 'b' ? f.transform.toB(fieldOf(data, f.a)) : f.transform.toA!(fieldOf(data, f.b));
    if (!converted.ok) return { ok: false, field: f.a, reason: `${f[from]} → ${f[to]}: ${converted.reason}` };
    values[f[to]] = jsonOf(converted.value);
  }
  return { ok: true, values };
}
