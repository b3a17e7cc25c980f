// The rules step and the conversions under it: each rule kind does what the pipeline file says; a record
// that fails is quarantined with every reason and its original is never changed; bad rules are config
// errors at load time; conversions round-trip where they have an inverse.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { convert } from '../../../src/core/convert';
import { rulesStepSchema, type Rule } from '../../../src/refine/rules/config';
import { rulesStep } from '../../../src/refine/rules/rules';
import type { RefineOutcome } from '../../../src/refine/step';

const rules = (list: unknown[]): Rule[] => rulesStepSchema.parse({ rules: list }).rules;
const one = async (list: unknown[], data: Record<string, unknown>): Promise<RefineOutcome> =>
  (await rulesStep(rules(list)).refine([{ source: 's', tenant: 't', key: 'k', data }]))[0]!;

describe('rule kinds', () => {
  test('rename, map (with and without default), normalize', async () => {
    expect(await one([{ rename: { cust_email: 'email' } }], { cust_email: 'a@b', x: 1 })).toEqual({ status: 'refined', data: { email: 'a@b', x: 1 } });
    const map = { map: { field: 'status', values: { P: 'pending', S: 'shipped' }, default: 'unknown' } };
    expect(await one([map], { status: 'S' })).toEqual({ status: 'refined', data: { status: 'shipped' } });
    expect(await one([map], { status: 'Q' })).toEqual({ status: 'refined', data: { status: 'unknown' } });
    expect(await one([{ map: { field: 'status', values: { P: 'pending' } } }], { status: 'Q' })).toEqual({ status: 'refined', data: { status: 'Q' } });
    expect(await one([{ normalize: { email: ['trim', 'lowercase'], name: ['collapse', 'trim'] } }], { email: '  A@B.Org ', name: ' Ada   Lovelace ' })).toEqual({
      status: 'refined',
      data: { email: 'a@b.org', name: 'Ada Lovelace' },
    });
  });

  test('coerce converts, and a value that does not convert quarantines the record with the field and why', async () => {
    const coerce = { coerce: { amount: 'number', created_at: 'datetime', active: 'boolean', tags: 'array' } };
    expect(await one([coerce], { amount: '12.50', created_at: '2024-03-01 10:00', active: 'yes', tags: 'a, b' })).toEqual({
      status: 'refined',
      data: { amount: 12.5, created_at: '2024-03-01T10:00:00Z', active: true, tags: ['a', 'b'] },
    });
    expect(await one([coerce], { amount: '12,50', active: 'maybe' })).toEqual({
      status: 'quarantined',
      failures: [
        { rule: 'coerce', field: 'amount', reason: 'cannot read "12,50" as a number (to number)' },
        { rule: 'coerce', field: 'active', reason: 'cannot read "maybe" as a boolean (true/false, yes/no, 1/0, on/off) (to boolean)' },
      ],
    });
  });

  test('derive computes with JSONata, never eval; an expression that errs on a record quarantines it', async () => {
    expect(await one([{ derive: { field: 'total_eur', expr: 'amount * rate' } }], { amount: 2, rate: 1.5 })).toEqual({
      status: 'refined',
      data: { amount: 2, rate: 1.5, total_eur: 3 },
    });
    const bad = await one([{ derive: { field: 'x', expr: 'amount * rate' } }], { amount: 'two', rate: 1.5 });
    expect(bad).toMatchObject({ status: 'quarantined', failures: [{ rule: 'derive', field: 'x' }] });
  });

  test('validate reports every failed check of every field', async () => {
    const validate = {
      validate: {
        email: { pattern: '^[^@]+@[^@]+$' },
        amount: { min: 0 },
        status: { in: ['pending', 'shipped', 'unknown'] },
        id: 'required',
      },
    };
    expect(await one([validate], { id: 1, email: 'a@b', amount: 0, status: 'pending' })).toMatchObject({ status: 'refined' });
    const out = await one([validate], { email: 'nope', amount: -1, status: 'lost' });
    expect(out).toEqual({
      status: 'quarantined',
      failures: [
        { rule: 'validate', field: 'email', reason: 'does not match /^[^@]+@[^@]+$/' },
        { rule: 'validate', field: 'amount', reason: 'value -1 is below the minimum 0' },
        { rule: 'validate', field: 'status', reason: '"lost" is not one of "pending", "shipped", "unknown"' },
        { rule: 'validate', field: 'id', reason: 'is required' },
      ],
    });
  });

  test('filter leaves out records for which it is not true', async () => {
    expect(await one([{ filter: "status != 'test'" }], { status: 'test' })).toEqual({ status: 'filtered', reason: 'filter: not true for this record' });
    expect(await one([{ filter: "status != 'test'" }], { status: 'live' })).toMatchObject({ status: 'refined' });
  });

  test('rules run in order: a rename feeds a map, a coerce feeds a derive', async () => {
    const out = await one(
      [{ rename: { st: 'status' } }, { map: { field: 'status', values: { P: 'pending' } } }, { coerce: { n: 'number' } }, { derive: { field: 'd', expr: 'n * 2' } }],
      { st: 'P', n: '21' },
    );
    expect(out).toEqual({ status: 'refined', data: { status: 'pending', n: 21, d: 42 } });
  });
});

