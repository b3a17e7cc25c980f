/**
 * Value equality for sync. Two readings of one field compare equal when they say the same thing in
 * different spellings — a decimal read as `"12.50"` by one driver and written as `12.5`, a time with
 * `+00:00` or `.000Z` — and different otherwise. Without this, a side that reads back what Sluice wrote
 * in its own spelling would look changed, and the change would echo back and forth.
 */
import type { Json, JsonObject } from '../core/record';

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
/** A full date-time with a zone: only then is the instant certain. */
const INSTANT = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)$/i;

export function sameValue(x: unknown, y: unknown): boolean {
  if (x === y) return true;
  if (isWaiting(x) || isWaiting(y)) return false;
  if (x === undefined || y === undefined || x === null || y === null) return (x ?? null) === (y ?? null);
  if (typeof x === 'bigint' || typeof y === 'bigint') return sameInteger(x, y);
  if (typeof x === 'number' && typeof y === 'string') return sameNumber(x, y);
  if (typeof x === 'string' && typeof y === 'number') return sameNumber(y, x);
  if (typeof x === 'string' && typeof y === 'string') return INSTANT.test(x) && INSTANT.test(y) && sameInstant(x, y);
  if (Array.isArray(x) && Array.isArray(y)) return x.length === y.length && x.every((v, i) => sameValue(v, y[i]));
  if (typeof x === 'object' && typeof y === 'object' && !Array.isArray(x) && !Array.isArray(y)) return sameMembers(x as Record<string, unknown>, y as Record<string, unknown>);
  return false;
}

/** Objects alike member by member, a member one lacks counting as null (walked in place: a sync run compares every changed record's fields with its base). */
function sameMembers(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  // own members only: a name like `__proto__` or `toString` that one lacks is missing, not inherited
  for (const k in a) if (Object.hasOwn(a, k) && !sameValue(a[k], Object.hasOwn(b, k) ? b[k] : undefined)) return false;
  for (const k in b) if (Object.hasOwn(b, k) && !Object.hasOwn(a, k) && !sameValue(undefined, b[k])) return false;
  return true;
}

/**
 * An integer past 2^53 (a BigInt: JSON read by sync keeps it whole) against another reading of it: a
 * BigInt, the digits a driver gives for a bigint or numeric column (`"…891"`, `"…891.00"`), or a number
 * only where the number is that very integer — a rounded neighbour is another value.
 */
function sameInteger(x: unknown, y: unknown): boolean {
  const whole = (v: unknown): bigint | undefined => {
    if (typeof v === 'bigint') return v;
    if (typeof v === 'number') return Number.isInteger(v) ? BigInt(v) : undefined;
    const digits = typeof v === 'string' ? /^\s*([+-]?\d+)(\.0*)?\s*$/.exec(v)?.[1] : undefined;
    return digits === undefined ? undefined : BigInt(digits);
  };
  const a = whole(x);
  return a !== undefined && a === whole(y);
}

function sameNumber(n: number, s: string): boolean {
  return NUMBER.test(s.trim()) && Number(s) === n;
}

/** Instants to the microsecond (PostgreSQL's precision); `Date` alone would stop at milliseconds. */
function sameInstant(x: string, y: string): boolean {
  const micros = (s: string) => {
    const fraction = /:\d{2}\.(\d+)/.exec(s)?.[1] ?? '';
    return instantOf(s) * 1000 + Number(fraction.padEnd(6, '0').slice(3, 6));
  };
  const a = micros(x);
  return !Number.isNaN(a) && a === micros(y);
}

/**
 * A time as milliseconds since the epoch, from ISO-8601 or a database's text (`2024-01-01 10:00:00+00`,
 * as PostgreSQL writes a timestamptz); a number as text is taken as it is. NaN when it is neither.
 */
export function instantOf(text: string): number {
  if (/^-?\d+(\.\d+)?$/.test(text)) return Number(text);
  const iso = text.trim().replace(' ', 'T').replace(/([+-]\d{2})$/, '$1:00');
  return Date.parse(iso);
}

/**
 * A base value kept for a field that waits in the conflict queue. No value a side can hold equals it, so
 * until someone settles the field, both sides count as having changed it — even one that goes back to its
 * old value — and the record is never skipped as unchanged. The old value stays inside, for people.
 */
const WAITING = '$sluiceWaiting';

export function waiting(base: Json): JsonObject {
  return { [WAITING]: isWaiting(base) ? base[WAITING]! : base };
}

export function isWaiting(v: unknown): v is JsonObject {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && Object.hasOwn(v, WAITING);
}

/** A base value as it was synced (the old value of a waiting field). */
export function baseValue(v: Json | undefined): Json {
  return isWaiting(v) ? v[WAITING]! : (v ?? null);
}

/** A base with its waiting fields shown as their old values. */
export function plainBase(base: JsonObject | null | undefined): JsonObject | null {
  return base ? Object.fromEntries(Object.entries(base).map(([k, v]) => [k, baseValue(v)])) : null;
}

/**
 * A record's value of one field: its own member only. A field named like a member every object inherits
 * (`constructor`, `toString`) that the record lacks is missing, not Object's function.
 */
export function fieldOf<T = Json>(record: Readonly<Record<string, T>> | null | undefined, field: string): T | undefined {
  return record && Object.hasOwn(record, field) ? record[field] : undefined;
}

/** A record's value of one field as JSON: missing is null (see `fieldOf`). */
export function fieldValue(record: JsonObject | null | undefined, field: string): Json {
  return fieldOf(record, field) ?? null;
}

/** The fields of `row` this mapping reads, with absent ones as null. */
export function pick(row: JsonObject, fields: readonly string[]): JsonObject {
  const out: JsonObject = {};
  for (const f of fields) out[f] = fieldValue(row, f);
  return out;
}

/** The fields whose values differ between two readings. */
export function changedFields(before: JsonObject, after: JsonObject, fields: readonly string[]): string[] {
  return fields.filter((f) => !sameValue(fieldOf(before, f), fieldOf(after, f)));
}

/** JSON values for the store and the plan: undefined becomes null. */
export function jsonOf(v: unknown): Json {
  return v === undefined ? null : (v as Json);
}
