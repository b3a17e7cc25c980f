// Group commit (core/group-commit), model-based: any interleaving of submissions and of writes that end
// (well or badly), under any bounds. Each accepted item gets its own result, from the one write that
// took it; a failed write fails exactly its own items; items are written in the order they came, each
// once; no group is larger than maxItems and no more than `concurrency` writes run at once; and a
// submission is refused at once (Overloaded) exactly when maxPending items are already waiting or being
// written — nothing is queued past the bound, nothing accepted is dropped.
import fc from 'fast-check';
import { GroupCommit, Overloaded, type GroupCommitOptions } from '../../../src/core/group-commit';

type Step = { submit: number } | { end: boolean; which: number } | { drain: true } | { wait: true };

interface Write {
  items: number[];
  open: boolean;
  end(ok: boolean): void;
}

const options = fc.record({
  maxWaitMs: fc.constant(5),
  maxItems: fc.integer({ min: 1, max: 6 }),
  maxPending: fc.integer({ min: 1, max: 12 }),
  concurrency: fc.integer({ min: 1, max: 3 }),
});

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.integer({ min: 1, max: 5 }).map((submit) => ({ submit })),
  fc.record({ end: fc.boolean(), which: fc.nat() }),
  fc.constant({ drain: true as const }),
  fc.constant({ wait: true as const }),
);

beforeEach(() => jest.useFakeTimers());
afterEach(() => jest.useRealTimers());

test('property: results, order, bounds and refusals under any interleaving', async () => {
  await fc.assert(
    fc.asyncProperty(options, fc.array(step, { maxLength: 40 }), async (o: GroupCommitOptions, steps) => {
      const writes: Write[] = [];
      let running = 0;
      let mostRunning = 0;
      const commits = new GroupCommit<number, string>(
        (items) =>
          new Promise<string[]>((resolve, reject) => {
            running++;
            mostRunning = Math.max(mostRunning, running);
            writes.push({
              items,
              open: true,
              end(ok) {
                this.open = false;
                running--;
                if (ok) resolve(items.map((i) => `r${i}`));
                else reject(new Error(`write of ${items.join(',')} failed`));
              },
            });
          }),
        o,
      );
      const outcomes = new Map<number, { ok: true; value: string } | { ok: false; error: unknown }>();
      const accepted: number[] = [];
      let next = 0;
      const settle = () => jest.advanceTimersByTimeAsync(o.maxWaitMs);
      const open = () => writes.filter((w) => w.open);
      const drains: Promise<boolean>[] = [];

      for (const s of steps) {
        if ('submit' in s) {
          for (let k = 0; k < s.submit; k++) {
            const item = next++;
            const pendingBefore = commits.pending;
            commits.submit(item).then(
              (value) => outcomes.set(item, { ok: true, value }),
              (error: unknown) => outcomes.set(item, { ok: false, error }),
            );
            if (pendingBefore >= o.maxPending) {
              await settle();
              expect(outcomes.get(item)).toEqual({ ok: false, error: expect.any(Overloaded) });
            } else accepted.push(item);
          }
        } else if ('end' in s && open().length > 0) {
          // any write still under way may end first
          open()[s.which % open().length]!.end(s.end);
        } else if ('drain' in s) {
          // as a server does when it stops: every accepted item written (or failed), bounds kept
          drains.push(commits.drain().then(() => true));
        }
        await settle();
      }
      // then every write ends well, until nothing is waiting
      for (let guard = 0; commits.pending > 0 || open().length > 0; guard++) {
        expect(guard).toBeLessThan(1000);
        open()[0]?.end(true);
        await settle();
      }

      // each accepted item was written exactly once, in the order they came, in groups within bounds
      const written = writes.flatMap((w) => w.items);
      expect(written).toEqual(accepted);
      for (const w of writes) expect(w.items.length).toBeLessThanOrEqual(o.maxItems);
      expect(mostRunning).toBeLessThanOrEqual(o.concurrency);
      // ...and answered from its own write: its result, or that write's failure
      const failedBy = new Map<number, number>();
      writes.forEach((w, n) => w.items.forEach((i) => failedBy.set(i, n)));
      for (const item of accepted) {
        const outcome = outcomes.get(item);
        expect(outcome).toBeDefined();
        if (outcome!.ok) expect(outcome!.value).toBe(`r${item}`);
        else expect(String(outcome!.error)).toContain(`write of ${writes[failedBy.get(item)!]!.items.join(',')} failed`);
      }
      expect(commits.pending).toBe(0);
      await expect(Promise.all(drains)).resolves.toEqual(drains.map(() => true));
    }),
    { numRuns: 300 },
  );
});

test('a lone item is written after maxWaitMs, not before, and drain waits for the write', async () => {
  const groups: number[][] = [];
  const commits = new GroupCommit<number, number>(
    async (items) => {
      groups.push(items);
      return items;
    },
    { maxWaitMs: 10, maxItems: 100, maxPending: 100, concurrency: 1 },
  );
  const answer = commits.submit(7);
  await jest.advanceTimersByTimeAsync(9);
  expect(groups).toEqual([]);
  await jest.advanceTimersByTimeAsync(1);
  expect(groups).toEqual([[7]]);
  await expect(answer).resolves.toBe(7);
  await commits.drain();
  expect(commits.pending).toBe(0);
});
