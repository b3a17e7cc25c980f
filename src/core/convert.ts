/**
 * The type conversions users of sync engines expect, each a total function that either converts or says
 * why not: string↔number, string↔boolean, string↔date and date-time (time zones kept), array↔delimited
 * string, object↔JSON string. The refiner's `coerce` rule and two-way sync's field transforms both use
 * them, so a value converts the same way everywhere.
 */
import { parseLossless, stringifyLossless, wholeNumber } from './json-text';

export type Converted = { ok: true; value: unknown } | { ok: false; reason: string };

export type TargetType = 'string' | 'number' | 'integer' | 'boolean' | 'date' | 'datetime' | 'array' | 'object' | 'json';

const ok = (value: unknown): Converted => ({ ok: true, value });
const no = (reason: string): Converted => ({ ok: false, reason });
const show = (v: unknown) => (typeof v === 'string' ? JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v) : stringifyLossless(v) ?? String(v));

const TRUE = new Set(['true', 't', 'yes', 'y', '1', 'on']);
const FALSE = new Set(['false', 'f', 'no', 'n', '0', 'off']);
/** A decimal number as people and CSV files write it: optional sign, digits, optional fraction and exponent. */
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
/** An integer's digits. */
const INTEGER = /^[+-]?\d+$/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
/** ISO-8601 date-time with an optional zone (Z or ±hh:mm); a space may stand for the T. */
const DATETIME = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)(Z|[+-]\d{2}:?\d{2})?$/i;

export interface ConvertOptions {
  /** array↔string: the separator (default ","). */
  separator?: string;
  /** datetime from a string without a zone: the zone it is in (default UTC), as ±hh:mm or Z. */
  zone?: string;
}

/** Converts `value` to `type`; null and undefined stay null (absence is not a conversion error). */
export function convert(value: unknown, type: TargetType, o: ConvertOptions = {}): Converted {
  if (value === null || value === undefined) return ok(null);
  switch (type) {
    case 'string':
      return toText(value, o);
    case 'number':
    case 'integer':
      return toNumber(value, type === 'integer');
    case 'boolean':
      return toBoolean(value);
    case 'date':
      return toDate(value);
    case 'datetime':
      return toDateTime(value, o.zone ?? 'Z');
    case 'array':
      return toArray(value, o.separator ?? ',');
    case 'object':
      return toObject(value);
    case 'json':
      return ok(stringifyLossless(value));
  }
}

function toText(v: unknown, o: ConvertOptions): Converted {
  if (typeof v === 'string') return ok(v);
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return ok(String(v));
  if (Array.isArray(v)) {
    if (v.every((x) => x === null || ['string', 'number', 'boolean', 'bigint'].includes(typeof x))) return ok(v.map((x) => (x === null ? '' : String(x))).join(o.separator ?? ','));
    return ok(stringifyLossless(v));
  }
  return ok(stringifyLossless(v));
}

/**
 * A number; digits of an integer that no double holds (past 2^53, a 64-bit id) become a BigInt (see
 * `wholeNumber`), which every writer of JSON here writes back whole, instead of a neighbouring number.
 */
function toNumber(v: unknown, integer: boolean): Converted {
  let n: number;
  if (typeof v === 'bigint') return ok(v);
  if (typeof v === 'number') n = v;
  else if (typeof v === 'boolean') n = v ? 1 : 0;
  else if (typeof v === 'string' && NUMBER.test(v.trim())) n = Number(v.trim());
  else return no(`cannot read ${show(v)} as a number`);
  if (!Number.isSafeInteger(n) && typeof v === 'string' && INTEGER.test(v.trim())) return ok(wholeNumber(v.trim(), n));
  if (!Number.isFinite(n)) return no(`${show(v)} is not a finite number`);
  if (integer && !Number.isInteger(n)) return no(`${show(v)} is not a whole number`);
  return ok(n);
}

function toBoolean(v: unknown): Converted {
  if (typeof v === 'boolean') return ok(v);
  if (v === 1 || v === 0) return ok(v === 1);
  if (typeof v === 'string') {
    const t = v.trim().toLowerCase();
    if (TRUE.has(t)) return ok(true);
    if (FALSE.has(t)) return ok(false);
  }
  return no(`cannot read ${show(v)} as a boolean (true/false, yes/no, 1/0, on/off)`);
}

