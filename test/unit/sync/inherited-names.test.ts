// Fields named like members every JavaScript object inherits (`constructor`, `toString`, `valueOf`) are
// plain fields to sync: a record that lacks one lacks it (null), it does not hold Object's function. An
// HTTP side's records may omit a field; before, such a record read `Object` for `constructor`, which the
// merge took for a change and the write could not encode. `__proto__` cannot be a member of a plain
// object at all, so the pipeline file refuses it as a field name.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigErrors } from '../../../src/core/errors';
import type { JsonObject } from '../../../src/core/record';
import { loadPipeline } from '../../../src/run/pipeline';
import type { SyncConfig } from '../../../src/sync/config';
import { mappingOf, translate } from '../../../src/sync/mapping';
import { merge } from '../../../src/sync/merge';
import { changedFields, fieldOf, pick } from '../../../src/sync/values';

const INHERITED = ['constructor', 'toString', 'valueOf', 'hasOwnProperty'];

// side a's field names are the inherited ones; side b's are ordinary, and the other way round for `valueOf`
const mapping = mappingOf({
  fields: [
    { a: 'constructor', b: 'maker', direction: 'both' },
    { a: 'toString', b: 'label', direction: 'both' },
    { a: 'name', b: 'valueOf', direction: 'both' },
  ],
  fieldConflicts: {},
} as unknown as SyncConfig);

test('a record lacking a field with an inherited name reads null for it, and holding one reads its value', () => {
  for (const name of INHERITED) {
    expect(fieldOf({}, name)).toBeUndefined();
    expect(fieldOf({ [name]: 'x' }, name)).toBe('x');
    expect(fieldOf(JSON.parse(`{"${name}": null}`) as JsonObject, name)).toBeNull();
  }
  expect(pick({ name: 'Ann' }, ['name', ...INHERITED])).toEqual({ name: 'Ann', constructor: null, toString: null, valueOf: null, hasOwnProperty: null });
  expect(changedFields({ name: 'Ann' }, { name: 'Ann', constructor: null }, ['name', ...INHERITED])).toEqual([]);
  expect(changedFields({ name: 'Ann' }, { name: 'Ann', constructor: 'Acme' }, ['name', ...INHERITED])).toEqual(['constructor']);
});

test('a create from a record lacking such fields carries nulls, not functions', () => {
  expect(translate({ name: 'Ann' }, 'a', mapping, 'both')).toEqual({ ok: true, values: { maker: null, label: null, valueOf: 'Ann' } });
  expect(translate({ maker: 'Acme' }, 'b', mapping, 'both')).toEqual({ ok: true, values: { constructor: 'Acme', toString: null, name: null } });
});

test('a merge reads such fields as the records hold them: missing is null, a change only where the base held a value', () => {
  const rules = { policy: 'merge', direction: 'both' } as const;
  const base = { baseA: { constructor: null, toString: null, name: 'Ann' }, baseB: { maker: null, label: null, valueOf: 'Ann' } };
  const pair = (a: JsonObject, b: JsonObject) => ({ a: { key: '1', changedAt: null, data: a }, b: { key: '7', changedAt: null, data: b }, ...base });
  // side b's record lacks `valueOf` (its `name`): that is a change to null, carried to side a
  expect(merge(pair({ name: 'Ann' }, {}), mapping, rules)).toEqual({ writeA: { name: null }, writeB: {}, waiting: [], decided: {} });
  expect(merge(pair({ name: 'Ann' }, { valueOf: 'Ann' }), mapping, rules)).toEqual({ writeA: {}, writeB: {}, waiting: [], decided: {} });
  expect(merge(pair({ name: 'Ann', constructor: 'Acme' }, { valueOf: 'Ann' }), mapping, rules)).toEqual({ writeA: {}, writeB: { maker: 'Acme' }, waiting: [], decided: {} });
});

test('a resolution decides only the fields it names: one for another field leaves `constructor` waiting', () => {
  const pair = { a: { key: '1', changedAt: null, data: { constructor: 'A', toString: null, name: 'Ann A' } }, b: { key: '7', changedAt: null, data: { maker: 'B', label: null, valueOf: 'Ann B' } } };
  const base = { baseA: { constructor: 'X', toString: null, name: 'Ann' }, baseB: { maker: 'X', label: null, valueOf: 'Ann' } };
  const outcome = merge({ ...pair, ...base }, mapping, { policy: 'merge', direction: 'both', resolution: { name: { take: 'a' } } });
  expect(outcome.writeB).toEqual({ valueOf: 'Ann A' });
  expect(outcome.writeA).toEqual({});
  expect(outcome.waiting.map((c) => c.field)).toEqual(['constructor']);
});

test('no field takes a policy from fieldConflicts unless the file names it', () => {
  expect(mapping.fields.map((f) => f.policy)).toEqual([undefined, undefined, undefined]);
});

test('the pipeline file refuses __proto__ as a field name, naming where', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-inherited-'));
  try {
    const file = join(dir, 'sync.yaml');
    writeFileSync(
      file,
      `name: people-sync
sync:
  a: { name: crm, read: { driver: sqlite, url: a.db, table: people, key: id, cursor: updated_at }, write: { table: people } }
  b: { name: desk, read: { driver: sqlite, url: b.db, table: contacts, key: id, cursor: modified }, write: { table: contacts } }
  fields:
    - { a: name, b: display_name }
    - { a: __proto__, b: state }
`,
    );
    let problems: string[] = [];
    try {
      loadPipeline(file, {});
    } catch (err) {
      problems = err instanceof ConfigErrors ? err.problems.map((p) => p.message) : [String(err)];
    }
    expect(problems).toEqual([expect.stringMatching(/sync\.fields\[1\]\.a: a field cannot be named __proto__/)]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
