/**
 * What JSON.parse loses, kept: the digits of an integer past 2^53 (JSON.parse rounds it to a neighbouring
 * one) and the text a value was written as. Values are found in the text without parsing it into objects
 * (the text is taken to be valid JSON: JSON.parse has accepted it), and `parseLossless` /
 * `stringifyLossless` read and write such integers whole, as BigInts.
 */
import type { JsonPath } from './json-path';

/** `[start, end)` of a value in the text. */
export type Span = readonly [number, number];

const WHITE = new Set([' ', '\t', '\n', '\r']);

function skipWhite(text: string, i: number): number {
  while (i < text.length && WHITE.has(text[i]!)) i++;
  return i;
}

/** The end of the string whose opening quote is at `i`. */
function stringEnd(text: string, i: number): number {
  for (let k = i + 1; k < text.length; k++) {
    const c = text[k];
    if (c === '\\') k++;
    else if (c === '"') return k + 1;
  }
  throw new Error('unterminated string');
}

/** The end of the value starting at `i` (no white space before it). */
export function valueEnd(text: string, i: number): number {
  const c = text[i];
  if (c === '"') return stringEnd(text, i);
  if (c === '{' || c === '[') {
    let depth = 0;
    for (let k = i; k < text.length; k++) {
      const d = text[k];
      if (d === '"') k = stringEnd(text, k) - 1;
      else if (d === '{' || d === '[') depth++;
      else if ((d === '}' || d === ']') && --depth === 0) return k + 1;
    }
    throw new Error('unclosed object or array');
  }
  let k = i;
  while (k < text.length && !WHITE.has(text[k]!) && text[k] !== ',' && text[k] !== '}' && text[k] !== ']') k++;
  return k;
}

/** The members (key and value span) of the object, or elements of the array, at `i`. */
function* children(text: string, i: number): Generator<[string | number, Span]> {
  const object = text[i] === '{';
  let k = skipWhite(text, i + 1);
  for (let n = 0; text[k] !== (object ? '}' : ']'); n++) {
    let name: string | number = n;
    if (object) {
      const keyEnd = stringEnd(text, k);
      name = JSON.parse(text.slice(k, keyEnd)) as string;
      k = skipWhite(text, skipWhite(text, keyEnd) + 1); // past the colon
    }
    const end = valueEnd(text, k);
    yield [name, [k, end]];
    k = skipWhite(text, end);
    if (text[k] === ',') k = skipWhite(text, k + 1);
  }
}

/** The span of the value at `path` (as `getJsonPath` finds it: of a repeated key, the last), or undefined. */
export function spanAt(text: string, path: JsonPath, from: Span = [skipWhite(text, 0), text.length]): Span | undefined {
  let at: Span = from;
  for (const step of path) {
    const open = text[at[0]];
    if ((typeof step === 'number' ? '[' : '{') !== open) return undefined;
    let found: Span | undefined;
    for (const [name, span] of children(text, at[0])) {
      if (name !== step) continue;
      found = span;
      if (typeof step === 'number') break;
    }
    if (!found) return undefined;
    at = found;
  }
  return at;
}

/** The spans of the array's elements. */
export function elementSpans(text: string, array: Span): Span[] {
  return [...children(text, array[0])].map(([, span]) => span);
}

/** Sixteen digits in a row: below that, no integer literal can be past 2^53. */
const LONG_DIGITS = /\d{16}/;
const INTEGER = /^-?\d+$/;

/**
 * JSON.parse, except that an integer whose digits the double JSON.parse makes of it would not write
 * back (one past 2^53, a 64-bit id: JSON.parse would give a neighbouring one) comes back as a BigInt,
 * still a number, which `stringifyLossless` writes as the digits it had. Wherever JSON.parse keeps the
 * digits, this gives what JSON.parse gives.
 */
export function parseLossless(text: string): unknown {
  return losslessIntegers(JSON.parse(text), text);
}

/** What `parseLossless` does, to a value JSON.parse already made of `text` (changed in place). */
export function losslessIntegers(value: unknown, text: string): unknown {
  if (!LONG_DIGITS.test(text) || !holdsUnsafe(value)) return value;
  return exactIn(value, text, [skipWhite(text, 0), text.length]);
}

/**
 * The integer written as `digits`: the double `parsed` (what JSON.parse or Number made of them) where it
 * writes back as the same digits, else a BigInt, which does.
 */
