// Values found in JSON text without parsing it: for any JSON written with any spacing, line breaks and
// escapes, the span at a path holds what JSON.parse finds there; integers past 2^53 keep their digits,
// as a scalar's text and in what parseLossless makes of the whole (and stringifyLossless writes back).
import fc from 'fast-check';
import { getJsonPath, type JsonPath } from '../../../src/core/json-path';
import { elementSpans, oneLine, parseLossless, scalarText, spanAt, stringifyLossless } from '../../../src/core/json-text';
import { type Json, spelled } from '../../helpers/json-spelling';

/** Every path into the value, the value itself included. */
function paths(value: Json, prefix: JsonPath = []): JsonPath[] {
  if (Array.isArray(value)) return [prefix, ...value.flatMap((v, i) => paths(v, [...prefix, i]))];
  if (value !== null && typeof value === 'object') return [prefix, ...Object.entries(value).flatMap(([k, v]) => paths(v, [...prefix, k]))];
  return [prefix];
}

const slice = (text: string, span: readonly [number, number] | undefined) => (span ? text.slice(span[0], span[1]) : undefined);

test('property: the span at each path parses to the value there; an array has a span per element; one line parses the same', () => {
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 4 }) as fc.Arbitrary<Json>, fc.array(fc.nat(), { maxLength: 64 }), (value, picks) => {
      let p = 0;
      const text = `\n ${spelled(value, () => picks[p++ % Math.max(1, picks.length)] ?? 0, true)}\r\n`;
      const parsed = JSON.parse(text) as unknown;
      expect(JSON.parse(oneLine(text))).toStrictEqual(parsed);
      expect(oneLine(text)).not.toMatch(/[\r\n]/);
      for (const path of paths(JSON.parse(JSON.stringify(value)) as Json)) {
        const span = spanAt(text, path);
        expect(JSON.parse(slice(text, span)!)).toStrictEqual(getJsonPath(parsed, path));
        const found = getJsonPath(parsed, path);
        if (Array.isArray(found)) expect(elementSpans(text, span!).map((s) => JSON.parse(slice(text, s)!) as unknown)).toStrictEqual(found);
      }
      expect(spanAt(text, ['no such key', 0])).toBeUndefined();
    }),
  );
});

test('of a repeated key the last counts, as JSON.parse; a scalar is its text only where JSON.parse loses digits', () => {
  const text = '{"a": 1, "b": {"id": 9007199254740993, "x": 1.50, "t": true}, "a": [7, 8]}';
  expect(slice(text, spanAt(text, ['a', 1]))).toBe('8');
  const parsed = JSON.parse(text) as Record<string, unknown>;
  expect(scalarText(getJsonPath(parsed, ['b', 'id']), text, ['b', 'id'])).toBe('9007199254740993');
  expect(scalarText(getJsonPath(parsed, ['b', 'x']), text, ['b', 'x'])).toBe('1.5');
  expect(scalarText(getJsonPath(parsed, ['b', 't']), text, ['b', 't'])).toBe('true');
  expect(scalarText(getJsonPath(parsed, ['b']), text, ['b'])).toBeUndefined();
});

/** An integer past 2^53 in a generated value: written as its digits, expected back as them. */
class Big {
  constructor(readonly digits: string) {}
}
type Tree = null | boolean | number | string | Big | Tree[] | { [key: string]: Tree };

const { tree } = fc.letrec<{ tree: Tree; leaf: Tree; array: Tree[]; object: Record<string, Tree> }>((tie) => ({
  tree: fc.oneof({ depthSize: 'small' }, tie('leaf'), tie('array'), tie('object')),
  leaf: fc.oneof(
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.string(),
    fc.stringMatching(/^\d{16,20}$/),
    fc.bigInt({ min: 2n ** 53n, max: 10n ** 24n }).chain((b) => fc.constantFrom(b, -b)).map((b) => new Big(b.toString())),
  ),
  array: fc.array(tie('tree'), { maxLength: 4 }),
  object: fc.dictionary(fc.string(), tie('tree'), { maxKeys: 4 }),
}));

