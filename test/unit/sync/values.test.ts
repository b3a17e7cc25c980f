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
