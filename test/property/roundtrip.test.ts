// JSONL (plain, gzip, with lineage), JSON and CSV (with arrays as JSON or delimited) give back every staged record exactly. Records shaped like a source's rows (the same
// top-level keys in every record) with arbitrary values — awkward strings, empty strings, nulls,
// integers and floats, booleans, arrays, nested objects with stable or varying keys — are staged in a
// real store and exported; reading the files back gives the staged data: JSONL line for line, byte for
// byte; CSV (default, `lf` line ending, `;` and tab delimiters) rebuilt from the columns the exporter
// declares (dotted names, `plain`/`json` encoding, types, NULL vs empty string) into equal objects.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { parse } from 'csv-parse/sync';
import fc from 'fast-check';
import { csvExporter } from '../../exporters/csv';
import { jsonExporter } from '../../exporters/json';
import { jsonlExporter } from '../../exporters/jsonl';
import type { Field, Json, JsonObject, SourceRecord, StagedRecord } from '../../src/core/record';
import { OutputFile, type Column, type ExportInput, type ExportTarget } from '../../src/export/exporter';
import { openStore } from '../../src/stage/open';
import type { StagingStore } from '../../src/stage/store';
import { awkwardText, dropScratch, tempDir, type TempDir } from '../helpers/prop-support';
import { isUp, scratchDatabase, serviceStatus, type ScratchDb } from '../helpers/services';

// ---- records shaped like a source's rows ----

type Leaf = 'string' | 'integer' | 'number' | 'boolean' | 'mixed' | 'array' | 'json' | 'varying-object';
type Shape = { kind: Leaf; nullable: boolean } | { kind: 'object'; nullable: boolean; fields: [string, Shape][] };

/** Key names, including ones that need escaping in a dotted column name. */
const keyName = fc
  .oneof(fc.constantFrom('id', 'a', 'a.b', 'a\\b', '.', '\\', '', 'x.y.z', '\\.', 'toString', 'naïve 😀', 'with,comma', 'quo"te', 'new\nline'), awkwardText({ maxLength: 4 }))
  .filter((k) => k !== '__proto__');

const finite = fc.double({ noNaN: true, noDefaultInfinity: true }).filter((x) => !Object.is(x, -0));
const integer = fc.oneof(fc.integer(), fc.maxSafeInteger(), fc.constantFrom(0, -1, 1e21, -(2 ** 53)));
const text = awkwardText({ nul: true });

const { json } = fc.letrec<{ json: Json }>((tie) => ({
  json: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    integer,
    finite,
    text,
    fc.array(tie('json'), { maxLength: 3 }),
    fc.dictionary(keyName, tie('json'), { maxKeys: 3 }),
  ),
}));

function shape(depth: number): fc.Arbitrary<Shape> {
  const leaf = fc.record({
    kind: fc.constantFrom<Leaf>('string', 'integer', 'number', 'boolean', 'mixed', 'array', 'json', 'varying-object'),
    nullable: fc.boolean(),
  });
  if (depth === 0) return leaf;
  const object = fc.record({
    kind: fc.constant('object' as const),
    nullable: fc.boolean(),
    fields: fc.uniqueArray(fc.tuple(keyName, shape(depth - 1)), { selector: ([k]) => k, maxLength: 3 }),
  });
  return fc.oneof({ arbitrary: leaf, weight: 3 }, { arbitrary: object, weight: 2 });
}

function valueOf(s: Shape): fc.Arbitrary<Json> {
  const value: fc.Arbitrary<Json> = (() => {
    switch (s.kind) {
      case 'string':
        return text;
      case 'integer':
        return integer;
      case 'number':
        return fc.oneof(integer, finite);
      case 'boolean':
        return fc.boolean();
      case 'mixed':
        return fc.oneof(text, integer, finite, fc.boolean());
      case 'array':
        return fc.array(json, { maxLength: 3 });
      case 'json':
        return json;
      case 'varying-object':
        return fc.dictionary(keyName, json, { maxKeys: 3 });
      case 'object':
        return objectOf(s.fields);
    }
  })();
  return s.nullable ? fc.option(value, { nil: null, freq: 3 }) : value;
}

/** An object with exactly these keys, in this order (own properties, whatever the names). */
function objectOf(fields: [string, Shape][]): fc.Arbitrary<JsonObject> {
  return fc.tuple(...fields.map(([, s]) => valueOf(s))).map((values) => Object.fromEntries(fields.map(([k], i) => [k, values[i]!])));
}

const recordsArb = fc
  .uniqueArray(fc.tuple(keyName, shape(2)), { selector: ([k]) => k, minLength: 1, maxLength: 6 })
  .chain((fields) => fc.array(objectOf(fields), { minLength: 1, maxLength: 25, size: 'medium' }).map((values) => ({ fields, values })));

