// Two-way sync between two SQLite tables: creates, field edits on both sides, conflicts under merge,
// deletes, echo suppression (a second run writes nothing), check, the API, custom policies, stale resolutions.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createApiToken } from '../../../src/run/api-tokens';
import { loadPipeline } from '../../../src/run/pipeline';
import { Service } from '../../../src/run/serve';
import { runSync } from '../../../src/run/sync';
import { listConflicts, recordHistory, resolveConflict } from '../../../src/run/sync-admin';
import { buildServer } from '../../../src/server/app';
import { openStore } from '../../../src/stage/open';
import { REPO, sluice } from '../../helpers/cli-sluice';
import { contacts, people, sqliteSync, type SqliteSync } from '../../helpers/sync-sqlite';
import { FakeOpenAI } from '../../servers/openai';

let s: SqliteSync;
beforeEach(() => {
  s = sqliteSync();
});
afterEach(() => s.close());

const sync = () => runSync(s.pipeline, { stagingUrl: s.staging });

test('creates travel both ways, edits merge field by field, and a second run writes nothing', async () => {
  s.a.prepare('INSERT INTO people (name, status, score, updated_at) VALUES (?, ?, ?, ?)').run('Zoë Müller', 'active', 7, s.tick());
  s.b.prepare('INSERT INTO contacts (display_name, state, score_text, modified) VALUES (?, ?, ?, ?)').run('李雷', 'C', '12', s.tick());
  const first = await sync();
  expect(first.sides.b.created).toBe(1);
  expect(first.sides.a.created).toBe(1);
  expect(people(s).map((p) => [p.name, p.status, p.score])).toEqual([['Zoë Müller', 'active', 7], ['李雷', 'churned', 12]]);
  expect(contacts(s).map((c) => [c.display_name, c.state, c.score_text])).toEqual([['李雷', 'C', '12'], ['Zoë Müller', 'A', '7']]);

  const again = await sync();
  expect(again.sides.a).toMatchObject({ created: 0, updated: 0, deleted: 0 });
  expect(again.sides.b).toMatchObject({ created: 0, updated: 0, deleted: 0 });

  // disjoint edits to one record on both sides are both kept
  s.a.prepare('UPDATE people SET name = ?, updated_at = ? WHERE name = ?').run('Zoë M.', s.tick(), 'Zoë Müller');
  s.b.prepare('UPDATE contacts SET score_text = ?, modified = ? WHERE display_name = ?').run('8', s.tick(), 'Zoë Müller');
  await sync();
  expect(people(s).find((p) => p.name === 'Zoë M.')).toMatchObject({ score: 8 });
  expect(contacts(s).find((c) => c.score_text === '8')).toMatchObject({ display_name: 'Zoë M.' });
  const quiet = await sync();
  expect(quiet.sides.a.updated + quiet.sides.b.updated).toBe(0);
});

test('a side without a cursor: each run compares its records with their bases, so edits that move nothing still travel', async () => {
  const file = join(s.dir, 'no-cursor.yaml');
  writeFileSync(file, readFileSync(s.file, 'utf8').replace('key: contact_id, cursor: modified,', 'key: contact_id,'));
  expect(readFileSync(file, 'utf8')).not.toContain('cursor: modified');
  const run = () => runSync(loadPipeline(file), { stagingUrl: s.staging });
  s.a.prepare('INSERT INTO people (name, status, score, updated_at) VALUES (?, ?, ?, ?)').run('Ann', 'active', 1, s.tick());
  s.b.prepare('INSERT INTO contacts (display_name, state, score_text, modified) VALUES (?, ?, ?, ?)').run('Bob', 'C', '2', s.tick());
  await run();
  expect(people(s).map((p) => p.name)).toEqual(['Ann', 'Bob']);

  // an application that keeps no change time: nothing but the value moves
  s.b.prepare('UPDATE contacts SET score_text = ? WHERE display_name = ?').run('5', 'Ann');
  const edited = await run();
  expect(edited.sides.a).toMatchObject({ updated: 1, failed: 0 });
  expect(people(s).find((p) => p.name === 'Ann')).toMatchObject({ score: 5 });
  const quiet = await run();
  expect(quiet.sides.a.updated + quiet.sides.b.updated + quiet.sides.a.created + quiet.sides.b.created).toBe(0);
});