describe('bad rules are refused when the file is loaded', () => {
  const problems = (list: unknown[]) => {
    const r = rulesStepSchema.safeParse({ rules: list });
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };
  test('an unknown rule kind, an invalid expression, a bad type, a bad pattern', () => {
    expect(problems([{ explode: {} }])).not.toEqual([]);
    expect(problems([{ derive: { field: 'x', expr: 'amount *' } }])).toEqual([expect.stringMatching(/^rules\.0\.derive\.expr: expected a JSONata expression: .*\(at character 8\)$/)]);
    expect(problems([{ coerce: { x: 'money' } }])).not.toEqual([]);
    expect(problems([{ validate: { x: { pattern: '(' } } }])).toEqual(['rules.0.validate.x.pattern: expected a regular expression']);
  });
});

describe('the original is never changed', () => {
  const value = fc.oneof(fc.string(), fc.integer(), fc.double({ noNaN: true }), fc.boolean(), fc.constant(null), fc.array(fc.string(), { maxLength: 3 }));
  test('property: for any record and any rules, the input data is left exactly as it was', async () => {
    const anyRule = fc.constantFrom<unknown>(
      { rename: { a: 'b' } },
      { map: { field: 'a', values: { x: 1 }, default: 0 } },
      { coerce: { a: 'number', b: 'array', c: 'datetime' } },
      { normalize: { a: ['trim', 'uppercase'] } },
      { derive: { field: 'd', expr: 'a & b' } },
      { validate: { a: { min: 1 }, b: 'required' } },
      { filter: 'a != "x"' },
    );
    await fc.assert(
      fc.asyncProperty(fc.dictionary(fc.constantFrom('a', 'b', 'c', 'd'), value), fc.array(anyRule, { minLength: 1, maxLength: 5 }), async (data, list) => {
        const before = structuredClone(data);
        const [out] = await rulesStep(rules(list)).refine([{ source: 's', tenant: 't', key: 'k', data }]);
        expect(data).toEqual(before);
        expect(['refined', 'filtered', 'quarantined']).toContain(out!.status);
      }),
      { numRuns: 300 },
    );
  });
});

