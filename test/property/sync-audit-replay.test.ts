// Issue #8: "the state of a record can be rebuilt by replaying its events". For random creates, edits and
// deletes on both sides (two SQLite tables, see helpers/sync-sqlite) with sync runs between them, after
// every run each linked pair's history, replayed (`recordHistory`, as `sluice audit FILE --key K` shows
// it), gives exactly what each side holds — also when the history shown is cut to its latest two events,
// as a record edited often (more than `--limit`) would be.
import { rmSync } from 'node:fs';
import fc from 'fast-check';
import type { JsonObject } from '../../src/core/record';
import { runSync } from '../../src/run/sync';
import { recordHistory } from '../../src/run/sync-admin';
import { contacts, people, sqliteSync, type SqliteSync } from '../helpers/sync-sqlite';

type Side = 'a' | 'b';
type Op =
  | { insert: Side; name: string | null; status: 'active' | 'churned' | null; score: number | null }
  | { edit: Side; row: number; field: 'name' | 'status' | 'score'; value: string | number | null }
  | { remove: Side; row: number }
  | { sync: true };

const name = fc.constantFrom('Ann', 'Bob', 'Zoë', '李雷', null);
const status = fc.constantFrom<'active' | 'churned' | null>('active', 'churned', null);
const score = fc.oneof(fc.integer({ min: 0, max: 99 }), fc.constant(null));
const side = fc.constantFrom<Side>('a', 'b');
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ insert: side, name, status, score }),
  fc.oneof(
    fc.record({ edit: side, row: fc.nat(), field: fc.constant('name' as const), value: name }),
    fc.record({ edit: side, row: fc.nat(), field: fc.constant('status' as const), value: status }),
    fc.record({ edit: side, row: fc.nat(), field: fc.constant('score' as const), value: score }),
  ),
  fc.record({ remove: side, row: fc.nat() }),
  fc.constant({ sync: true as const }),
);

const STATE_TO_B: Record<string, string> = { active: 'A', churned: 'C' };

function apply(s: SqliteSync, o: Exclude<Op, { sync: true }>): void {
  if ('insert' in o) {
    if (o.insert === 'a') s.a.prepare('INSERT INTO people (name, status, score, updated_at) VALUES (?, ?, ?, ?)').run(o.name, o.status, o.score, s.tick());
    else s.b.prepare('INSERT INTO contacts (display_name, state, score_text, modified) VALUES (?, ?, ?, ?)').run(o.name, o.status && STATE_TO_B[o.status]!, o.score === null ? null : String(o.score), s.tick());
    return;
  }
  const ids = 'edit' in o ? (o.edit === 'a' ? people(s).map((p) => p.id) : contacts(s).map((c) => c.contact_id)) : o.remove === 'a' ? people(s).map((p) => p.id) : contacts(s).map((c) => c.contact_id);
  if (ids.length === 0) return;
  const id = ids[o.row % ids.length]!;
  if ('remove' in o) {
    if (o.remove === 'a') s.a.prepare('DELETE FROM people WHERE id = ?').run(id);
    else s.b.prepare('DELETE FROM contacts WHERE contact_id = ?').run(id);
    return;
  }
  if (o.edit === 'a') s.a.prepare(`UPDATE people SET ${o.field} = ?, updated_at = ? WHERE id = ?`).run(o.value, s.tick(), id);
  else {
    const column = { name: 'display_name', status: 'state', score: 'score_text' }[o.field];
    const value = o.value === null ? null : o.field === 'status' ? STATE_TO_B[o.value as string]! : String(o.value);
    s.b.prepare(`UPDATE contacts SET ${column} = ?, modified = ? WHERE contact_id = ?`).run(value, s.tick(), id);
  }
}

/** Each linked pair's replayed history against both rows, whole and cut to its latest two events. */
async function checkReplay(s: SqliteSync): Promise<void> {
  const byContact = new Map(contacts(s).map((c) => [String(c.contact_id), c]));
  for (const p of people(s)) {
    const history = (limit: number) => recordHistory(s.pipeline, { key: `crm:${p.id}`, limit }, { stagingUrl: s.staging });
    const whole = await history(1000);
    const bKey = [...whole.events].reverse().find((e) => e.bKey !== null)?.bKey ?? undefined;
    const c = bKey === undefined ? undefined : byContact.get(bKey);
    if (!c) continue; // not linked (yet), or its contact was deleted
    const holds: { a: JsonObject; b: JsonObject } = {
      a: { name: p.name, status: p.status, score: p.score },
      b: { display_name: c.display_name, state: c.state, score_text: c.score_text },
    };
    expect({ key: p.id, state: whole.state }).toEqual({ key: p.id, state: holds });
    const cut = await history(2);
    expect(cut.events).toEqual(whole.events.slice(-2));
    expect({ key: p.id, state: cut.state }).toEqual({ key: p.id, state: holds });
  }
}

test("property: after every run, replaying a linked record's events gives what each side holds", async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 14 }), async (ops) => {
      const s = sqliteSync();
      try {
        for (const o of [...ops, { sync: true as const }]) {
          if (!('sync' in o)) {
            apply(s, o);
            continue;
          }
          await runSync(s.pipeline, { stagingUrl: s.staging });
          await checkReplay(s);
        }
      } finally {
        s.close();
        rmSync(s.dir, { recursive: true, force: true });
      }
    }),
    { numRuns: Number(process.env.SYNC_REPLAY_RUNS ?? 15) },
  );
});