test('a field changed on both sides to different values waits in the queue under merge; other fields go on', async () => {
  s.a.prepare('INSERT INTO people (name, status, score, updated_at) VALUES (?, ?, ?, ?)').run('Ann', 'active', 1, s.tick());
  await sync();
  s.a.prepare('UPDATE people SET name = ?, score = ?, updated_at = ?').run('Ann A', 5, s.tick());
  s.b.prepare('UPDATE contacts SET display_name = ?, modified = ?').run('Ann B', s.tick());
  const r = await sync();
  expect(r.queued).toBe(1);
  expect(people(s)[0]).toMatchObject({ name: 'Ann A', score: 5 });
  expect(contacts(s)[0]).toMatchObject({ display_name: 'Ann B', score_text: '5' });
  expect((await sync()).queued).toBe(1);
});

test("sluice status shows the links, the queue and each recent run's counts per side", async () => {
  s.a.prepare('INSERT INTO people (name, status, score, updated_at) VALUES (?, ?, ?, ?)').run('Ann', 'active', 1, s.tick());
  s.a.prepare('INSERT INTO people (name, status, score, updated_at) VALUES (?, ?, ?, ?)').run('Bo', 'active', 2, s.tick());
  await sync();
  s.a.prepare('UPDATE people SET name = ?, updated_at = ? WHERE name = ?').run('Ann A', s.tick(), 'Ann');
  s.b.prepare('UPDATE contacts SET display_name = ?, modified = ? WHERE display_name = ?').run('Ann B', s.tick(), 'Ann');
  s.b.prepare('UPDATE contacts SET score_text = ?, modified = ? WHERE display_name = ?').run('9', s.tick(), 'Bo');
  await sync();

  const json = await sluice(['status', s.file, '--staging', s.staging, '--json'], { cwd: s.dir });
  expect(json.code).toBe(0);
  const status = JSON.parse(json.stdout) as { sync: { links: number; queued: number; sides: { side: string; name: string }[]; runs: { stats: Record<'a' | 'b', Record<string, number>> }[] } };
  expect(status.sync).toMatchObject({ links: 2, queued: 1, sides: [{ side: 'a', name: 'crm' }, { side: 'b', name: 'desk' }] });
  // newest first: the run with the conflict and Bo's score, then the one that created both contacts
  expect(status.sync.runs.map((r) => [r.stats.a, r.stats.b])).toEqual([
    [expect.objectContaining({ updated: 1, conflicts: 1, queued: 1, failed: 0 }), expect.objectContaining({ created: 0, updated: 0, failed: 0 })],
    [expect.objectContaining({ created: 0, updated: 0 }), expect.objectContaining({ created: 2, failed: 0 })],
  ]);
  const text = await sluice(['status', s.file, '--staging', s.staging], { cwd: s.dir });
  expect(text.stdout).toMatch(/created\s+updated\s+deleted\s+conflicts\s+queued\s+skipped\s+failed/);
});

test('the conflicts CLI: list and show the waiting record, resolve it with --set, and the next run applies it', async () => {
  s.a.prepare('INSERT INTO people (name, status, score, updated_at) VALUES (?, ?, ?, ?)').run('Ann', 'active', 1, s.tick());
  await sync();
  s.a.prepare('UPDATE people SET name = ?, updated_at = ?').run('Ann A', s.tick());
  s.b.prepare('UPDATE contacts SET display_name = ?, modified = ?').run('Ann B', s.tick());
  expect((await sync()).queued).toBe(1);
  const cli = (...args: string[]) => sluice([...args, '--staging', s.staging], { cwd: s.dir });

  const list = await cli('conflicts', 'list', s.file, '--json');
  expect(list.code).toBe(0);
  const [entry] = JSON.parse(list.stdout) as { id: number; status: string; reason: string; fields: string[] }[];
  expect(entry).toMatchObject({ status: 'open', reason: 'conflict', fields: ['name'] });
  const shown = await cli('conflicts', 'show', s.file, String(entry!.id));
  expect(shown.stdout).toMatch(/name\s+"Ann"\s+"Ann A"\s+display_name: "Ann B"/);

  // refusals: exit code 2 with the reason, and the entry stays open
  for (const [args, reason] of [
    [['--take', 'c'], /--take must be a, b or base, not c/],
    [['--set', 'no-equals-sign'], /--set takes field=value, not no-equals-sign/],
    [['--set', 'score=3'], /score/],
  ] as const) {
    const refused = await cli('conflicts', 'resolve', s.file, String(entry!.id), ...args);
    expect({ code: refused.code, stderr: refused.stderr }).toEqual({ code: 2, stderr: expect.stringMatching(reason) });
  }
  expect((await cli('conflicts', 'resolve', s.file, 'x')).code).toBe(2);

  const resolved = await cli('conflicts', 'resolve', s.file, String(entry!.id), '--set', 'name=Ann agreed');
  expect(resolved.code).toBe(0);
  const again = await cli('conflicts', 'resolve', s.file, String(entry!.id), '--take', 'a');
  expect({ code: again.code, stderr: again.stderr }).toEqual({ code: 2, stderr: expect.stringMatching(/is not open/) });

  await sync();
  expect(people(s)[0]).toMatchObject({ name: 'Ann agreed' });
  expect(contacts(s)[0]).toMatchObject({ display_name: 'Ann agreed' });
  expect(JSON.parse((await cli('conflicts', 'list', s.file, '--json')).stdout)).toEqual([]);
});

