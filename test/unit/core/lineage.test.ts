// Lineage added to staged JSON text without parsing it: by splicing text (the records path) and bytes
// (PostgreSQL's COPY path), both giving the record plus `_sluice`, for any record and key.
import fc from 'fast-check';
import { spliceLineageLines, withLineage } from '../../../src/core/lineage';

const record = fc.dictionary(fc.string().filter((k) => k !== '_sluice' && k !== '__proto__'), fc.jsonValue(), { maxKeys: 4 });

test('property: text splice and byte splice both give the record with _sluice as its last member', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(record, fc.string(), fc.option(fc.string({ minLength: 12, maxLength: 12 }), { nil: null })), { minLength: 1, maxLength: 8 }), (rows) => {
      const lines = rows.map(([data, key, refinedBy]) => [JSON.stringify(data), JSON.stringify(key), JSON.stringify('run-1'), JSON.stringify(refinedBy)].join('\u0002'));
      const spliced = spliceLineageLines(Buffer.from(`${lines.join('\n')}\n`), 'src').toString('utf8').split('\n');
      expect(spliced.pop()).toBe('');
      rows.forEach(([data, key, refinedBy], i) => {
        const want = { ...JSON.parse(JSON.stringify(data)), _sluice: { source: 'src', key, run: 'run-1', refinedBy } };
        expect(JSON.parse(spliced[i]!)).toEqual(want);
        expect(Object.keys(JSON.parse(spliced[i]!)).pop()).toBe('_sluice');
        expect(JSON.parse(withLineage(JSON.stringify(data), { source: 'src', key, run: 'run-1', refinedBy }))).toEqual(want);
      });
    }),
  );
});

test('a chunk that ends inside a line is refused, not looped over', () => {
  expect(() => spliceLineageLines(Buffer.from('{"a":1}\u0002"k"\u0002"r"\u0002null'), 'src')).toThrow(/ends inside a line/);
});
