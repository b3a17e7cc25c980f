// Values found in JSON text without parsing it: for any JSON written with any spacing, line breaks and
// escapes, the span at a path holds what JSON.parse finds there; integers past 2^53 keep their digits.
import fc from 'fast-check';
import { getJsonPath, type JsonPath } from '../../../src/core/json-path';
import { elementSpans, oneLine, scalarText, spanAt } from '../../../src/core/json-text';
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
