// One server's runs of a pipeline never overlap, and a run asked for while another is under way is
// neither lost nor doubled: it follows once, however many asks came meanwhile.
import fc from 'fast-check';
import { PipelineRuns } from '../../../src/run/pipeline-runs';

/** A run whose end the test decides. */
function controlled(log: string[], name: string) {
  const ends: (() => void)[] = [];
  const work = () =>
    new Promise<void>((resolve) => {
      log.push(`start ${name}`);
      ends.push(() => {
        log.push(`end ${name}`);
        resolve();
      });
    });
  return { work, endOldest: () => ends.shift()?.(), running: () => ends.length };
}

const settle = () => new Promise((r) => setImmediate(r));

test('property: for any asks and ends over two pipelines, runs never overlap, every ask is followed by a run, and no run is extra', async () => {
  const op = fc.record({ pipeline: fc.constantFrom('p', 'q'), kind: fc.constantFrom('ask', 'end') });
  await fc.assert(
    fc.asyncProperty(fc.array(op, { maxLength: 30 }), async (ops) => {
      const runs = new PipelineRuns();
      const log: string[] = [];
      const work = { p: controlled(log, 'p'), q: controlled(log, 'q') };
      const asks = { p: [] as number[], q: [] as number[] }; // where in the log each ask came
      for (const o of ops) {
        if (o.kind === 'ask') {
          asks[o.pipeline].push(log.length);
          runs.soon(o.pipeline, work[o.pipeline].work);
        } else work[o.pipeline].endOldest();
        await settle();
        for (const name of ['p', 'q'] as const) expect(work[name].running()).toBeLessThanOrEqual(1);
      }
      while (work.p.running() + work.q.running() > 0) {
        work.p.endOldest();
        work.q.endOldest();
        await settle();
      }
      for (const name of ['p', 'q'] as const) {
        const starts = log.flatMap((l, i) => (l === `start ${name}` ? [i] : []));
        for (const at of asks[name]) expect(starts.some((s) => s >= at)).toBe(true);
        expect(starts.length).toBeLessThanOrEqual(asks[name].length);
        expect(runs.busy(name)).toBe(false);
      }
      await runs.stop();
    }),
  );
});

test('asks while a run is under way make one more run, after it', async () => {
  const runs = new PipelineRuns();
  const log: string[] = [];
  const w = controlled(log, 'p');
  runs.soon('p', w.work);
  runs.soon('p', w.work);
  runs.soon('p', w.work);
  await settle();
  expect(log).toEqual(['start p']);
  w.endOldest();
  await settle();
  expect(log).toEqual(['start p', 'end p', 'start p']);
  w.endOldest();
  await settle();
  expect(log).toEqual(['start p', 'end p', 'start p', 'end p']);
  expect(runs.busy('p')).toBe(false);
});

test('an ask during a run started otherwise (a schedule, the API) follows that run', async () => {
  const runs = new PipelineRuns();
  const log: string[] = [];
  const scheduled = controlled(log, 'scheduled');
  const asked = controlled(log, 'asked');
  const tick = runs.start('p', scheduled.work);
  runs.soon('p', asked.work);
  await settle();
  scheduled.endOldest();
  await tick;
  await settle();
  expect(log).toEqual(['start scheduled', 'end scheduled', 'start asked']);
  asked.endOldest();
  await runs.stop();
});

test('a run started after another waits for it, and the first one ending does not make the pipeline look idle', async () => {
  const runs = new PipelineRuns();
  const log: string[] = [];
  const first = controlled(log, 'first');
  const second = controlled(log, 'second');
  runs.start('p', first.work);
  const done = runs.start('p', async (before) => {
    await before;
    await second.work();
  });
  await settle();
  first.endOldest();
  await settle();
  expect(log).toEqual(['start first', 'end first', 'start second']);
  expect(runs.busy('p')).toBe(true);
  second.endOldest();
  await done;
  expect(runs.busy('p')).toBe(false);
});

test('stop waits for the runs under way and starts none of those asked for', async () => {
  const runs = new PipelineRuns();
  const log: string[] = [];
  const w = controlled(log, 'p');
  runs.soon('p', w.work);
  runs.soon('p', w.work);
  await settle();
  let stopped = false;
  const stopping = runs.stop().then(() => (stopped = true));
  await settle();
  expect(stopped).toBe(false);
  w.endOldest();
  await stopping;
  runs.soon('p', w.work);
  await settle();
  expect(log).toEqual(['start p', 'end p']);
});