test('a delete on one side deletes the linked record on the other', async () => {
  s.a.prepare('INSERT INTO people (name, status, score, updated_at) VALUES (?, ?, ?, ?)').run('Gone', 'active', 1, s.tick());
  s.a.prepare('INSERT INTO people (name, status, score, updated_at) VALUES (?, ?, ?, ?)').run('Stays', 'active', 2, s.tick());
  await sync();
  s.b.prepare('DELETE FROM contacts WHERE display_name = ?').run('Gone');
  const r = await sync();
  expect(r.sides.a.deleted).toBe(1);
  expect(people(s).map((p) => p.name)).toEqual(['Stays']);
  expect(r.links).toBe(1);
});

describe.each([
  ['archive', '  archive: { a: { status: churned }, b: { state: C } }\n'],
  ['ignore', ''],
])('deletes: %s', (deletes, extra) => {
  let t: SqliteSync;
  beforeEach(() => {
    t = sqliteSync({ deletes, extra, name: `deletes-${deletes}` });
  });
  afterEach(() => t.close());
  const run = () => runSync(t.pipeline, { stagingUrl: t.staging });

  test('a record deleted on one side is kept on the other (archived by the policy\'s values, or left as it was), once', async () => {
    t.a.prepare('INSERT INTO people (name, status, score, updated_at) VALUES (?, ?, ?, ?)').run('Gone', 'active', 1, t.tick());
    t.a.prepare('INSERT INTO people (name, status, score, updated_at) VALUES (?, ?, ?, ?)').run('Stays', 'active', 2, t.tick());
    await run();
    t.b.prepare('DELETE FROM contacts WHERE display_name = ?').run('Gone');
    const r = await run();
    expect(r.sides.a).toMatchObject({ deleted: 0, updated: deletes === 'archive' ? 1 : 0, failed: 0 });
    expect(people(t).map((p) => [p.name, p.status])).toEqual([
      ['Gone', deletes === 'archive' ? 'churned' : 'active'],
      ['Stays', 'active'],
    ]);
    expect(contacts(t).map((c) => c.display_name)).toEqual(['Stays']);
    const history = await recordHistory(t.pipeline, { key: `crm:${people(t)[0]!.id}`, limit: 20 }, { stagingUrl: t.staging });
    if (deletes === 'archive') expect(history.events).toContainEqual(expect.objectContaining({ side: 'a', action: 'archive', changes: { status: ['active', 'churned'] }, decidedBy: 'deletes: archive' }));
    else expect(history.events.map((e) => e.action)).not.toContain('delete');
    // and nothing more happens: the record is not made again on the side it was deleted from
    const again = await run();
    expect([again.sides.a, again.sides.b].map((x) => x.created + x.updated + x.deleted)).toEqual([0, 0]);
    expect(contacts(t).map((c) => c.display_name)).toEqual(['Stays']);
  });
});

