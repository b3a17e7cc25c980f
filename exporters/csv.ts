/**
 * CSV (RFC 4180 quoting, UTF-8, a header row, `\n` line ends unless `crlf`). Records that are a source's
 * rows as staged get the source's declared fields as columns, in order, a JSON column staying one column
 * of JSON text; their cells are cut from the staged JSON text as it is read (numbers and JSON values
 * keep their text as staged), so the records never become objects.
 * Other records (refined, or from a source that declares no fields) get a layout decided by a first
 * pass over them. Either way the layout is declared in the manifest, so a reader gets back exactly
 * what was staged:
 *
 * - a nested object becomes columns `parent.child` when it is an object with the same keys in every
 *   record; otherwise (sometimes null, keys that vary) it is one column holding JSON text;
 * - a column whose values are all strings, all numbers or all booleans holds them plainly; arrays,
 *   objects and columns of mixed types hold JSON text (`encoding: json` in the manifest);
 * - NULL is an empty unquoted cell, an empty string is `""`;
 * - columns appear in the order their fields first appear; a literal `.` or `\` in a key is escaped
 *   with `\` in the column name;
 * - a top-level field missing from some records is written as NULL for them.
 */
import { stringify } from 'csv-stringify/sync';
import { z } from 'zod';
import { jsonTypeOf, parseLossless, stringifyLossless } from '../src/core/json-text';
import { LINEAGE_FIELD, withLineage } from '../src/core/lineage';
import type { Field, Json, StagedRecord } from '../src/core/record';
import { defineExporter, type Column } from '../src/export/exporter';
import { canWriteCsv, JsonLinesCsv } from '../src/export/json-lines-csv';
import { schemaFor } from '../src/export/schema';

export const csvExporter = defineExporter({
  format: 'csv',
  description: 'CSV with a header row; nested objects flattened to dotted columns.',
  options: z.strictObject({
    delimiter: z.string().length(1).default(',').describe('The field delimiter, one character (e.g. `;` or a tab).'),
    lineEnding: z
      .enum(['lf', 'crlf'])
      .default('lf')
      .describe('Record separator: `lf`, as PostgreSQL and pandas write CSV, or `crlf` as RFC 4180 says (readers take both).'),
    arrays: z
      .enum(['json', 'delimited'])
      .default('json')
      .describe('Arrays of plain values as JSON text (`["a","b"]`), or `delimited` by `arraySeparator` (`a|b`).'),
    arraySeparator: z.string().min(1).default('|').describe('Between the items of a `delimited` array.'),
    lineage: z.boolean().default(false).describe('Add the `_sluice.source`, `_sluice.key`, `_sluice.run`, `_sluice.refinedBy` columns.'),
  }),
  create: (options) => ({
    // while one tenant's rows are converted, the store reads the other's
    tenantsAtOnce: 2,
    async write(target, input) {
      const plan = new ColumnPlan({ arrays: options.arrays === 'delimited' ? options.arraySeparator : undefined });
      // an integer past 2^53 stays whole (a BigInt) and its cell holds every digit
      const parse = (r: StagedRecord) => parseLossless(options.lineage ? withLineage(r.json!, { ...r, refinedBy: r.refinedBy ?? null }) : r.json!) as Json;
      const schema = schemaFor(target, options.lineage);
      // the source's own rows: their declared fields are the columns (a JSON column stays one column);
      // anything else (refined records, a source that declares nothing): a first pass decides them
      const declared = !target.inferSchema && target.fields.length > 0 && options.arrays === 'json';
      if (declared) plan.declare(target.fields, options.lineage);
      else {
        for await (const page of input.records()) {
          for (const r of page) {
            const record = parse(r);
            plan.observe(record);
            schema.observe(record as Record<string, unknown>);
          }
        }
      }
      const columns = plan.columns(target.fields);
      const format = (rows: (string | null)[][]) =>
        stringify(rows, {
          delimiter: options.delimiter,
          record_delimiter: options.lineEnding === 'crlf' ? '\r\n' : '\n',
          // a bare LF or CR inside a cell must be quoted too, not only the record delimiter as a whole
          quoted_match: /[\r\n]/,
          cast: { string: (v) => (v === '' ? { value: '', quoted_empty: true } : v) },
        });
      const header = format([columns.map((c) => c.name)]);
      const out = target.open('csv');
      let rows = 0;
      try {
        await out.write(header);
        if (declared && canWriteCsv(options.delimiter)) {
          // the staged JSON text read as bytes: the records never become objects here
          const csv = new JsonLinesCsv(
            [
              ...target.fields.map((f) => ({ path: [f.name] as const, json: JSON_TYPES.has(f.type) })),
              ...(options.lineage ? LINEAGE_KEYS.map((k) => ({ path: [LINEAGE_FIELD, k] as const, json: false })) : []),
            ],
            { delimiter: options.delimiter, lineEnding: options.lineEnding === 'crlf' ? '\r\n' : '\n' },
          );
          for await (const chunk of input.jsonLines({ lineage: options.lineage })) for (const part of csv.push(chunk)) await out.write(part);
          for (const part of csv.end()) await out.write(part);
          rows = csv.rows;
        } else {
          for await (const page of input.records()) {
            const cells = page.map((r) => plan.cells(parse(r)));
            rows += cells.length;
            await out.write(format(cells));
          }
        }
      } catch (err) {
        out.destroy();
        throw err;
      }
      return [{ path: out.name, format: 'csv', source: target.source, rows, ...(await out.close()), columns, schema: schema.schema() }];
    },
  }),
});