/** The fields a source would declare for records of this shape: plain types as they are, anything else JSON. */
function declaredFields(fields: [string, Shape][]): Field[] {
  const plain = new Set(['string', 'integer', 'number', 'boolean']);
  return fields.map(([name, s]) => ({ name, type: plain.has(s.kind) ? (s.kind as Field['type']) : 'json', nullable: s.nullable }));
}

// ---- reading CSV back ----

/** `a\.b.c\\d` → `['a.b', 'c\d']`: split on unescaped dots, then unescape. */
function columnPath(name: string): string[] {
  const path: string[] = [];
  let part = '';
  for (let i = 0; i < name.length; i++) {
    const c = name[i]!;
    if (c === '\\' && i + 1 < name.length) part += name[++i]!;
    else if (c === '.') {
      path.push(part);
      part = '';
    } else part += c;
  }
  path.push(part);
  return path;
}

function cellValue(cell: string | null, column: Column): Json {
  if (cell === null) return null;
  if (column.encoding === 'json') return JSON.parse(cell) as Json;
  if (column.encoding === 'delimited') {
    if (cell === '') return [];
    return cell.split(column.separator!).map((item) => cellValue(item, { ...column, encoding: 'plain', type: column.items! }));
  }
  switch (column.type) {
    case 'integer':
    case 'number':
      return Number(cell);
    case 'boolean':
      if (cell !== 'true' && cell !== 'false') throw new Error(`boolean column ${column.name} holds ${JSON.stringify(cell)}`);
      return cell === 'true';
    case 'string':
      return cell;
    default:
      throw new Error(`plain column ${column.name} of type ${column.type} holds ${JSON.stringify(cell)}`);
  }
}

function rebuild(cells: (string | null)[], columns: Column[]): JsonObject {
  const out: JsonObject = {};
  columns.forEach((column, i) => {
    const path = columnPath(column.name);
    let node = out;
    for (const k of path.slice(0, -1)) {
      const next = Object.hasOwn(node, k) ? node[k] : undefined;
      if (next === undefined) node[k] = {};
      const child = node[k];
      if (typeof child !== 'object' || child === null || Array.isArray(child)) throw new Error(`column ${column.name} goes inside a non-object`);
      node = child;
    }
    node[path[path.length - 1]!] = cellValue(cells[i] ?? null, column);
  });
  return out;
}

/** NULL is an empty unquoted cell; `""` is an empty string. */
function parseCsv(text: string, delimiter: string, recordDelimiter: string): (string | null)[][] {
  const rows: unknown = parse(text, {
    delimiter,
    record_delimiter: recordDelimiter,
    cast: (value, context) => (value === '' && !context.quoting ? null : value),
  });
  if (!Array.isArray(rows)) throw new Error('csv-parse returned no rows');
  return rows.map((row: unknown) => {
    if (!Array.isArray(row)) throw new Error('csv-parse returned a row that is not an array');
    return row.map((cell: unknown) => (cell === null ? null : String(cell)));
  });
}

// ---- the property, once per staging store ----

const CSV_VARIANTS = [
  { label: 'default', options: {}, delimiter: ',', recordDelimiter: '\n' },
  { label: 'crlf', options: { lineEnding: 'crlf' }, delimiter: ',', recordDelimiter: '\r\n' },
  { label: 'semicolon', options: { delimiter: ';' }, delimiter: ';', recordDelimiter: '\n' },
  { label: 'tab-crlf', options: { delimiter: '\t', lineEnding: 'crlf' }, delimiter: '\t', recordDelimiter: '\r\n' },
  { label: 'delimited-arrays', options: { arrays: 'delimited', arraySeparator: '|' }, delimiter: ',', recordDelimiter: '\n' },
] as const;

const target = (dir: string, compress?: 'gzip', fields: Field[] = []): ExportTarget => ({ dir, source: 'src', fields, open: (ext) => OutputFile.in(dir, `src.${ext}`, compress) });

const stores: string[] = ['sqlite'];
if (isUp('postgres')) stores.push('postgres');
else test.skip(`postgres store [skipped: postgres ${serviceStatus('postgres')}]`, () => undefined);