test('check finds drift a cursor cannot see (exit code 4), and --repair mends it', async () => {
  s.a.prepare('INSERT INTO people (name, status, score, updated_at) VALUES (?, ?, ?, ?)').run('Seen', 'active', 1, s.tick());
  await sync();
  // edits behind the cursors' backs: an old cursor value, as a bulk fix-up script might leave
  s.b.prepare(`UPDATE contacts SET score_text = '99'`).run();
  s.a.prepare('INSERT INTO people (name, status, score, updated_at) VALUES (?, ?, ?, ?)').run('Hidden', 'active', 2, '2000-01-01T00:00:00Z');
  expect((await sync()).sides.a.updated + (await sync()).sides.b.created).toBe(0);

  const found = await sluice(['check', s.file, '--staging', s.staging, '--json'], { cwd: s.dir });
  expect(found.code).toBe(4);
  const report = (JSON.parse(found.stdout) as { drift: { differing: number; unlinked: { a: number; b: number }; examples: unknown[] } }).drift;
  expect(report).toMatchObject({ differing: 1, unlinked: { a: 1, b: 0 } });
  expect(report.examples).toContainEqual(expect.objectContaining({ fields: { score: [1, '99'] } }));

  const repaired = await runSync(s.pipeline, { stagingUrl: s.staging, check: 'repair' });
  expect(repaired.sides.a.updated + repaired.sides.b.created).toBe(2);
  expect(people(s).map((p) => [p.name, p.score])).toEqual([['Seen', 99], ['Hidden', 2]]);
  expect(contacts(s).map((c) => c.display_name)).toEqual(['Seen', 'Hidden']);
  expect((await sluice(['check', s.file, '--staging', s.staging], { cwd: s.dir })).code).toBe(0);
});

