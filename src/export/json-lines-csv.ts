/**
 * JSON Lines (one object a line, as the staging store hands them out) to CSV rows of chosen fields,
 * read as bytes: no record becomes an object and no field a string unless it has escapes to decode.
 * Most of a CSV export's time was spent parsing each record into an object; this finds each chosen
 * member's value by scanning the text once, and copies it.
 *
 * A cell holds (RFC 4180 quoting when it has the delimiter, a quote, CR or LF):
 * - a string: its value (escapes decoded); in a `json` column, its JSON text instead;
 * - a number, `true`, `false`, an object or an array: its JSON text as staged, digits and spacing kept;
 * - `null`, or a field the record lacks: nothing (NULL), where an empty string is `""`.
 * Members the columns do not name are skipped; of a repeated member, the last counts (as `JSON.parse`).
 */
import { LineTransform } from '../core/line-transform';

export interface JsonCsvColumn {
  /** the member's key, or an object member's key and its member's (lineage: `_sluice`, `key`) */
  path: readonly [string] | readonly [string, string];
  /** a string value is written as JSON text (a JSON column), not as its value */
  json: boolean;
}

export interface JsonCsvOptions {
  /** one ASCII character other than `"`, CR and LF (see `canWriteCsv`) */
  delimiter: string;
  lineEnding: '\n' | '\r\n';
}