function toDate(v: unknown): Converted {
  if (typeof v !== 'string') return no(`cannot read ${show(v)} as a date (YYYY-MM-DD)`);
  const t = v.trim();
  const d = DATE.exec(t);
  if (d) return validDay(+d[1]!, +d[2]!, +d[3]!) ? ok(t) : no(`${show(v)} is not a day of the calendar`);
  // a date-time keeps the day it names in its own zone: 2024-03-01T23:30:00-05:00 is 2024-03-01
  const dt = DATETIME.exec(t);
  if (dt && !Number.isNaN(Date.parse(`${dt[1]}T${dt[2]}${zoneOf(dt[3] ?? 'Z')}`))) return ok(dt[1]);
  return no(`cannot read ${show(v)} as a date (YYYY-MM-DD)`);
}

function toDateTime(v: unknown, defaultZone: string): Converted {
  if (typeof v === 'number') {
    // a number is Unix seconds
    const t = new Date(v * 1000);
    return Number.isNaN(t.getTime()) ? no(`${show(v)} is not a time (Unix seconds out of range)`) : ok(t.toISOString());
  }
  if (typeof v !== 'string') return no(`cannot read ${show(v)} as a date-time`);
  const t = v.trim();
  const date = DATE.exec(t);
  if (date) return validDay(+date[1]!, +date[2]!, +date[3]!) ? ok(`${t}T00:00:00${zoneOf(defaultZone)}`) : no(`${show(v)} is not a day of the calendar`);
  const m = DATETIME.exec(t);
  if (!m) return no(`cannot read ${show(v)} as an ISO-8601 date-time`);
  const [, day, clock, zone] = m;
  const [y, mo, d] = day!.split('-').map(Number) as [number, number, number];
  if (!validDay(y, mo, d)) return no(`${show(v)} is not a day of the calendar`);
  const time = clock!.length === 5 ? `${clock}:00` : clock!;
  const text = `${day}T${time}${zoneOf(zone ?? defaultZone)}`;
  // the zone is kept as written: converting to UTC would lose what the source said
  return Number.isNaN(Date.parse(text)) ? no(`${show(v)} is not a valid time`) : ok(text);
}

function toArray(v: unknown, separator: string): Converted {
  if (Array.isArray(v)) return ok(v);
  if (typeof v === 'string') {
    const t = v.trim();
    if (t.startsWith('[')) {
      try {
        const parsed: unknown = parseLossless(t);
        if (Array.isArray(parsed)) return ok(parsed);
      } catch {
        // not JSON: a delimited string that starts with [
      }
    }
    return ok(t === '' ? [] : t.split(separator).map((s) => s.trim()));
  }
  return ok([v]);
}

function toObject(v: unknown): Converted {
  if (typeof v === 'object' && !Array.isArray(v)) return ok(v);
  if (typeof v === 'string') {
    try {
      const parsed: unknown = parseLossless(v);
      if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) return ok(parsed);
    } catch {
      // falls through to the refusal
    }
  }
  return no(`cannot read ${show(v)} as a JSON object`);
}

function validDay(y: number, m: number, d: number): boolean {
  const t = new Date(Date.UTC(y, m - 1, d));
  return t.getUTCFullYear() === y && t.getUTCMonth() === m - 1 && t.getUTCDate() === d;
}

function zoneOf(zone: string): string {
  if (zone.toUpperCase() === 'Z') return 'Z';
  return zone.length === 5 ? `${zone.slice(0, 3)}:${zone.slice(3)}` : zone;
}

/**
 * How SQL databases without a time type (SQLite) keep times, as ISO-8601 with an offset (UTC when none is
 * written): `2021-01-01 00:00:00` → `2021-01-01T00:00:00+00:00` → `2021-01-01T00:00:00+00:00`; a plain date stays a date; anything else is left alone.
 */
export function isoDateTime(text: string): string | undefined {
  const m = /^(\d{4}-\d{2}-\d{2})(?:[ T](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)(Z|[+-]\d{2}:?\d{2})?)?$/.exec(text);
  if (!m) return undefined;
  const [, date, time, zone] = m;
  if (!time) return date;
  const offset = !zone || zone === 'Z' ? '+00:00' : zone.includes(':') ? zone : `${zone.slice(0, 3)}:${zone.slice(3)}`;
  return `${date}T${time.length === 5 ? `${time}:00` : time}${offset}`;
}