test('the conflict queue over the REST API: list, show, resolve (admin only); a stale or unsettling resolution is a 409', async () => {
  s.a.prepare('INSERT INTO people (name, status, score, updated_at) VALUES (?, ?, ?, ?)').run('Api', 'active', 1, s.tick());
  await sync();
  s.a.prepare('UPDATE people SET name = ?, updated_at = ?').run('Api A', s.tick());
  s.b.prepare('UPDATE contacts SET display_name = ?, modified = ?').run('Api B', s.tick());
  await sync();
  const store = openStore(s.staging);
  const admin = (await createApiToken(store, { name: 'ops', tenant: null, actor: 'test' })).token;
  const tenant = (await createApiToken(store, { name: 't', tenant: 'acme', actor: 'test' })).token;
  await store.close();
  const service = await Service.open([s.pipeline], { stagingUrl: s.staging, alertIntervalMs: 0 });
  const app = buildServer(service);
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  const call = async (method: string, path: string, token: string, body?: unknown) => {
    const res = await fetch(`${base}/api/v1/pipelines/people-sync${path}`, { method, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  try {
    expect((await call('GET', '/conflicts', tenant)).status).toBe(403);
    const list = await call('GET', '/conflicts', admin);
    const [entry] = list.body.conflicts as { id: number; fields: string[] }[];
    expect(entry!.fields).toEqual(['name']);
    expect((await call('GET', `/conflicts/${entry!.id}`, admin)).body).toMatchObject({ values: { a: { name: 'Api A' }, b: { display_name: 'Api B' } } });
    expect((await call('POST', `/conflicts/${entry!.id}/resolve`, admin, { set: { score: 3 } })).status).toBe(409); // score is not in conflict
    expect((await call('POST', `/conflicts/${entry!.id}/resolve`, admin, { set: { name: 'Api agreed' } })).status).toBe(200);
    expect((await call('POST', `/conflicts/${entry!.id}/resolve`, admin, { take: 'a' })).status).toBe(409); // already settled
    expect((await call('GET', '/conflicts/999', admin)).status).toBe(404);
  } finally {
    await app.close();
    await service.close();
  }
  await sync();
  expect([people(s)[0]!.name, contacts(s)[0]!.display_name]).toEqual(['Api agreed', 'Api agreed']);
});

describe('conflicts: custom', () => {
  const withModule = (body: string) => {
    s.close();
    s = sqliteSync({ conflicts: 'custom', customModule: body });
  };
  const conflictOnName = async () => {
    s.a.prepare('INSERT INTO people (name, status, score, updated_at) VALUES (?, ?, ?, ?)').run('Ann', 'active', 1, s.tick());
    await sync();
    s.a.prepare(`UPDATE people SET name = ?, score = ?, updated_at = ? WHERE name = 'Ann'`).run('Ann from a', 2, s.tick());
    s.b.prepare(`UPDATE contacts SET display_name = ?, modified = ? WHERE display_name = 'Ann'`).run('Ann from b, longer', s.tick());
    return sync();
  };

  test('the module decides the conflicting fields; the rest of the record merges as usual', async () => {
    withModule(`import type { CustomConflict } from '${join(REPO, 'src', 'sync', 'custom')}';
export function resolve(c: CustomConflict) {
  // the longer name wins
  return Object.fromEntries(c.fields.map((f) => [f.field, { take: String(f.a).length >= String(f.b).length ? 'a' : 'b' }]));
}`);
    const r = await conflictOnName();
    expect(r.queued).toBe(0);
    expect(people(s)).toEqual([expect.objectContaining({ name: 'Ann from b, longer', score: 2 })]);
    expect(contacts(s)).toEqual([expect.objectContaining({ display_name: 'Ann from b, longer', score_text: '2' })]);
  });

  test('a module that throws queues the record with the reason, and the run goes on', async () => {
    withModule(`export function resolve() { throw new Error('the priority service is down'); }`);
    s.a.prepare('INSERT INTO people (name, status, score, updated_at) VALUES (?, ?, ?, ?)').run('Bystander', 'active', 5, s.tick());
    const r = await conflictOnName();
    expect(r.queued).toBe(1);
    const [entry] = await listConflicts(s.pipeline, { limit: 10 }, { stagingUrl: s.staging });
    expect(entry).toMatchObject({ reason: 'custom', fields: ['name'], detail: expect.stringContaining('the priority service is down') });
    expect(contacts(s).map((c) => c.display_name)).toContain('Bystander');
  });
});

test('a resolution made on values that changed since is not applied: the record is merged afresh', async () => {
  s.a.prepare('INSERT INTO people (name, status, score, updated_at) VALUES (?, ?, ?, ?)').run('Old', 'active', 1, s.tick());
  await sync();
  s.a.prepare('UPDATE people SET name = ?, updated_at = ?').run('Old A', s.tick());
  s.b.prepare('UPDATE contacts SET display_name = ?, modified = ?').run('Old B', s.tick());
  await sync();
  const [entry] = await listConflicts(s.pipeline, { limit: 10 }, { stagingUrl: s.staging });
  await resolveConflict(s.pipeline, entry!.id, { take: 'a' }, { stagingUrl: s.staging });
  // side b changes again before the next run: the decision was about values that are gone
  s.b.prepare('UPDATE contacts SET display_name = ?, modified = ?').run('Newer B', s.tick());
  await sync();
  const entries = await listConflicts(s.pipeline, { all: true, limit: 10 }, { stagingUrl: s.staging });
  expect(entries.find((e) => e.id === entry!.id)?.status).toBe('obsolete');
  expect(entries.filter((e) => e.status === 'open')).toEqual([expect.objectContaining({ values: expect.objectContaining({ b: expect.objectContaining({ display_name: 'Newer B' }) }) })]);
  expect(people(s)[0]!.name).toBe('Old A');
});

test('sluice validate refuses a two-way field whose transform has no inverse, built in or from a module, at its line', async () => {
  const module = join(s.dir, 'one-way.ts');
  writeFileSync(module, 'export function toB(v: unknown) { return String(v).toUpperCase(); }\n');
  const text = readFileSync(s.file, 'utf8');
  writeFileSync(s.file, text.replace('- { a: name, b: display_name }', `- { a: name, b: display_name, transform: { module: ${module} } }`));
  const custom = await sluice(['validate', s.file], { cwd: s.dir });
  expect(custom.code).toBe(2);
  expect(custom.stderr).toMatch(/sync\.yaml:\d+:\d+ sync\.fields\[0\]\.transform: module .*one-way\.ts has no function toA \(b → a\)/);
  writeFileSync(s.file, text.replace('- { a: score, b: score_text, transform: integer_to_string }', '- { a: score, b: score_text, transform: datetime_to_date }'));
  const builtIn = await sluice(['validate', s.file], { cwd: s.dir });
  expect(builtIn.code).toBe(2);
  expect(builtIn.stderr).toMatch(/sync\.yaml:\d+:\d+ sync\.fields\[2\]: datetime_to_date has no inverse/);
  writeFileSync(s.file, text.replace('- { a: score, b: score_text, transform: integer_to_string }', '- { a: score, b: score_text, transform: datetime_to_date, direction: a_to_b }'));
  expect((await sluice(['validate', s.file], { cwd: s.dir })).code).toBe(0);
});

describe('conflicts: suggest', () => {
  let api: FakeOpenAI;
  beforeEach(async () => {
    api = await FakeOpenAI.start({ apiKey: 'test-key' });
    s.close();
    s = sqliteSync({ conflicts: 'suggest', extra: `  suggest: { baseURL: "${api.baseURL}", apiKey: test-key, model: judge-1, threshold: 0.8, maxRetries: 0 }\n` });
  });
  afterEach(() => api.close());

  const conflictOnName = async () => {
    s.a.prepare('INSERT INTO people (name, status, score, updated_at) VALUES (?, ?, ?, ?)').run('Ann', 'active', 1, s.tick());
    await sync();
    s.a.prepare(`UPDATE people SET name = 'Ann (crm)', updated_at = ?`).run(s.tick());
    s.b.prepare(`UPDATE contacts SET display_name = 'Ann (desk)', modified = ?`).run(s.tick());
    return sync();
  };
  const answer = (take: string, confidence: number) => ({ content: JSON.stringify({ fields: [{ field: 'name', take }], confidence, reason: 'the desk spoke to her' }) });

  test('a confident suggestion is applied and audited with the model and its confidence', async () => {
    api.respond = () => answer('b', 0.93);
    const r = await conflictOnName();
    expect(r.queued).toBe(0);
    expect(people(s)[0]!.name).toBe('Ann (desk)');
    const sent = JSON.parse(String((api.requests[0]!.body as { messages: { content: string }[] }).messages[1]!.content)) as { conflicting: { field: string; a: string; b: string }[] };
    expect(sent.conflicting).toEqual([expect.objectContaining({ field: 'name', a: 'Ann (crm)', b: 'Ann (desk)' })]);
    const history = await recordHistory(s.pipeline, { key: 'crm:1', limit: 20 }, { stagingUrl: s.staging });
    expect(history.events).toContainEqual(expect.objectContaining({ action: 'update', side: 'a', decidedBy: expect.stringMatching(/^suggest judge-1 \(confidence 0\.93\)/) }));
  });

  test('an unsure suggestion waits in the queue with the suggestion, and the model is not asked again', async () => {
    api.respond = () => answer('a', 0.41);
    const r = await conflictOnName();
    expect(r.queued).toBe(1);
    const [entry] = await listConflicts(s.pipeline, { limit: 5 }, { stagingUrl: s.staging });
    expect(entry).toMatchObject({ reason: 'conflict', fields: ['name'], detail: expect.stringContaining('name: a at confidence 0.41, below 0.8') });
    const asked = api.requests.length;
    await sync();
    expect(api.requests.length).toBe(asked);
  });

  test('a model that cannot be asked leaves the record queued, to be asked again next run', async () => {
    api.respond = () => ({ status: 500, error: { message: 'overloaded', type: 'server_error' } });
    await conflictOnName();
    const [entry] = await listConflicts(s.pipeline, { limit: 5 }, { stagingUrl: s.staging });
    expect(entry).toMatchObject({ reason: 'custom', detail: expect.stringContaining('could not be asked') });
    api.respond = () => answer('a', 0.9);
    await sync();
    expect(await listConflicts(s.pipeline, { limit: 5 }, { stagingUrl: s.staging })).toEqual([]);
    expect(contacts(s)[0]!.display_name).toBe('Ann (crm)');
  });
});

test('one sync of a pipeline at a time: of two started together, one stops at once with SLUICE_LOCKED', async () => {
  const insert = s.a.prepare('INSERT INTO people (name, status, score, updated_at) VALUES (?, ?, ?, ?)');
  await sync(); // the store exists
  for (let i = 0; i < 400; i++) insert.run(`p${i}`, 'active', i, s.tick());
  const outcomes = await Promise.allSettled([sync(), sync()]);
  expect(outcomes.map((o) => o.status).sort()).toEqual(['fulfilled', 'rejected']);
  expect(outcomes.find((o) => o.status === 'rejected')).toMatchObject({ reason: { code: 'SLUICE_LOCKED' } });
  expect(contacts(s)).toHaveLength(400);
});

test('two syncs started together on a store that does not exist yet: one makes it, neither fails otherwise, nothing is doubled', async () => {
  const insert = s.a.prepare('INSERT INTO people (name, status, score, updated_at) VALUES (?, ?, ?, ?)');
  for (let i = 0; i < 100; i++) insert.run(`p${i}`, 'active', i, s.tick());
  const outcomes = await Promise.allSettled([sync(), sync()]);
  for (const o of outcomes) if (o.status === 'rejected') expect(o.reason).toMatchObject({ code: 'SLUICE_LOCKED' });
  expect(outcomes.some((o) => o.status === 'fulfilled')).toBe(true);
  expect(contacts(s)).toHaveLength(100);
});