export function wholeNumber(digits: string, parsed: number): number | bigint {
  const exact = BigInt(digits);
  return String(parsed) === exact.toString() ? parsed : exact;
}

/**
 * JSON.stringify, except that a BigInt is written as its digits, a number (JSON.stringify refuses
 * BigInts); `space` indents as JSON.stringify's does. With no BigInt in the value it is JSON.stringify itself.
 */
export function stringifyLossless(value: unknown, space?: number): string {
  try {
    return JSON.stringify(value, null, space);
  } catch (err) {
    // JSON.stringify refuses a BigInt with a TypeError: only then is the value walked (most hold none)
    if (!(err instanceof TypeError) || !holdsBigInt(value)) throw err;
    return written(value, ' '.repeat(space ?? 0), '\n')!;
  }
}

/** A JSON value's type as a schema names it: a BigInt (see `parseLossless`) is an integer too. */
export function jsonTypeOf(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v === 'bigint' ? 'integer' : typeof v;
}

/** Whether a scalar somewhere in `v` (itself included) is one `test` accepts. */
function holds(v: unknown, test: (scalar: unknown) => boolean): boolean {
  if (v === null || typeof v !== 'object') return test(v);
  return (Array.isArray(v) ? v : Object.values(v)).some((x) => holds(x, test));
}

const holdsBigInt = (v: unknown) => holds(v, (x) => typeof x === 'bigint');
const holdsUnsafe = (v: unknown) => holds(v, (x) => typeof x === 'number' && Number.isInteger(x) && !Number.isSafeInteger(x));

/**
 * JSON.stringify's rules (toJSON, undefined members left out, undefined elements as null, the layout of
 * its `space`), plus BigInt. `line` is a line break and the indentation of the value's own line.
 */
function written(v: unknown, indent: string, line: string): string | undefined {
  if (typeof v === 'bigint') return v.toString();
  if (v !== null && typeof v === 'object' && typeof (v as { toJSON?: unknown }).toJSON === 'function') v = (v as { toJSON(): unknown }).toJSON();
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  const inner = line + indent;
  const items = Array.isArray(v)
    ? v.map((x) => written(x, indent, inner) ?? 'null')
    : Object.entries(v).flatMap(([k, x]) => {
        const text = written(x, indent, inner);
        return text === undefined ? [] : [`${JSON.stringify(k)}:${indent ? ' ' : ''}${text}`];
      });
  const [open, close] = Array.isArray(v) ? ['[', ']'] : ['{', '}'];
  if (items.length === 0) return open + close;
  return indent ? `${open}${inner}${items.join(`,${inner}`)}${line}${close}` : `${open}${items.join(',')}${close}`;
}

/** `value` (parsed from `span` of `text`) with its unsafe integers made whole (see `wholeNumber`). */
function exactIn(value: unknown, text: string, span: Span): unknown {
  if (typeof value === 'number') {
    const literal = text.slice(span[0], span[1]);
    return !Number.isSafeInteger(value) && INTEGER.test(literal) ? wholeNumber(literal, value) : value;
  }
  if (value === null || typeof value !== 'object') return value;
  // of a repeated key JSON.parse keeps the last: so does the map
  const spans = new Map(children(text, span[0]));
  const container = value as Record<string | number, unknown>;
  for (const [name, child] of spans) {
    if (holdsUnsafe(container[name])) container[name] = exactIn(container[name], text, child);
  }
  return value;
}

/** A record's JSON text on one line: line breaks are white space outside strings, and a string cannot hold a raw one. */
export function oneLine(json: string): string {
  return /[\r\n]/.test(json) ? json.replace(/[\r\n]/g, ' ') : json;
}

/**
 * A scalar at `path` as text: a string's value; a number as written when JSON.parse could not read it
 * exactly (an integer past 2^53), else as JavaScript prints it; true/false. Undefined for anything else.
 */
export function scalarText(value: unknown, text: string, path: JsonPath, within?: Span): string | undefined {
  if (typeof value === 'string' || typeof value === 'boolean') return String(value);
  if (typeof value !== 'number') return undefined;
  if (!Number.isInteger(value) || Number.isSafeInteger(value)) return String(value);
  const span = spanAt(text, path, within);
  return span ? text.slice(span[0], span[1]) : String(value);
}