type Path = readonly string[];

const LINEAGE_KEYS = ['source', 'key', 'run', 'refinedBy'] as const;
/** Field types a cell holds as JSON text. */
const JSON_TYPES = new Set(['object', 'array', 'json']);

interface PathStats {
  seen: number;
  nulls: boolean;
  types: Set<string>;
  /** the keys of the first object seen here, and whether every object here had the same keys */
  keys?: string[];
  sameKeys: boolean;
  /** every array seen here held only plain values that can be joined without ambiguity */
  joinable: boolean;
  /** the types of those items */
  items: Set<string>;
  /** the statistics of this object's members, by key */
  children: Map<string, PathStats>;
}

const newStats = (): PathStats => ({ seen: 0, nulls: false, types: new Set(), sameKeys: true, joinable: true, items: new Set(), children: new Map() });

/** Decides the columns from the records (first pass), then turns each record into cells. */
export class ColumnPlan {
  /** `arrays`: the separator arrays of plain values are joined with; without it they are JSON text */
  constructor(private readonly o: { arrays?: string } = {}) {}

  /** the statistics of the records' top level: one tree of members, walked without building path strings */
  private readonly root = newStats();
  private records = 0;
  private layout?: { columns: Column[]; paths: Path[] };

  observe(record: Json): void {
    if (!isObject(record)) throw new Error('a CSV record must be a JSON object');
    this.records++;
    this.members(record, this.root);
  }

  private members(value: { [key: string]: Json }, node: PathStats): void {
    for (const k in value) {
      let child = node.children.get(k);
      if (!child) node.children.set(k, (child = newStats()));
      this.visit(value[k]!, child);
    }
  }

  private visit(value: Json, s: PathStats): void {
    s.seen++;
    if (value === null) s.nulls = true;
    else if (typeof value !== 'object') s.types.add(jsonTypeOf(value));
    else if (!Array.isArray(value)) {
      s.types.add('object');
      const keys = Object.keys(value);
      if (!s.keys) s.keys = keys;
      else if (s.sameKeys && (s.keys.length !== keys.length || !keys.every((k) => s.children.has(k)))) s.sameKeys = false;
      // an object that is already known to be one JSON column needs no statistics about its insides
      if (s.sameKeys) this.members(value, s);
    } else {
      s.types.add('array');
      const sep = this.o.arrays;
      if (sep === undefined || !s.joinable) return;
      for (const item of value) {
        const plain = typeof item === 'string' || typeof item === 'number' || typeof item === 'bigint' || typeof item === 'boolean';
        // an empty item, or one holding the separator, could not be told apart when split again
        if (!plain || (typeof item === 'string' && (item === '' || item.includes(sep)))) s.joinable = false;
        else s.items.add(typeof item === 'number' || typeof item === 'bigint' ? 'number' : typeof item);
      }
    }
  }