/** The tree as JSON text with random spacing; its big integers as digits. */
function written(t: Tree, pick: () => number): string {
  const space = () => [' ', '', '\n', '\t '][pick() % 4]!;
  if (t instanceof Big) return t.digits;
  if (Array.isArray(t)) return `[${space()}${t.map((v) => written(v, pick)).join(`,${space()}`)}${space()}]`;
  if (t !== null && typeof t === 'object') return `{${Object.entries(t).map(([k, v]) => `${space()}${JSON.stringify(k)}${space()}:${written(v, pick)}`).join(',')}}`;
  return JSON.stringify(t);
}

/** An integer's digits as parseLossless should give them: a BigInt only where the double JSON.parse makes would not write back as the same digits. */
const whole = (d: string) => (String(Number(d)) === BigInt(d).toString() ? Number(d) : BigInt(d));

/**
 * What parseLossless should give: an integer written past 2^53 (a generated big integer, or a double such
 * as 1e16 that JSON.stringify writes as one) whole, the rest as JSON.parse reads it back.
 */
function expected(t: Tree): unknown {
  if (t instanceof Big) return whole(t.digits);
  if (Array.isArray(t)) return t.map(expected);
  if (t !== null && typeof t === 'object') return Object.fromEntries(Object.entries(t).map(([k, v]) => [k, expected(v)]));
  const text = JSON.stringify(t);
  return typeof t === 'number' && !Number.isSafeInteger(t) && /^-?\d+$/.test(text) ? whole(text) : (JSON.parse(text) as unknown);
}

test('parseLossless: of a repeated key the last counts; a fraction or an exponent stays a number, as does an integer a double holds', () => {
  expect(parseLossless('{"id": 1, "id": 9007199254740993, "n": [1e20, 12345678901234567.5, 18446744073709551615, 9007199254740992]}')).toStrictEqual({
    id: 9007199254740993n,
    n: [1e20, 12345678901234567.5, 18446744073709551615n, 9007199254740992],
  });
  expect(parseLossless('{"id": 9007199254740993, "id": 2}')).toStrictEqual({ id: 2 });
});

test('property: parseLossless reads integers past 2^53 as BigInts, and stringifyLossless writes them back as the numbers they were', () => {
  fc.assert(
    fc.property(tree, fc.array(fc.nat(), { maxLength: 32 }), (t, picks) => {
      let p = 0;
      const text = written(t, () => picks[p++ % Math.max(1, picks.length)] ?? 0);
      const value = parseLossless(text);
      expect(value).toStrictEqual(expected(t));
      const again = stringifyLossless(value);
      expect(parseLossless(again)).toStrictEqual(value);
      // JSON.stringify's text, with each BigInt where JSON.stringify would have had to write something else
      // (generated strings are printable ASCII: they never hold the mark)
      const marked = JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? `\u0001${v}` : v));
      expect(again).toBe(marked.replace(/"\\u0001(-?\d+)"/g, '$1'));
      const indented = JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? `\u0001${v}` : v), 2);
      expect(stringifyLossless(value, 2)).toBe(indented.replace(/"\\u0001(-?\d+)"/g, '$1'));
    }),
  );
});

test('stringifyLossless follows JSON.stringify: toJSON, undefined members left out, undefined elements as null', () => {
  const value = { at: new Date('2024-01-02T03:04:05Z'), gone: undefined, list: [undefined, 1n, -12345678901234567891n], n: 1.5, s: 'x"y' };
  expect(stringifyLossless(value)).toBe('{"at":"2024-01-02T03:04:05.000Z","list":[null,1,-12345678901234567891],"n":1.5,"s":"x\\"y"}');
  const plain = { at: new Date(0), gone: undefined, list: [undefined, 1], n: 1.5 };
  expect(stringifyLossless(plain)).toBe(JSON.stringify(plain));
});
