/**
 * The three-way merge of one linked record: each side's current values against the base (the values
 * both sides held at the last sync). A field changed on one side only is carried to the other; changed
 * on both to the same value, it agrees; changed on both to different values, it is a conflict, decided by
 * a resolution (a person's or a custom module's), the field's policy or the record's, or left waiting.
 *
 * Pure: no I/O, so every rule here is tested on its own and by the property tests.
 */
import type { JsonObject } from '../core/record';
import type { FieldPolicy, Policy } from './config';
import type { MappedField, Mapping } from './mapping';
import type { SideRow } from './side';
import { baseValue, fieldOf, fieldValue, instantOf, jsonOf, sameValue } from './values';

export interface LinkedState {
  a: SideRow;
  b: SideRow;
  /** Absent when the records were linked without a sync between them (by `match`): every field differs from "nothing". */
  baseA?: JsonObject;
  baseB?: JsonObject;
}

/** How a person or a module settles a conflicting field, by its a-side name. */
export type FieldResolution = { take: 'a' | 'b' | 'base' } | { value: unknown };
export type Resolution = Record<string, FieldResolution>;

export interface FieldConflict {
  /** The a-side field name. */
  field: string;
  base: { a: unknown; b: unknown } | null;
  a: unknown;
  b: unknown;
}

export interface MergeOutcome {
  /** Values to set on each side (by that side's field names); empty when nothing is to be written. */
  writeA: JsonObject;
  writeB: JsonObject;
  /** Conflicting fields no rule decided: they wait in the queue. */
  waiting: FieldConflict[];
  /** Every conflicting field, and who decided it (`a_wins`, `resolution`, ...), for the audit trail. */
  decided: Record<string, string>;
  /** A value that could not be converted: the record is not written and waits with the reason. */
  failure?: { field: string; reason: string };
}

export interface MergeRules {
  policy: Policy;
  direction: 'both' | 'a_to_b' | 'b_to_a';
  /** Decisions already made for conflicting fields (a resolution from the queue or a custom module). */
  resolution?: Resolution;
}

export function merge(state: LinkedState, mapping: Mapping, rules: MergeRules): MergeOutcome {
  const out: MergeOutcome = { writeA: {}, writeB: {}, waiting: [], decided: {} };
  for (const f of mapping.fields) {
    const av = fieldValue(state.a.data, f.a);
    const bv = fieldValue(state.b.data, f.b);
    const linked = state.baseA !== undefined && state.baseB !== undefined;
    const aChanged = !linked || !sameValue(av, fieldOf(state.baseA, f.a));
    const bChanged = !linked || !sameValue(bv, fieldOf(state.baseB, f.b));
    if (!aChanged && !bChanged) continue;
    const toB = carries(f, rules.direction, 'b');
    const toA = carries(f, rules.direction, 'a');
    let take: 'a' | 'b' | 'base' | { value: unknown } | null;
    if (aChanged && !bChanged) take = toB ? 'a' : null;
    else if (bChanged && !aChanged) take = toA ? 'b' : null;
    else if (agree(f, av, bv)) take = null;
    else if (!toA || !toB) take = toB ? 'a' : toA ? 'b' : null; // a one-way field always follows its source
    else {
      const conflict: FieldConflict = { field: f.a, base: linked ? { a: baseValue(fieldOf(state.baseA, f.a)), b: baseValue(fieldOf(state.baseB, f.b)) } : null, a: av, b: bv };
      const decision = decide(conflict, f, state, rules);
      if (decision === 'wait') {
        out.waiting.push(conflict);
        continue;
      }
      out.decided[f.a] = decision.by;
      take = decision.take;
    }
    if (take === null) continue;
    const failure = settle(f, take, state, out, rules.direction);
    if (failure) return { writeA: {}, writeB: {}, waiting: [], decided: {}, failure };
  }
  if (rules.policy === 'manual' && out.waiting.length > 0) return { writeA: {}, writeB: {}, waiting: out.waiting, decided: {} };
  return out;
}

/** Whether field `f` may be written to `to` under the field's and the pipeline's direction. */
export function carries(f: MappedField, direction: MergeRules['direction'], to: 'a' | 'b'): boolean {
  const way = to === 'b' ? 'a_to_b' : 'b_to_a';
  return (f.direction === 'both' || f.direction === way) && (direction === 'both' || direction === way) && (to === 'b' || f.transform.toA !== undefined);
}