  /**
   * The columns are the declared fields, in order, each one column (object, array and JSON fields as
   * JSON text), then the lineage columns: nothing to learn from the records.
   */
  declare(fields: readonly Field[], lineage: boolean): void {
    const columns: Column[] = fields.map((f) => ({
      name: escapeName([f.name]),
      type: f.type === 'json' ? 'mixed' : f.type,
      encoding: JSON_TYPES.has(f.type) ? 'json' : 'plain',
      nullable: f.nullable,
    }));
    const paths: Path[] = fields.map((f) => [f.name]);
    if (lineage) {
      for (const k of LINEAGE_KEYS) {
        columns.push({ name: escapeName([LINEAGE_FIELD, k]), type: 'string', encoding: 'plain', nullable: k === 'refinedBy' });
        paths.push([LINEAGE_FIELD, k]);
      }
    }
    this.layout = { columns, paths };
  }

  /** The columns; with no records seen, the source's fields (so even an empty file has its header). */
  columns(fields: readonly Field[] = []): Column[] {
    if (this.records === 0) for (const f of fields) this.root.children.set(f.name, { ...newStats(), nulls: true, joinable: false });
    return this.plan().columns;
  }

  private plan(): { columns: Column[]; paths: Path[] } {
    if (this.layout) return this.layout;
    const columns: Column[] = [];
    const paths: Path[] = [];
    const add = (path: Path, s: PathStats, parentSeen: number) => {
      const flatten = s.types.size === 1 && s.types.has('object') && !s.nulls && s.sameKeys && s.keys!.length > 0 && s.seen === parentSeen;
      if (flatten) {
        for (const k of s.keys!) add([...path, k], s.children.get(k)!, s.seen);
        return;
      }
      const types = new Set(s.types);
      if (types.has('integer') && types.has('number')) types.delete('integer');
      const [only] = types;
      const plain = types.size === 0 || (types.size === 1 && (only === 'string' || only === 'number' || only === 'integer' || only === 'boolean'));
      const delimited = this.o.arrays !== undefined && types.size === 1 && only === 'array' && s.joinable && s.items.size <= 1;
      columns.push({
        name: escapeName(path),
        type: types.size === 0 ? 'null' : types.size === 1 ? only! : 'mixed',
        encoding: plain ? 'plain' : delimited ? 'delimited' : 'json',
        ...(delimited ? { separator: this.o.arrays, items: [...s.items][0] ?? 'string' } : {}),
        nullable: s.nulls || s.seen < parentSeen,
      });
      paths.push(path);
    };
    for (const [k, child] of this.root.children) add([k], child, this.records);
    this.layout = { columns, paths };
    return this.layout;
  }

  cells(record: Json): (string | null)[] {
    const { columns, paths } = this.plan();
    return paths.map((path, i) => {
      let v: Json | undefined = record;
      for (const k of path) v = isObject(v) ? v[k] : undefined;
      if (v === undefined || v === null) return null;
      if (columns[i]!.encoding === 'json') return stringifyLossless(v);
      if (columns[i]!.encoding === 'delimited') return (v as Json[]).map(String).join(columns[i]!.separator);
      return typeof v === 'string' ? v : String(v);
    });
  }
}

/** A column name: the path's keys joined by `.`, a literal `.` or backslash in a key escaped by a backslash. */
function escapeName(path: Path): string {
  return path.map((k) => k.replace(/[\\.]/g, (c) => `\\${c}`)).join('.');
}

function isObject(v: Json | undefined): v is { [key: string]: Json } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