/** Whether this delimiter can be written here (one byte that needs no care of its own). */
export const canWriteCsv = (delimiter: string) => /^[\x01-\x7f]$/.test(delimiter) && !/["\r\n]/.test(delimiter);

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const CR = 0x0d;
const LF = 0x0a;
const U = 0x75;

/** What a column's value was in the current line. */
const enum Kind {
  Missing,
  Null,
  String,
  /** a string with escapes */
  Escaped,
  /** number, `true`, `false`, object or array: JSON text copied as it is */
  Raw,
}

/** The keys of one object level and where each goes: a column's index, or the keys of a nested level. */
interface Level {
  /** the columns under this level */
  columns: number[];
  keys: Buffer[];
  targets: (number | Level)[];
  byName: Map<string, number | Level>;
}

const ESCAPES: Record<number, number> = { 0x22: QUOTE, 0x5c: BACKSLASH, 0x2f: 0x2f, 0x62: 0x08, 0x66: 0x0c, 0x6e: LF, 0x72: CR, 0x74: 0x09 };
const DECODE = new Int16Array(128).fill(-1);
for (const [k, v] of Object.entries(ESCAPES)) DECODE[Number(k)] = v;

export class JsonLinesCsv extends LineTransform {
  rows = 0;
  private readonly root: Level;
  private readonly json: boolean[];
  private readonly kinds: Uint8Array;
  private readonly starts: Int32Array;
  private readonly ends: Int32Array;
  private readonly delimiter: number;
  /** 1 for the bytes that make a cell quoted: quote, CR, LF and the delimiter */
  private readonly special = new Uint8Array(256);
  private readonly lineEnding: Buffer;
  /** set by `stringEnd`: the string just scanned has escapes */
  private escaped = false;
  /** set by `valueEnd`: the value just scanned */
  private kind = Kind.Missing;

  constructor(columns: readonly JsonCsvColumn[], o: JsonCsvOptions, size = 64 * 1024) {
    super(size);
    if (!canWriteCsv(o.delimiter)) throw new Error(`JsonLinesCsv: cannot write the delimiter ${JSON.stringify(o.delimiter)}`);
    this.delimiter = o.delimiter.charCodeAt(0);
    for (const b of [QUOTE, CR, LF, this.delimiter]) this.special[b] = 1;
    this.lineEnding = Buffer.from(o.lineEnding);
    this.json = columns.map((c) => c.json);
    this.kinds = new Uint8Array(columns.length);
    this.starts = new Int32Array(columns.length);
    this.ends = new Int32Array(columns.length);
    const level = (): Level => ({ columns: [], keys: [], targets: [], byName: new Map() });
    const add = (to: Level, name: string, target: number | Level) => {
      to.keys.push(Buffer.from(name));
      to.targets.push(target);
      to.byName.set(name, target);
    };
    this.root = level();
    columns.forEach((c, i) => {
      if (c.path.length === 1) return add(this.root, c.path[0], i);
      let nested = this.root.byName.get(c.path[0]);
      if (typeof nested !== 'object') add(this.root, c.path[0], (nested = level()));
      add(nested, c.path[1], i);
      nested.columns.push(i);
    });
  }

  protected line(buf: Buffer, from: number, end: number): void {
    this.kinds.fill(Kind.Missing);
    const after = this.object(buf, this.space(buf, from, end), end, this.root);
    if (this.space(buf, after, end) !== end) this.fail('text after the record', buf, from, end);
    // the most a line can take: every byte a doubled quote, two quotes and a delimiter a cell
    this.room(2 * (end - from) + 3 * this.json.length + this.lineEnding.length);
    for (let c = 0; c < this.json.length; c++) {
      if (c > 0) this.out[this.pos++] = this.delimiter;
      this.cell(buf, c);
    }
    this.pos += copy(this.lineEnding, 0, this.lineEnding.length, this.out, this.pos);
    this.rows++;
  }

  /** Scans the object at `i`, noting where the values of the level's keys are; returns the index after it. */
  private object(buf: Buffer, i: number, end: number, level: Level): number {
    if (buf[i] !== OPEN_OBJECT) this.fail('a CSV record must be a JSON object', buf, i, end);
    i = this.space(buf, i + 1, end);
    if (buf[i] === CLOSE_OBJECT) return i + 1;
    let guess = 0;
    for (;;) {
      if (buf[i] !== QUOTE) this.fail('expected a member name', buf, i, end);
      const keyEnd = this.stringEnd(buf, i, end);
      // members mostly come in the columns' order: try the next one first, then the others, by bytes
      let found = -1;
      if (this.escaped) {
        const target = level.byName.get(JSON.parse(buf.toString('utf8', i, keyEnd)) as string);
        found = target === undefined ? -1 : level.targets.indexOf(target);
      } else {
        for (let n = 0; n < level.keys.length && found === -1; n++) {
          const k = (guess + n) % level.keys.length;
          if (sameBytes(level.keys[k]!, buf, i + 1, keyEnd - 1)) found = k;
        }
      }
      i = this.space(buf, keyEnd, end);
      if (buf[i] !== COLON) this.fail('expected a colon', buf, i, end);
      i = this.space(buf, i + 1, end);
      const valueEnd = this.valueEnd(buf, i, end);
      if (found !== -1) {
        guess = found + 1;
        const target = level.targets[found]!;
        if (typeof target === 'number') {
          this.kinds[target] = this.kind;
          this.starts[target] = i;
          this.ends[target] = valueEnd;
        } else {
          // a repeated member replaces the one before it whole
          for (const c of target.columns) this.kinds[c] = Kind.Missing;
          if (buf[i] === OPEN_OBJECT) this.object(buf, i, valueEnd, target);
        }
      }
      i = this.space(buf, valueEnd, end);
      if (buf[i] === CLOSE_OBJECT) return i + 1;
      if (buf[i] !== COMMA) this.fail('expected a comma or the end of the object', buf, i, end);
      i = this.space(buf, i + 1, end);
    }
  }

  /** The index after the value at `i`, its kind in `this.kind`. */
  private valueEnd(buf: Buffer, i: number, end: number): number {
    const first = buf[i];
    if (first === QUOTE) {
      const after = this.stringEnd(buf, i, end);
      this.kind = this.escaped ? Kind.Escaped : Kind.String;
      return after;
    }
    this.kind = Kind.Raw;
    if (first === OPEN_OBJECT || first === OPEN_ARRAY) {
      let depth = 0;
      for (let k = i; k < end; ) {
        const c = buf[k]!;
        if (c === QUOTE) {
          k = this.stringEnd(buf, k, end);
          continue;
        }
        if (c === OPEN_OBJECT || c === OPEN_ARRAY) depth++;
        else if ((c === CLOSE_OBJECT || c === CLOSE_ARRAY) && --depth === 0) return k + 1;
        k++;
      }
      this.fail('an unclosed object or array', buf, i, end);
    }
    let k = i;
    while (k < end) {
      const c = buf[k]!;
      if (c === COMMA || c === CLOSE_OBJECT || c === CLOSE_ARRAY || c <= 0x20) break;
      k++;
    }
    if (k === i) this.fail('expected a value', buf, i, end);
    if (k - i === 4 && buf[i] === 0x6e && buf[i + 1] === U && buf[i + 2] === 0x6c && buf[i + 3] === 0x6c) this.kind = Kind.Null;
    return k;
  }

  /** The index after the string whose opening quote is at `i`; `this.escaped` says whether it has escapes. */
  private stringEnd(buf: Buffer, i: number, end: number): number {
    // a loop of byte compares: strings are short, and a native search costs more to call than this
    this.escaped = false;
    for (let k = i + 1; k < end; k++) {
      const c = buf[k];
      if (c === QUOTE) return k + 1;
      if (c === BACKSLASH) {
        this.escaped = true;
        k++;
      }
    }
    return this.fail('an unterminated string', buf, i, end);
  }

  private space(buf: Buffer, i: number, end: number): number {
    while (i < end && (buf[i] === 0x20 || buf[i] === 0x09 || buf[i] === CR)) i++;
    return i;
  }

  private cell(buf: Buffer, c: number): void {
    const kind = this.kinds[c];
    const start = this.starts[c]!;
    const end = this.ends[c]!;
    if (kind === Kind.Missing || kind === Kind.Null) return;
    if (kind === Kind.Raw || (kind === Kind.String && this.json[c])) return this.quoted(buf, start, end);
    if (kind === Kind.String) {
      if (end - start === 2) {
        this.out[this.pos++] = QUOTE; // an empty string, told apart from NULL
        this.out[this.pos++] = QUOTE;
        return;
      }
      return this.quoted(buf, start + 1, end - 1);
    }
    if (this.json[c] || !this.decoded(buf, start + 1, end - 1)) {
      // a JSON column's string in the one spelling every writer agrees on; `\u` escapes the slow way
      const value = JSON.parse(buf.toString('utf8', start, end)) as string;
      this.text(this.json[c] ? JSON.stringify(value) : value);
    }
  }

  /** Bytes `[start, end)` as a cell, quoted when they need it; returns false (writing nothing) if they have a `\u` escape. */
  private decoded(buf: Buffer, start: number, end: number): boolean {
    let quote = false;
    for (let k = start; k < end; k++) {
      const b = buf[k];
      if (b === BACKSLASH) {
        const e = buf[++k];
        if (e === U) return false;
        const value = DECODE[e!] ?? -1;
        if (value === QUOTE || value === LF || value === CR || value === this.delimiter) quote = true;
      } else if (b === this.delimiter) quote = true;
    }
    // a lone `\.` line is where PostgreSQL's COPY input ends: quoted, as PostgreSQL writes it
    if (this.json.length === 1 && end - start === 3 && buf[start] === BACKSLASH && buf[start + 1] === BACKSLASH && buf[start + 2] === 0x2e) quote = true;
    const out = this.out;
    let pos = this.pos;
    if (quote) out[pos++] = QUOTE;
    let from = start;
    for (let k = start; k < end; k++) {
      if (buf[k] !== BACKSLASH) continue;
      pos += copy(buf, from, k, out, pos);
      const value = DECODE[buf[++k]!] ?? -1;
      if (value === -1) this.fail('a bad escape', buf, start, end);
      if (value === QUOTE) out[pos++] = QUOTE;
      out[pos++] = value;
      from = k + 1;
    }
    pos += copy(buf, from, end, out, pos);
    if (quote) out[pos++] = QUOTE;
    this.pos = pos;
    return true;
  }

  /** Bytes `[start, end)` as they are, quoted (quotes doubled) when they hold a quote, the delimiter, CR or LF. */
  private quoted(buf: Buffer, start: number, end: number): void {
    let quote = false;
    for (let k = start; k < end && !quote; k++) quote = this.special[buf[k]!] === 1;
    if (!quote) {
      this.pos += copy(buf, start, end, this.out, this.pos);
      return;
    }
    const out = this.out;
    let pos = this.pos;
    out[pos++] = QUOTE;
    for (let k = start; k < end; k++) {
      const b = buf[k]!;
      out[pos++] = b;
      if (b === QUOTE) out[pos++] = QUOTE;
    }
    out[pos++] = QUOTE;
    this.pos = pos;
  }

  /** A decoded value as a cell. Never longer than the JSON it came from, so it fits the room asked for. */
  private text(value: string): void {
    const needs = value.includes('"') || value.includes('\n') || value.includes('\r') || value.includes(String.fromCharCode(this.delimiter));
    const lone = this.json.length === 1 && value === '\\.';
    if (!needs && !lone) {
      this.pos += this.out.write(value, this.pos, 'utf8');
      return;
    }
    this.pos += this.out.write(`"${value.replace(/"/g, '""')}"`, this.pos, 'utf8');
  }

  private fail(what: string, buf: Buffer, at: number, end: number): never {
    const near = buf.toString('utf8', Math.max(0, at - 20), Math.min(end, at + 20));
    throw new Error(`${what} near ${JSON.stringify(near)}`);
  }
}

/** `key` equals `buf[start, end)`. */
function sameBytes(key: Buffer, buf: Buffer, start: number, end: number): boolean {
  if (key.length !== end - start) return false;
  for (let k = 0; k < key.length; k++) if (key[k] !== buf[start + k]) return false;
  return true;
}

/**
 * `src[from, to)` into `dst` at `at`; returns the count. Cells are short: a byte loop beats
 * `Buffer.copy`, whose every call makes views of both buffers.
 */
function copy(src: Buffer, from: number, to: number, dst: Buffer, at: number): number {
  if (to - from > 64) dst.set(src.subarray(from, to), at);
  else for (let k = from; k < to; k++) dst[at++] = src[k]!;
  return to - from;
}
