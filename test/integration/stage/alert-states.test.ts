// Alert states and the audit log in both stores: a state moves only from the version it was read at
// (so of two processes moving it, one wins), the audit log lists what was appended, newest first, and
// run outcomes are counted over a window.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../../src/stage/open';
import type { AlertStateRow } from '../../../src/stage/store';
import { stagingBackends } from '../../helpers/services';

let dir: string;
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'sluice-alert-states-'))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe.each(stagingBackends(() => dir, 'alert-states'))('%s store', (_name, make) => {
  test('versioned alert states, the audit log, run outcomes', async () => {
    const staging = await make();
    const store = openStore(staging.url);
    try {
      await store.migrate();
      const first: AlertStateRow = { pipeline: 'p', alert: 'A', instance: '', state: 'pending', sinceMs: 1000, firedMs: null, notifiedMs: null, value: 0.5, version: 1 };
      const [one, two] = await Promise.all([store.saveAlertState(first), store.saveAlertState({ ...first, value: 0.6 })]);
      expect([one, two].filter(Boolean)).toHaveLength(1);
      const firing = { ...first, state: 'firing' as const, firedMs: 2000, notifiedMs: 2000, version: 2 };
      expect(await store.saveAlertState(firing)).toBe(true);
      expect(await store.saveAlertState({ ...firing, notifiedMs: 3000 })).toBe(false); // version 2 is taken
      expect(await store.alertStates('p')).toEqual([firing]);

      await store.appendAudit({ actor: 'sluice', action: 'alert.firing', pipeline: 'p', detail: { alert: 'A' } });
      await store.appendAudit({ actor: 'tok_1', action: 'checkpoint.reset', pipeline: 'p', tenant: 'acme' });
      const audit = await store.audit({ pipeline: 'p', limit: 10 });
      expect(audit.map((a) => [a.actor, a.action, a.tenant])).toEqual([
        ['tok_1', 'checkpoint.reset', 'acme'],
        ['sluice', 'alert.firing', null],
      ]);
      expect((await store.audit({ action: 'alert.', limit: 10 })).map((a) => a.detail)).toEqual([{ alert: 'A' }]);

      const before = new Date(Date.now() - 1000).toISOString();
      await store.startRun('p', 'r1');
      await store.finishRun('r1', { status: 'failed', error: 'x' });
      await store.startRun('p', 'r2');
      await store.finishRun('r2', { status: 'succeeded' });
      const outcomes = await store.runOutcomes('p', before);
      expect(outcomes).toMatchObject({ finished: 2, failed: 1 });
      expect(Date.parse(outcomes.lastSuccess!)).toBeGreaterThan(Date.parse(before));
      expect(await store.runOutcomes('p', new Date(Date.now() + 60_000).toISOString())).toMatchObject({ finished: 0, failed: 0 });
    } finally {
      await store.close();
      await staging.done();
    }
  });
});
