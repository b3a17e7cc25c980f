// The refine chain: a step that throws or answers with the wrong shape fails only the records it was
// given, keeping them as they were; the first step that does not refine a record decides its outcome;
// provenance lists the steps a record went through.
import fc from 'fast-check';
import { RefineChain, type ChainInput } from '../../../src/refine/chain';
import type { RefineOutcome, RefineRecord, RefineStep } from '../../../src/refine/step';

const input = (key: string, data: unknown): ChainInput => ({ source: 's', tenant: 't', key, seq: Number(key) || 1, json: JSON.stringify(data) });
const step = (name: string, refine: (r: readonly RefineRecord[]) => Promise<unknown>): RefineStep => ({
  name,
  version: '1',
  refine: refine as (r: readonly RefineRecord[]) => Promise<RefineOutcome[]>,
});
const double = step('double', async (rs) => rs.map((r) => ({ status: 'refined', data: { ...r.data, n: Number(r.data.n) * 2 } })));

test('steps run in order and each outcome records the steps it went through', async () => {
  const [out] = await new RefineChain([double, double]).refine([input('1', { n: 3 })]);
  expect(out).toMatchObject({ key: '1', status: 'refined', refined: '{"n":12}' });
  expect(JSON.parse(out!.detail).provenance.map((p: { step: string }) => p.step)).toEqual(['double', 'double']);
});

test('a step that throws, or answers the wrong shape, fails its records with the reason; later steps do not see them', async () => {
  const throws = step('boom', async () => {
    throw new Error('model unavailable');
  });
  const wrong = step('wrong', async () => [{ status: 'refined', data: 'not an object' }]);
  const seen: string[] = [];
  const after = step('after', async (rs) => {
    seen.push(...rs.map((r) => r.key));
    return rs.map((r) => ({ status: 'refined', data: r.data }));
  });
  const [a] = await new RefineChain([throws, after]).refine([input('1', { n: 1 })]);
  expect(a).toMatchObject({ status: 'failed', refined: null });
  expect(JSON.parse(a!.detail)).toMatchObject({ error: 'step boom failed: model unavailable', step: 'boom' });
  const [b] = await new RefineChain([wrong, after]).refine([input('2', { n: 1 })]);
  expect(JSON.parse(b!.detail).error).toMatch(/^step wrong answered 1 answers, not all outcomes, for 1 records/);
  expect(seen).toEqual([]);
});

test('property: whatever steps fail, every record gets exactly one outcome and its input is never changed', async () => {
  const behaviours = fc.constantFrom('refine', 'throw', 'short', 'garbage', 'quarantine', 'filter', 'mutate-then-throw');
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.dictionary(fc.string({ maxLength: 4 }), fc.jsonValue({ maxDepth: 2 })), { minLength: 1, maxLength: 8 }),
      fc.array(behaviours, { minLength: 1, maxLength: 4 }),
      async (records, plan) => {
        const inputs = records.map((r, i) => input(String(i + 1), r));
        const before = structuredClone(inputs);
        const steps = plan.map((b, i) =>
          step(`s${i}`, async (rs) => {
            if (b === 'throw') throw new Error('no');
            if (b === 'short') return rs.slice(1).map((r) => ({ status: 'refined', data: r.data }));
            if (b === 'garbage') return 42;
            if (b === 'quarantine') return rs.map(() => ({ status: 'quarantined', failures: [{ rule: 'x', reason: 'y' }] }));
            if (b === 'filter') return rs.map(() => ({ status: 'filtered', reason: 'z' }));
            if (b === 'mutate-then-throw') {
              for (const r of rs) (r.data as Record<string, unknown>).tampered = true;
              throw new Error('after tampering');
            }
            return rs.map((r) => ({ status: 'refined', data: { ...r.data, [`by_s${i}`]: true } }));
          }),
        );
        const out = await new RefineChain(steps).refine(inputs);
        expect(out.map((o) => o.key)).toEqual(inputs.map((i) => i.key));
        expect(inputs).toEqual(before); // the staged JSON text the chain was given is untouched
        for (const o of out) {
          expect(['refined', 'filtered', 'quarantined', 'failed']).toContain(o.status);
          expect(o.refined === null).toBe(o.status !== 'refined');
        }
      },
    ),
    { numRuns: 200 },
  );
});

test('property: integers past 2^53 in a record come out of a step with every digit, as numbers', async () => {
  const big = fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n }).filter((b) => String(Number(b)) !== b.toString());
  const pass = step('pass', async (rs) => rs.map((r) => ({ status: 'refined', data: { ...r.data, seen: true } })));
  await fc.assert(
    fc.asyncProperty(big, fc.array(big, { maxLength: 3 }), async (id, refs) => {
      const json = `{"id": ${id}, "nested": {"refs": [${refs.join(', ')}]}}`;
      const [out] = await new RefineChain([pass]).refine([{ source: 's', tenant: 't', key: '1', seq: 1, json }]);
      expect(out!.refined).toBe(`{"id":${id},"nested":{"refs":[${refs.join(',')}]},"seen":true}`);
    }),
  );
});
