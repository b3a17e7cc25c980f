// Value equality for sync with integers past 2^53: a BigInt (JSON read by sync keeps them whole) equals
// another reading of the same integer — a BigInt, a driver's digits for a bigint or numeric column — and
// never its rounded neighbour, which is another value.
import fc from 'fast-check';
import { sameValue } from '../../../src/sync/values';

const big = fc.bigInt({ min: 2n ** 53n + 1n, max: 10n ** 30n }).chain((b) => fc.constantFrom(b, -b));

test('property: a big integer equals its digits and itself, in objects and lists too, and nothing else', () => {
  fc.assert(
    fc.property(big, fc.bigInt({ min: 1n, max: 1000n }), (n, d) => {
      expect(sameValue(n, BigInt(n.toString()))).toBe(true);
      expect(sameValue(n, n.toString())).toBe(true);
      expect(sameValue(`${n}.00`, n)).toBe(true);
      expect(sameValue({ id: [n] }, { id: [n.toString()] })).toBe(true);
      expect(sameValue(n, n + d)).toBe(false);
      expect(sameValue(n, (n + d).toString())).toBe(false);
      // a double near it is another value unless it is exactly that integer
      expect(sameValue(n, Number(n))).toBe(BigInt(Number(n)) === n);
      expect(sameValue(n, null)).toBe(false);
      expect(sameValue(n, 'x')).toBe(false);
    }),
  );
});

// Objects compare member by member over the members either has; a member one lacks counts as null.
test('property: objects are alike exactly when every member of either is alike, a missing one as null', () => {
  const leaf = fc.oneof(fc.constant(null), fc.boolean(), fc.integer(), fc.string({ maxLength: 3 }));
  const names = fc.constantFrom('a', 'b', 'c', '__proto__', 'constructor', 'toString');
  const object = fc.dictionary(names, leaf, { maxKeys: 4 });
  fc.assert(
    fc.property(object, object, (x, y) => {
      const members = new Set([...Object.keys(x), ...Object.keys(y)]);
      const expected = [...members].every((k) => sameValue(Object.hasOwn(x, k) ? x[k] : null, Object.hasOwn(y, k) ? y[k] : null));
      expect(sameValue(x, y)).toBe(expected);
      expect(sameValue(y, x)).toBe(expected);
      expect(sameValue(x, { ...x })).toBe(true);
      expect(sameValue(x, Object.fromEntries([...Object.entries(x), ['extra', null]]))).toBe(true);
      expect(sameValue(x, Object.fromEntries([...Object.entries(x), ['extra', 1]]))).toBe(false);
    }),
    { numRuns: 1000 },
  );
});

test('a member named like an inherited one, that the other object lacks, is missing there, not inherited', () => {
  for (const text of ['{"__proto__": null}', '{"toString": null}', '{"constructor": null}']) {
    expect(sameValue({}, JSON.parse(text))).toBe(true);
    expect(sameValue(JSON.parse(text), {})).toBe(true);
    expect(sameValue(JSON.parse(text.replace('null', '1')), {})).toBe(false);
  }
});