describe('conversions', () => {
  test('string↔number, string↔boolean, dates and date-times keep their zone, array↔delimited string, object↔JSON', () => {
    expect(convert('-1.5e3', 'number')).toEqual({ ok: true, value: -1500 });
    expect(convert('1.5', 'integer')).toMatchObject({ ok: false });
    expect(convert('off', 'boolean')).toEqual({ ok: true, value: false });
    expect(convert(true, 'string')).toEqual({ ok: true, value: 'true' });
    expect(convert('2024-02-30', 'date')).toMatchObject({ ok: false, reason: expect.stringContaining('not a day of the calendar') });
    expect(convert('2024-03-01T23:30:00-05:00', 'date')).toEqual({ ok: true, value: '2024-03-01' });
    expect(convert('2024-03-01T23:30:00-0500', 'datetime')).toEqual({ ok: true, value: '2024-03-01T23:30:00-05:00' });
    expect(convert('2024-03-01 08:15', 'datetime', { zone: '+08:00' })).toEqual({ ok: true, value: '2024-03-01T08:15:00+08:00' });
    expect(convert('2024-03-01', 'datetime')).toEqual({ ok: true, value: '2024-03-01T00:00:00Z' });
    expect(convert(['a', 'b'], 'string', { separator: '|' })).toEqual({ ok: true, value: 'a|b' });
    expect(convert('a|b', 'array', { separator: '|' })).toEqual({ ok: true, value: ['a', 'b'] });
    expect(convert('["x",1]', 'array')).toEqual({ ok: true, value: ['x', 1] });
    expect(convert('{"a":1}', 'object')).toEqual({ ok: true, value: { a: 1 } });
    expect(convert({ a: [1] }, 'json')).toEqual({ ok: true, value: '{"a":[1]}' });
    expect(convert(null, 'number')).toEqual({ ok: true, value: null });
  });

  test('property: number → string → number, array → string → array (separator-free items), object → JSON → object round-trip', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (n) => {
        const text = convert(n, 'string');
        expect(text.ok && convert(text.value, 'number')).toEqual({ ok: true, value: n === 0 ? 0 : n });
      }),
    );
    fc.assert(
      fc.property(fc.array(fc.string().filter((s) => !s.includes(',') && s.trim() === s && s !== ''), { minLength: 1 }), (items) => {
        const text = convert(items, 'string');
        expect(text.ok && convert(text.value, 'array')).toEqual({ ok: true, value: items });
      }),
    );
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (o) => {
        const text = convert(o, 'json');
        expect(text.ok && convert(text.value, 'object')).toEqual({ ok: true, value: JSON.parse(JSON.stringify(o)) });
      }),
    );
  });
});

describe('module: a step of your own', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-module-'));
  const module = (name: string, body: string) => {
    const file = join(dir, name);
    writeFileSync(file, body);
    return file;
  };
  const upper = module(
    'upper.ts',
    `const step = { name: 'upper', version: '1', async refine(records: { data: Record<string, unknown> }[]) {
       return records.map((r) => ({ status: 'refined' as const, data: { ...r.data, name: String(r.data.name).toUpperCase() } }));
     } };
     export default step;`,
  );
  const throws = module('throws.ts', `export default { name: 'boom', version: '1', async refine() { throw new Error('lookup service down'); } };`);
  const wrong = module('wrong.js', `module.exports = { default: { name: 'wrong', version: '1', async refine() { return ['yes']; } } };`);
  const fails = module('fails.ts', `export default { name: 'fails', version: '1', async refine(rs: unknown[]) { return rs.map(() => ({ status: 'failed', error: 'no credit left' })); } };`);

  test('a TypeScript module refines records in its place among the rules', async () => {
    expect(await one([{ module: upper }, { rename: { name: 'who' } }], { name: 'ada' })).toEqual({ status: 'refined', data: { who: 'ADA' } });
  });

  test('a module that throws, or answers what is not an outcome, quarantines the record with the reason', async () => {
    expect(await one([{ module: throws }], { a: 1 })).toEqual({ status: 'quarantined', failures: [{ rule: `module ${throws}`, reason: 'threw: lookup service down' }] });
    expect(await one([{ module: wrong }], { a: 1 })).toEqual({ status: 'quarantined', failures: [{ rule: `module ${wrong}`, reason: 'answered "yes", not an outcome' }] });
    expect(await one([{ module: fails }], { a: 1 })).toEqual({ status: 'quarantined', failures: [{ rule: `module ${fails}`, reason: 'no credit left' }] });
  });

  test('the example step typed against the package\'s RefineStep redacts addresses and quarantines a bad one', async () => {
    const example = join(__dirname, '../../../pipelines/steps/redact-emails.ts');
    expect(await one([{ module: example }], { email: 'ada@example.org', note: 'cc bob@example.com please' })).toEqual({
      status: 'refined',
      data: { email: 'ada@example.org', note: 'cc <email> please' },
    });
    expect(await one([{ module: example }], { email: 'nobody' })).toMatchObject({ status: 'quarantined', failures: [{ field: 'email', reason: 'is not an e-mail address' }] });
  });

  test('a module that does not exist is refused when the file is loaded', () => {
    const r = rulesStepSchema.safeParse({ rules: [{ module: join(dir, 'missing.ts') }] });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.message).toMatch(/expected a module file/);
  });
});
