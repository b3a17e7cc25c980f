// Lineage added to staged JSON text without parsing it: by splicing text (the records path) and bytes
// (PostgreSQL's COPY path, in chunks cut anywhere), both giving the record plus `_sluice`, for any record and key.
import fc from 'fast-check';
import { LineageSplicer, withLineage } from '../../../src/core/lineage';

const record = fc.dictionary(fc.string().filter((k) => k !== '_sluice' && k !== '__proto__'), fc.jsonValue(), { maxKeys: 4 });

/** What PostgreSQL sends per record: the data, \x02, then the suffix `lineageSuffixSql` builds. */
const copyLine = (data: string, key: string, refinedBy: string | null) =>
  `${data}\u0002,"_sluice":{"source":"src","key":${JSON.stringify(key)},"run":"run-1","refinedBy":${JSON.stringify(refinedBy)}}}\n`;

function splice(chunks: Buffer[], size: number): string {
  const splicer = new LineageSplicer(size);
  const out: Buffer[] = [];
  for (const c of chunks) out.push(...splicer.push(c));
  out.push(...splicer.end());
  return Buffer.concat(out).toString('utf8');
}

test('property: text splice and byte splice (chunks cut anywhere) both give the record with _sluice as its last member', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(record, fc.string(), fc.option(fc.string({ minLength: 12, maxLength: 12 }), { nil: null })), { minLength: 1, maxLength: 8 }),
      fc.array(fc.nat(), { maxLength: 6 }),
      fc.integer({ min: 1, max: 300 }),
      fc.boolean(),
      (rows, cuts, size, spaced) => {
        // compact as written by JSON.stringify, or spaced out on one line as a pushed body may be
        const spell = (data: object) => (spaced ? `{ ${JSON.stringify(data, null, '\t').slice(1, -1).replace(/\n/g, ' ')} }` : JSON.stringify(data));
        const text = Buffer.from(rows.map(([data, key, refinedBy]) => copyLine(spell(data), key, refinedBy)).join(''), 'utf8');
        const at = [...new Set(cuts.map((c) => c % text.length))].sort((x, y) => x - y);
        const chunks = [0, ...at].map((from, j) => text.subarray(from, j < at.length ? at[j] : text.length));
        const spliced = splice(chunks, size).split('\n');
        expect(spliced.pop()).toBe('');
        expect(spliced).toHaveLength(rows.length);
        rows.forEach(([data, key, refinedBy], i) => {
          const want = { ...JSON.parse(JSON.stringify(data)), _sluice: { source: 'src', key, run: 'run-1', refinedBy } };
          expect(JSON.parse(spliced[i]!)).toEqual(want);
          expect(Object.keys(JSON.parse(spliced[i]!)).pop()).toBe('_sluice');
          expect(JSON.parse(withLineage(spell(data), { source: 'src', key, run: 'run-1', refinedBy }))).toEqual(want);
        });
      },
    ),
  );
});

test('input that ends inside a line, or a line without lineage, is refused, not looped over', () => {
  expect(() => splice([Buffer.from('{"a":1}\u0002,"_sluice":{}}')], 64)).toThrow(/ends inside a line/);
  expect(() => splice([Buffer.from('{"a":1}\n')], 64)).toThrow(/without its lineage/);
});
