// Lineage added to staged JSON text without parsing it: by splicing text (the records path) and bytes
// (PostgreSQL's COPY path, in chunks cut anywhere), both giving the record plus `_sluice`, for any record and
// key; a record with a `_sluice` member of its own is refused by both, one with the name elsewhere is not.
import fc from 'fast-check';
import { LineageSplicer, withLineage } from '../../../src/core/lineage';

const record = fc.dictionary(fc.string().filter((k) => k !== '_sluice' && k !== '__proto__'), fc.jsonValue(), { maxKeys: 4 });

/** What PostgreSQL sends per record: the data, \x02, then the suffix `lineageSuffixSql` builds. */
const copyLine = (data: string, key: string, refinedBy: string | null) =>
  `${data}\u0002{"source":"src","key":${JSON.stringify(key)},"run":"run-1","refinedBy":${JSON.stringify(refinedBy)}}}\n`;

/** A text cut into chunks at the given places. */
const cut = (text: Buffer, cuts: number[]) => {
  const at = [...new Set(cuts.map((c) => c % text.length))].sort((x, y) => x - y);
  return [0, ...at].map((from, j) => text.subarray(from, j < at.length ? at[j] : text.length));
};

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
        const spliced = splice(cut(text, cuts), size).split('\n');
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
  expect(() => splice([Buffer.from('{"a":1}\u0002{}}')], 64)).toThrow(/ends inside a line/);
  expect(() => splice([Buffer.from('{"a":1}\n')], 64)).toThrow(/without its lineage/);
});

// `_sluice` as JSON text may spell it, with any of its letters escaped (`\u005f`, `\u0073`…, hex in either case)
const spelled = fc
  .array(fc.constantFrom('plain', 'lower', 'upper'), { minLength: 7, maxLength: 7 })
  .map((how) => [...'_sluice'].map((c, i) => (how[i] === 'plain' ? c : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')[how[i] === 'upper' ? 'toUpperCase' : 'toLowerCase']()}`)).join(''));

test('property: a record with its own _sluice is refused, naming it, wherever the chunks are cut; the name in a value or deeper down is no member', () => {
  const own = fc.oneof(
    fc.constantFrom('{"_sluice": 1}', '{"a": [1], "_sluice": {"x": true}}', '{ "b": "x", \t"_sluice" : null }'),
    spelled.map((name) => `{"caf\\u00e9": 1, "${name}": 2}`),
  );
  const not = fc.oneof(
    fc.constantFrom('{"note": "\\"_sluice\\" is reserved"}', '{"nested": {"_sluice": 2}}', '{"list": ["_sluice"]}', '{"caf\\u00e9": "\\u00fc"}'),
    spelled.map((name) => `{"note": "${name}", "nested": {"${name}": 1}}`),
  );
  fc.assert(
    fc.property(own, fc.array(not, { maxLength: 4 }), fc.nat({ max: 4 }), fc.array(fc.nat(), { maxLength: 6 }), (bad, fine, at, cuts) => {
      const lines = fine.map((d, i) => copyLine(d, `k${i}`, null));
      lines.splice(Math.min(at, lines.length), 0, copyLine(bad, 'the-one', null));
      const text = Buffer.from(lines.join(''), 'utf8');
      expect(() => splice(cut(text, cuts), 64)).toThrow(expect.objectContaining({ code: 'SLUICE_EXPORT_LINEAGE', message: expect.stringMatching(/record the-one of source src/) }));
      expect(splice(cut(Buffer.from(fine.map((d, i) => copyLine(d, `k${i}`, null)).join(''), 'utf8'), cuts), 64).split('\n')).toHaveLength(fine.length + 1);
      expect(() => withLineage(bad, { source: 'src', key: 'the-one', run: 'r', refinedBy: null })).toThrow(/record the-one of source src has its own _sluice/);
      for (const d of fine) expect(JSON.parse(withLineage(d, { source: 'src', key: 'k', run: 'r', refinedBy: null }))._sluice.key).toBe('k');
    }),
  );
});
