// JSON Lines to CSV read as bytes: every cell is what JSON.parse says the member is, for records written
// with any spacing and escapes and read in chunks cut anywhere; numbers and JSON values keep their text.
import fc from 'fast-check';
import { parse } from 'csv-parse/sync';
import { type JsonCsvColumn, JsonLinesCsv } from '../../../src/export/json-lines-csv';
import { type Json, spelled } from '../../helpers/json-spelling';

function convert(columns: JsonCsvColumn[], text: string, cuts: number[] = [], o: { delimiter?: string; lineEnding?: '\n' | '\r\n' } = {}): string {
  const csv = new JsonLinesCsv(columns, { delimiter: o.delimiter ?? ',', lineEnding: o.lineEnding ?? '\n' }, 32);
  const bytes = Buffer.from(text, 'utf8');
  const at = [...new Set(cuts.map((c) => c % bytes.length))].sort((x, y) => x - y);
  const out: Buffer[] = [];
  [0, ...at].forEach((from, j) => out.push(...csv.push(bytes.subarray(from, j < at.length ? at[j] : bytes.length))));
  out.push(...csv.end());
  return Buffer.concat(out).toString('utf8');
}

const cells = (csv: string, delimiter = ','): (string | null)[][] =>
  parse(csv, { delimiter, relax_column_count: false, cast: (value, context) => (value === '' && !context.quoting ? null : value) }) as (string | null)[][];

const names = ['a', 'b/c', 'é', 'd"e', 'n'];
/** strings rich in what CSV and JSON treat specially: delimiters, quotes, escapes, line breaks */
const text = fc.oneof(fc.string(), fc.string({ unit: fc.constantFrom('a', ',', ';', '\t', '|', '/', '"', '\\', '\n', '\r', '\b', 'é', '😀', '\u0000', '.') }));
const value = fc.oneof(fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>, text);
const record = fc.dictionary(fc.oneof(fc.constantFrom(...names), fc.string()), fc.oneof(value, fc.array(value, { maxLength: 3 })), { maxKeys: 6 });

test('property: each cell is the member JSON.parse finds (a string its value, or in a JSON column its JSON; other values their JSON), in chunks cut anywhere', () => {
  fc.assert(
    fc.property(
      fc.array(record, { minLength: 1, maxLength: 6 }),
      fc.array(fc.boolean(), { minLength: names.length, maxLength: names.length }),
      fc.array(fc.nat(), { maxLength: 8 }),
      fc.array(fc.nat(), { maxLength: 64 }),
      fc.constantFrom(',', ';', '\t', '|', '/'),
      (records, json, cuts, picks, delimiter) => {
        let p = 0;
        const pick = () => picks[p++ % Math.max(1, picks.length)] ?? 0;
        const columns = names.map((n, i) => ({ path: [n] as [string], json: json[i]! }));
        const text = records.map((r) => `${spelled(r, pick)}\n`).join('');
        const rows = cells(convert(columns, text, cuts, { delimiter }), delimiter);
        expect(rows).toHaveLength(records.length);
        records.forEach((r, i) => {
          const parsed = JSON.parse(JSON.stringify(r)) as Record<string, Json>;
          columns.forEach((c, j) => {
            const want = Object.hasOwn(parsed, c.path[0]) ? parsed[c.path[0]]! : null;
            const got = rows[i]![j]!;
            if (want === null) expect(got).toBeNull();
            else if (typeof want === 'string' && !c.json) expect(got).toBe(want);
            else expect(JSON.parse(got)).toStrictEqual(want);
          });
        });
      },
    ),
  );
});

test('numbers, nested values and JSON strings keep their staged text; NULL, missing and "" told apart', () => {
  const columns: JsonCsvColumn[] = [
    { path: ['n'], json: false },
    { path: ['doc'], json: true },
    { path: ['s'], json: true },
    { path: ['t'], json: false },
    { path: ['gone'], json: false },
    { path: ['nil'], json: false },
  ];
  const line = '{"n": 1.50e3, "doc": {"a": [1, "x,y"]}, "s": "\\u00e9\\/", "t": "", "nil": null, "extra": {"n": 2}}\n';
  expect(convert(columns, line)).toBe('1.50e3,"{""a"": [1, ""x,y""]}","""é/""","",,\n');
});

test('a repeated member counts once, the last; CRLF line ends; quotes, delimiters and line breaks are quoted', () => {
  const columns: JsonCsvColumn[] = [
    { path: ['a'], json: false },
    { path: ['b'], json: false },
  ];
  expect(convert(columns, '{"a":"x","a":"y;z","b":"say \\"hi\\"\\nbye"}\n', [], { delimiter: ';', lineEnding: '\r\n' })).toBe('"y;z";"say ""hi""\nbye"\r\n');
});

test('lineage columns come from the nested _sluice member, a repeated one replacing the first whole', () => {
  const columns: JsonCsvColumn[] = [
    { path: ['id'], json: false },
    { path: ['_sluice', 'key'], json: false },
    { path: ['_sluice', 'refinedBy'], json: false },
  ];
  const text = '{"id":1,"_sluice":{"key":"old","refinedBy":"v1"},"_sluice":{"source":"s","key":"k\\"1","run":"r","refinedBy":null}}\n';
  expect(convert(columns, text)).toBe('1,"k""1",\n');
});

test('\\u0000 and lone surrogates are written, not refused; a lone \\. is quoted in a one-column file', () => {
  expect(convert([{ path: ['a'], json: false }], '{"a":"x\\u0000y"}\n{"a":"\\\\."}\n')).toBe('x\u0000y\n"\\."\n');
});

test('a line that is not one JSON object is refused with what was wrong and where', () => {
  const columns: JsonCsvColumn[] = [{ path: ['a'], json: false }];
  expect(() => convert(columns, '[1]\n')).toThrow(/must be a JSON object near "\[1\]"/);
  expect(() => convert(columns, '{"a":1} x\n')).toThrow(/text after the record/);
  expect(() => convert(columns, '{"a":"open}\n')).toThrow(/unterminated string/);
  expect(() => convert(columns, '{"a":{"b":1\n')).toThrow(/unclosed object/);
  expect(() => convert(columns, '{"a":{"b":1}\n')).toThrow(/expected a comma or the end of the object/);
  expect(() => convert(columns, '{"a":1}')).toThrow(/ends inside a line/);
});
