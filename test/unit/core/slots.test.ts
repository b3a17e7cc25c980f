// Run slots: never more holders than slots, waiters served in order, every waiter served in the end.
import fc from 'fast-check';
import { Slots } from '../../../src/core/slots';

test('property: at most `size` at once, in arrival order, all served', async () => {
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 1, max: 4 }), fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 20 }), async (size, holds) => {
      const slots = new Slots(size);
      let inside = 0;
      let most = 0;
      const started: number[] = [];
      await Promise.all(
        holds.map(async (ms, i) => {
          const release = await slots.acquire();
          started.push(i);
          most = Math.max(most, ++inside);
          await new Promise((r) => setTimeout(r, ms));
          inside--;
          release();
        }),
      );
      expect(most).toBeLessThanOrEqual(size);
      expect(started).toHaveLength(holds.length);
      // the first `size` start at once; after them, each waiter in the order it came
      expect(started.slice(size)).toEqual([...started.slice(size)].sort((a, b) => a - b));
      expect(slots.full).toBe(false);
    }),
    { numRuns: 30 },
  );
});