/** The two sides hold the same value for the field (as the mapping translates it). */
export function agree(f: MappedField, av: unknown, bv: unknown): boolean {
  const asB = f.transform.toB(av);
  if (asB.ok && sameValue(asB.value, bv)) return true;
  const asA = f.transform.toA?.(bv);
  return asA !== undefined && asA.ok && sameValue(asA.value, av);
}

function decide(c: FieldConflict, f: MappedField, state: LinkedState, rules: MergeRules): 'wait' | { take: 'a' | 'b' | 'base' | { value: unknown }; by: string } {
  const resolved = fieldOf(rules.resolution, c.field);
  if (resolved) return { take: 'take' in resolved ? resolved.take : { value: resolved.value }, by: 'resolution' };
  const policy: FieldPolicy | Policy = f.policy ?? rules.policy;
  switch (policy) {
    case 'a_wins':
      return { take: 'a', by: policy };
    case 'b_wins':
      return { take: 'b', by: policy };
    case 'last_write_wins':
      return { take: laterSide(state.a.changedAt, state.b.changedAt), by: policy };
    default:
      // merge, manual, and custom without a resolution for this field
      return 'wait';
  }
}

/**
 * The side whose record changed last. Ties, and records whose side cannot say when they changed, go to
 * side a: a stated, deterministic rule, so every run (and every process) decides alike.
 */
export function laterSide(a: string | null, b: string | null): 'a' | 'b' {
  const t = (s: string | null) => (s === null ? Number.NaN : instantOf(s));
  const ta = t(a);
  const tb = t(b);
  return tb > ta ? 'b' : 'a'; // false when either is NaN
}

/** Puts the winning value on the side(s) that do not hold it yet; a conversion failure is returned. */
function settle(
  f: MappedField,
  take: 'a' | 'b' | 'base' | { value: unknown },
  state: LinkedState,
  out: MergeOutcome,
  direction: MergeRules['direction'],
): { field: string; reason: string } | undefined {
  const av = fieldValue(state.a.data, f.a);
  const bv = fieldValue(state.b.data, f.b);
  let a: unknown;
  let b: unknown;
  if (take === 'a') [a, b] = [av, undefined];
  else if (take === 'b') [a, b] = [undefined, bv];
  else if (take === 'base') [a, b] = [baseValue(fieldOf(state.baseA, f.a)), baseValue(fieldOf(state.baseB, f.b))];
  else a = take.value;
  if (b === undefined) {
    const converted = f.transform.toB(a);
    if (!converted.ok) return { field: f.a, reason: `${f.a} → ${f.b}: ${converted.reason}` };
    b = converted.value;
  }
  if (a === undefined) {
    const converted = f.transform.toA!(b);
    if (!converted.ok) return { field: f.a, reason: `${f.b} → ${f.a}: ${converted.reason}` };
    a = converted.value;
  }
  if (!sameValue(a, av) && carries(f, direction, 'a')) out.writeA[f.a] = jsonOf(a);
  if (!sameValue(b, bv) && carries(f, direction, 'b')) out.writeB[f.b] = jsonOf(b);
  return undefined;
}

/**
 * The fields on which two linked records differ through the mapping, with both values: what `sluice
 * check` calls drift. A one-way field counts only where its source side holds a value.
 */
export function drift(a: JsonObject, b: JsonObject, mapping: Mapping, direction: MergeRules['direction']): Record<string, [unknown, unknown]> {
  const out: Record<string, [unknown, unknown]> = {};
  for (const f of mapping.fields) {
    const [toB, toA] = [carries(f, direction, 'b'), carries(f, direction, 'a')];
    if (!toB && !toA) continue;
    const [av, bv] = [fieldValue(a, f.a), fieldValue(b, f.b)];
    // a one-way field whose source holds nothing has nothing to carry: the other side's value is its own
    if ((toB && !toA && av === null) || (toA && !toB && bv === null)) continue;
    if (!agree(f, av, bv)) out[f.a] = [av, bv];
  }
  return out;
}