describe.each(stores)('records staged in a %s store', (kind) => {
  let tmp: TempDir;
  let scratch: ScratchDb | undefined;
  let store: StagingStore;
  let counter = 0;

  beforeAll(async () => {
    tmp = tempDir('roundtrip');
    if (kind === 'postgres') scratch = await scratchDatabase('postgres');
    store = openStore(scratch ? scratch.url : `sqlite:${join(tmp.path, 'staging.db')}`);
    await store.migrate();
  });
  afterAll(async () => {
    await store?.close();
    tmp?.remove();
    await dropScratch(scratch);
  }, 60_000);

  test('come back exactly from JSONL (plain, gzip, with lineage), JSON and CSV', async () => {
    await fc.assert(
      fc.asyncProperty(recordsArb, async ({ fields, values }) => {
        const n = ++counter;
        const pipeline = `rt${n}`;
        const run = `run-${n}`;
        const records: SourceRecord[] = values.map((v, i) => ({ tenant: 't', key: String(i), op: 'upsert', cursor: null, json: JSON.stringify(v) }));
        await store.startRun(pipeline, run);
        await store.commit({ id: run, pipeline, source: 'src' }, { rows: { kind: 'records', records }, checkpoint: { n } });

        const range = { pipeline, source: 'src', afterSeq: 0, upToSeq: Number.MAX_SAFE_INTEGER };
        const input: ExportInput = {
          records: () => store.read('t', { ...range, op: 'upsert' }),
          jsonLines: (o = {}) => store.readJsonLines('t', { ...range, lineage: o.lineage }),
        };
        const staged: StagedRecord[] = [];
        for await (const page of input.records()) staged.push(...page);
        // the store keeps each record's JSON text as given
        expect(staged.map((r) => r.json).sort()).toEqual(records.map((r) => r.json).sort());
        const expected = staged.map((r) => JSON.parse(r.json!) as JsonObject);

        const dir = join(tmp.path, `export-${n}`);
        mkdirSync(dir);
        const [jsonl] = await jsonlExporter.create({ lineage: false }).write(target(dir), input);
        const bytes = readFileSync(join(dir, jsonl!.path));
        const lines = bytes.toString('utf8').split('\n');
        expect(lines.pop()).toBe('');
        expect(lines).toEqual(staged.map((r) => r.json));
        expect(bytes.equals(Buffer.from(staged.map((r) => `${r.json}\n`).join(''), 'utf8'))).toBe(true);
        expect(lines.map((l) => JSON.parse(l) as unknown)).toStrictEqual(expected);
        expect(jsonl!.rows).toBe(staged.length);

        // gzip: the same bytes once inflated; the manifest entry's sizes and hash describe the file on disk
        const gz = join(dir, 'gz');
        mkdirSync(gz);
        const [packed] = await jsonlExporter.create({ lineage: false }).write(target(gz, 'gzip'), input);
        const onDisk = readFileSync(join(gz, packed!.path));
        expect(packed).toMatchObject({ path: 'src.jsonl.gz', compression: 'gzip', rows: staged.length, bytes: onDisk.length, rawBytes: bytes.length });
        expect(packed!.sha256).toBe(createHash('sha256').update(onDisk).digest('hex'));
        expect(gunzipSync(onDisk).equals(bytes)).toBe(true);

        // lineage: each record is the staged one plus `_sluice` naming its source, key and run
        const traced = join(dir, 'traced');
        mkdirSync(traced);
        const [withLineage] = await jsonlExporter.create({ lineage: true }).write(target(traced), input);
        const tracedRecords = readFileSync(join(traced, withLineage!.path), 'utf8').split('\n').slice(0, -1).map((l) => JSON.parse(l) as JsonObject);
        expect(tracedRecords.map(({ _sluice, ...rest }) => rest)).toStrictEqual(expected);
        expect(tracedRecords.map((r) => r._sluice)).toEqual(staged.map((r) => ({ source: 'src', key: r.key, run, refinedBy: null })));

        // one JSON array, written element by element: parses to the staged records
        for (const lineage of [false, true]) {
          const sub = join(dir, `json-${lineage}`);
          mkdirSync(sub);
          const [array] = await jsonExporter.create({ lineage }).write(target(sub), input);
          const parsed = JSON.parse(readFileSync(join(sub, array!.path), 'utf8')) as JsonObject[];
          expect(array!.rows).toBe(staged.length);
          expect(lineage ? parsed.map(({ _sluice, ...rest }) => rest) : parsed).toStrictEqual(expected);
        }

        // each CSV variant with the layout inferred from the records, and with the fields a source declared
        // (then the cells are cut from the JSON Lines bytes)
        for (const [variant, declared] of CSV_VARIANTS.flatMap((v) => [[v, false], [v, true]] as const)) {
          const sub = join(dir, `${variant.label}${declared ? '-declared' : ''}`);
          mkdirSync(sub);
          const exporter = csvExporter.create(csvExporter.options.parse(variant.options));
          const [csv] = await exporter.write(target(sub, undefined, declared ? declaredFields(fields) : []), input);
          const columns = csv!.columns!;
          const text = readFileSync(join(sub, csv!.path), 'utf8');
          const [header, ...rows] = parseCsv(text, variant.delimiter, variant.recordDelimiter);
          expect({ variant: variant.label, header }).toEqual({ variant: variant.label, header: columns.map((c) => c.name) });
          expect(csv!.rows).toBe(staged.length);
          expect({ variant: variant.label, records: rows.map((cells) => rebuild(cells, columns)) }).toStrictEqual({ variant: variant.label, records: expected });
        }
      }),
      { numRuns: 60 },
    );
  }, 150_000);
});
