// The HTTP sync side end to end: pipelines/issues-sync.yaml as shipped, between the local GitHub-style issues
// API (seeded with the real GitHub issue objects of fixtures/github/) and a PostgreSQL `tickets` table made by
// fixtures/tickets/tickets.sql in a scratch database. Issues become tickets with mapped values; an edited
// ticket PATCHes its issue and an edited issue updates its ticket, each once (no echo); a new ticket is
// POSTed and stays linked; with deletes propagated, an issue the API no longer has (410) deletes its ticket,
// and a deleted ticket waits in the queue (the API cannot delete issues); an API that answers 503 fails
// the run with SLUICE_SYNC_SIDE after its retries, leaves PostgreSQL as it was, and after
// `breaker.failures` runs opens the side's breaker.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { SluiceError } from '../../../src/core/errors';
import { loadPipeline } from '../../../src/run/pipeline';
import { runSync, type SyncSummary } from '../../../src/run/sync';
import { listConflicts } from '../../../src/run/sync-admin';
import { describeWith, scratchDatabase, type ScratchDb } from '../../helpers/services';
import { faults, githubIssues, PagedApiServer, type ApiItem, type RecordedRequest } from '../../servers/paged-api';

const REPO = join(__dirname, '..', '..', '..');
const PIPELINE = join(REPO, 'pipelines', 'issues-sync.yaml');
const ISSUES = '/repos/octocat/Hello-World/issues';
const TOKEN = 'ghp_sluice_test';

interface Ticket {
  id: number;
  subject: string;
  description: string | null;
  status: string;
  labels: string;
}

/** Six issues from the fixture: 1347…1352, 1350 and 1351 closed or a pull request as the generator makes them, with varied labels and bodies. */
function seed(): ApiItem[] {
  const items = githubIssues(6);
  const bug = (items[0]!.labels as Record<string, unknown>[])[0]!;
  items[1]!.labels = [];
  items[2]!.labels = [bug, { ...bug, id: 208045947, node_id: 'MDU6TGFiZWwyMDgwNDU5NDc=', name: 'documentation', color: '0075ca', default: true, description: 'Improvements or additions to documentation', url: bug.url!.toString().replace('bug', 'documentation') }];
  items[3]!.body = null;
  items[5]!.title = 'Ünïcode 🙂 title';
  return items;
}

describeWith('postgres', 'issues API ↔ PostgreSQL tickets (pipelines/issues-sync.yaml)', () => {
  let db: ScratchDb;
  let client: pg.Client;
  let api: PagedApiServer;
  let dir: string;

  beforeAll(async () => {
    db = await scratchDatabase('postgres');
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
  });
  afterAll(async () => {
    await client.end();
    await db.drop();
  });

  beforeEach(async () => {
    await client.query('DROP TABLE IF EXISTS tickets; DROP FUNCTION IF EXISTS tickets_touch()');
    await client.query(readFileSync(join(REPO, 'fixtures', 'tickets', 'tickets.sql'), 'utf8'));
    api = await PagedApiServer.start({ items: seed(), token: TOKEN });
    dir = mkdtempSync(join(tmpdir(), 'sluice-http-sync-'));
  });
  afterEach(async () => {
    await api.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const env = () => ({ ISSUES_API_URL: `${api.url}/repos/octocat/Hello-World`, GITHUB_TOKEN: TOKEN, TICKETS_DB_URL: db.url });
  const staging = () => `sqlite:${join(dir, 'staging.db')}`;
  const sync = (file = PIPELINE): Promise<SyncSummary> => runSync(loadPipeline(file, env()), { stagingUrl: staging(), file });
  const failure = (file = PIPELINE): Promise<SluiceError> =>
    sync(file).then(
      () => {
        throw new Error('the run succeeded');
      },
      (err: unknown) => err as SluiceError,
    );

  /** The shipped pipeline with small retry and breaker settings, so failures are quick to reach. */
  function impatient(): string {
    const text = readFileSync(PIPELINE, 'utf8');
    const variant = text
      .replace(/^(\s+)retries: 5\b/m, '$1retries: 2')
      .replace(/^(\s+)retryDelay: 500ms/m, '$1retryDelay: 10ms')
      .replace(/^(\s+)timeout: 30s/m, '$1timeout: 2s')
      .replace(/^(\s+)breaker: .*$/m, '$1breaker: { failures: 2, coolDown: 1s }');
    expect(variant).not.toBe(text);
    expect(variant).toContain('breaker: { failures: 2, coolDown: 1s }');
    const file = join(dir, 'issues-sync.test.yaml');
    writeFileSync(file, variant);
    return file;
  }

  const tickets = async (): Promise<Ticket[]> => (await client.query<Ticket>('SELECT id, subject, description, status, labels FROM tickets ORDER BY id')).rows;
  const ticket = async (subject: string): Promise<Ticket> => {
    const found = (await tickets()).find((t) => t.subject === subject);
    if (!found) throw new Error(`no ticket ${subject}`);
    return found;
  };
  const writes = (): RecordedRequest[] => api.requests.filter((r) => r.method !== 'GET');
  const labelNames = (issue: ApiItem | undefined) => (issue?.labels as { name: string }[]).map((l) => l.name);

  test('issues become tickets with mapped values, and a second run writes nothing', async () => {
    const first = await sync();
    expect(first.sides.b).toMatchObject({ name: 'tickets', created: 6, failed: 0 });
    expect(first.sides.a).toMatchObject({ name: 'github', created: 0, updated: 0 });
    expect(first.links).toBe(6);
    expect((await tickets()).map(({ id: _id, ...t }) => t)).toEqual(
      api.items.map((i) => ({
        subject: i.title,
        description: i.body,
        status: i.state === 'closed' ? 'done' : 'todo',
        labels: (i.labels as { name: string }[]).map((l) => l.name).join(','),
      })),
    );
    expect(await ticket('Found a bug (1349)')).toMatchObject({ labels: 'bug,documentation', status: 'todo' });
    expect(await ticket('Found a bug (1351)')).toMatchObject({ status: 'done', labels: 'bug' });
    expect(await ticket('Found a bug (1348)')).toMatchObject({ labels: '', description: "I'm having a problem with this." });
    expect(await ticket('Found a bug (1350)')).toMatchObject({ description: null });
    expect(writes()).toEqual([]);
    // the listing is asked for with the token, oldest change first
    expect(api.requests[0]!.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(api.requests[0]!.url).toContain('sort=updated&direction=asc');

    const before = await tickets();
    api.requests.length = 0;
    const again = await sync();
    expect(again.sides.a).toMatchObject({ created: 0, updated: 0, failed: 0 });
    expect(again.sides.b).toMatchObject({ created: 0, updated: 0, failed: 0 });
    expect(writes()).toEqual([]);
    expect(await tickets()).toEqual(before);
    // the second run asks only for what changed since the newest issue it saw
    expect(api.requests.some((r) => r.url.includes(`since=${encodeURIComponent(api.items[5]!.updated_at)}`))).toBe(true);
  });

  test('an edited ticket PATCHes its issue, an edited issue updates its ticket, and neither echoes back', async () => {
    await sync();
    const target = await ticket('Found a bug (1348)');
    await client.query(`UPDATE tickets SET subject = $1, status = 'done', labels = 'bug, urgent' WHERE id = $2`, ['Printer on fire', target.id]);
    api.upsert({ id: 1, title: 'Edited on GitHub', body: 'A new body, 中文' });
    api.requests.length = 0;

    const r = await sync();
    expect(r.sides.a).toMatchObject({ updated: 1, failed: 0 });
    expect(r.sides.b).toMatchObject({ updated: 1, failed: 0 });
    const patches = writes();
    expect(patches).toHaveLength(1);
    expect(patches[0]).toMatchObject({ method: 'PATCH', url: `${ISSUES}/1348`, status: 200 });
    expect(patches[0]!.body).toEqual({ title: 'Printer on fire', state: 'closed', labels: ['bug', 'urgent'] });
    expect(patches[0]!.headers['content-type']).toBe('application/json');
    expect(patches[0]!.headers.authorization).toBe(`Bearer ${TOKEN}`);
    const issue = api.issue(1348)!;
    expect(issue).toMatchObject({ title: 'Printer on fire', state: 'closed', state_reason: 'completed' });
    expect(labelNames(issue)).toEqual(['bug', 'urgent']);
    expect(await ticket('Edited on GitHub')).toMatchObject({ description: 'A new body, 中文', status: 'todo', labels: 'bug' });
    // the ticket keeps its text as the person typed it: the issue holds the same labels
    expect(await ticket('Printer on fire')).toMatchObject({ labels: 'bug, urgent', status: 'done' });

    // Sluice's own writes (the PATCH moved updated_at; the trigger moved the ticket's) are not changes
    const before = await tickets();
    api.requests.length = 0;
    const quiet = await sync();
    expect(quiet.sides.a).toMatchObject({ updated: 0, created: 0 });
    expect(quiet.sides.b).toMatchObject({ updated: 0, created: 0 });
    expect(writes()).toEqual([]);
    expect(await tickets()).toEqual(before);

    // reopening on GitHub moves the ticket back to todo
    api.requests.length = 0;
    const reopened = await fetch(`${api.url}${ISSUES}/1348`, { method: 'PATCH', headers: { authorization: `token ${TOKEN}` }, body: JSON.stringify({ state: 'open' }) });
    expect(reopened.status).toBe(200);
    await sync();
    expect(await ticket('Printer on fire')).toMatchObject({ status: 'todo' });
  });

  test('a new ticket is POSTed as an issue, lands as the ticket says, and stays linked', async () => {
    await sync();
    const issues = api.items.length;
    await client.query(`INSERT INTO tickets (subject, description, status, labels) VALUES ($1, $2, 'done', 'ops,bug')`, ['Desk ticket: über 🙂', 'Filed at the desk']);
    api.requests.length = 0;

    const r = await sync();
    expect(r.sides.a).toMatchObject({ created: 1, failed: 0 });
    expect(r.links).toBe(7);
    const [post, ...rest] = writes();
    expect(post).toMatchObject({ method: 'POST', url: ISSUES, status: 201 });
    expect(post!.body).toEqual({ title: 'Desk ticket: über 🙂', body: 'Filed at the desk', state: 'closed', labels: ['ops', 'bug'] });
    // GitHub opens every new issue whatever `state` says: the side sends what the answer did not take
    expect(rest).toHaveLength(1);
    expect(rest[0]).toMatchObject({ method: 'PATCH', url: `${ISSUES}/1353`, body: { state: 'closed' } });
    expect(api.items).toHaveLength(issues + 1);
    const issue = api.issue(1353)!;
    expect(issue).toMatchObject({ title: 'Desk ticket: über 🙂', body: 'Filed at the desk', state: 'closed', state_reason: 'completed' });
    expect(labelNames(issue)).toEqual(['ops', 'bug']);

    // the link holds: the next run creates nothing on either side, and an edit goes to the same issue
    api.requests.length = 0;
    const again = await sync();
    expect(again.sides.a.created + again.sides.b.created).toBe(0);
    expect(writes()).toEqual([]);
    expect(api.items).toHaveLength(issues + 1);
    expect(await tickets()).toHaveLength(7);

    await client.query(`UPDATE tickets SET description = 'Escalated' WHERE subject = $1`, ['Desk ticket: über 🙂']);
    await sync();
    expect(writes()).toEqual([expect.objectContaining({ method: 'PATCH', url: `${ISSUES}/1353`, body: { body: 'Escalated' } })]);
    expect(api.issue(1353)!.body).toBe('Escalated');
  });

  test('one rateLimit for the API: the listing of changes, the reads and the writes take turns', async () => {
    const file = join(dir, 'issues-sync.limited.yaml');
    writeFileSync(file, readFileSync(PIPELINE, 'utf8').replace(/^(\s+)retryDelay: 500ms$/m, '$1retryDelay: 500ms\n$1rateLimit: { perSecond: 10 }'));
    expect(readFileSync(file, 'utf8')).toMatch(/^\s+rateLimit: \{ perSecond: 10 \}$/m);
    await sync(file);
    const edited = (await tickets()).slice(0, 3);
    for (const t of edited) await client.query('UPDATE tickets SET subject = $1 WHERE id = $2', [`${t.subject} (edited)`, t.id]);
    api.requests.length = 0;
    const r = await sync(file);
    expect(r.sides.a).toMatchObject({ updated: 3, failed: 0 });
    const at = api.requests.map((q) => q.at);
    expect(api.requests.filter((q) => q.method === 'PATCH')).toHaveLength(3);
    // one limit for the API: the listing, the reads and the writes start 100 ms apart, whichever asks
    // (read from the second request on: a run's first reaches the server late, on a new connection;
    // 40 ms of slack for the arrivals' jitter)
    const gaps = at.slice(2).map((t, i) => t - at[i + 1]!);
    expect(gaps.length).toBeGreaterThanOrEqual(5);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(60);
  });

  test('with deletes: propagate, an issue gone from the API (410) deletes its ticket; a deleted ticket waits in the queue, as the API cannot delete', async () => {
    const file = join(dir, 'issues-sync.propagate.yaml');
    writeFileSync(file, readFileSync(PIPELINE, 'utf8').replace(/^(\s+)deletes: ignore\b.*$/m, '$1deletes: propagate'));
    expect(readFileSync(file, 'utf8')).toMatch(/^\s+deletes: propagate$/m);
    await sync(file);

    const [kept, removed] = [api.items[0]!, api.items[2]!];
    api.remove(removed.id);
    const r = await sync(file);
    expect(r.sides.b).toMatchObject({ deleted: 1, failed: 0 });
    expect((await tickets()).map((t) => t.subject)).toEqual(api.items.filter((i) => i.id !== removed.id).map((i) => i.title));

    await client.query('DELETE FROM tickets WHERE subject = $1', [kept.title]);
    api.requests.length = 0;
    const r2 = await sync(file);
    expect(r2.sides.a).toMatchObject({ deleted: 0, failed: 1 });
    expect(r2.queued).toBe(1);
    expect(writes()).toEqual([]); // no DELETE (nor anything else) sent to the API
    const [entry] = await listConflicts(loadPipeline(file, env()), { limit: 5 }, { stagingUrl: staging() });
    expect(entry).toMatchObject({ aKey: String(kept.number), reason: 'write', detail: expect.stringContaining('this side does not delete records') });
    expect(api.items.some((i) => i.id === kept.id)).toBe(true);
  });

  test('an API that answers 503 to everything fails the run with SLUICE_SYNC_SIDE after its retries; PostgreSQL is left as it was; the breaker opens', async () => {
    const file = impatient();
    await sync(file);
    api.upsert({ id: 2, title: 'Edited while the API is down' });
    await client.query(`UPDATE tickets SET status = 'doing' WHERE subject = 'Found a bug (1347)'`);
    const before = await tickets();
    api.failWhen = () => faults.serverError(503);
    api.requests.length = 0;

    const err = await failure(file);
    expect(err).toBeInstanceOf(SluiceError);
    expect(err).toMatchObject({ code: 'SLUICE_SYNC_SIDE', context: { pipeline: 'issues-sync', source: 'github', status: 503 } });
    expect(err.message).toContain('github');
    expect(err.message).toContain('503 Service Unavailable');
    expect(err.message).toContain('after 3 attempts');
    expect(api.requests.map((r) => r.status)).toEqual([503, 503, 503]); // one request, retried twice, then the run stops
    expect(await tickets()).toEqual(before);

    // breaker.failures: 2 runs in a row: the second one opens it, and the third does not touch the API
    expect(await failure(file)).toMatchObject({ code: 'SLUICE_SYNC_SIDE' });
    api.requests.length = 0;
    const open = await failure(file);
    expect(open).toMatchObject({ code: 'SLUICE_SYNC_BREAKER', context: { source: 'github' } });
    expect(open.message).toContain('503');
    expect(api.requests).toEqual([]);
    expect(await tickets()).toEqual(before);

    // after the cool-down, with the API back, the run carries both edits over
    api.failWhen = undefined;
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const healed = await sync(file);
    expect(healed.sides.b.updated).toBe(1);
    expect(await ticket('Edited while the API is down')).toMatchObject({ status: 'todo' });
    // 'doing' has no issue state of its own: the issue stays open (defaultA), and the ticket keeps its status
    expect(await ticket('Found a bug (1347)')).toMatchObject({ status: 'doing' });
    expect(api.issue(1347)!.state).toBe('open');
  });

  test('a write that keeps failing stops the run after the writes before it; the next run converges without writing anything twice', async () => {
    const file = impatient();
    await sync(file);
    api.upsert({ id: 3, title: 'Issue edit that lands' });
    await client.query(`UPDATE tickets SET subject = 'Ticket edit that waits' WHERE subject = 'Found a bug (1347)'`);
    api.failWhen = (r) => (r.method === 'PATCH' ? faults.serverError(502) : undefined);
    api.requests.length = 0;

    const err = await failure(file);
    expect(err).toMatchObject({ code: 'SLUICE_SYNC_SIDE', context: { source: 'github', status: 502 } });
    // a PATCH sets fields to values: sending it again is harmless, so it is retried
    expect(writes().map((r) => `${r.method} ${r.url} ${r.status}`)).toEqual(Array(3).fill(`PATCH ${ISSUES}/1347 502`));
    // the issue's edit was carried to PostgreSQL in its own batch before the failure, whole
    expect(await ticket('Issue edit that lands')).toBeDefined();
    expect(api.issue(1347)!.title).toBe('Found a bug (1347)');

    api.failWhen = undefined;
    api.requests.length = 0;
    const healed = await sync(file);
    expect(healed.sides.a).toMatchObject({ updated: 1, failed: 0 });
    expect(healed.sides.b).toMatchObject({ updated: 0, created: 0 }); // what was written stays written: nothing again
    expect(writes()).toEqual([expect.objectContaining({ method: 'PATCH', url: `${ISSUES}/1347`, status: 200, body: { title: 'Ticket edit that waits' } })]);
    expect(api.issue(1347)!.title).toBe('Ticket edit that waits');
  });

  test('a POST is not sent again after a 502: the ticket is created once, by the next run', async () => {
    const file = impatient();
    await sync(file);
    await client.query(`INSERT INTO tickets (subject, status) VALUES ('Created once', 'todo')`);
    api.failWhen = (r) => (r.method === 'POST' ? faults.serverError(502) : undefined);
    api.requests.length = 0;

    expect(await failure(file)).toMatchObject({ code: 'SLUICE_SYNC_SIDE', context: { status: 502 } });
    expect(writes().map((r) => `${r.method} ${r.status}`)).toEqual(['POST 502']);

    api.failWhen = undefined;
    await sync(file);
    await sync(file);
    expect(api.items.filter((i) => i.title === 'Created once')).toHaveLength(1);
    expect(writes().filter((r) => r.method === 'POST').map((r) => r.status)).toEqual([502, 201]);
  });

  test('a write the API refuses (422) fails that record alone: it waits in the queue and the others go on', async () => {
    await sync();
    await client.query(`UPDATE tickets SET labels = 'ok' WHERE subject = 'Found a bug (1349)'`);
    await client.query(`UPDATE tickets SET subject = 'Refused' WHERE subject = 'Found a bug (1347)'`);
    api.failWhen = (r) =>
      r.method === 'PATCH' && r.path.endsWith('/1347')
        ? { status: 422, body: JSON.stringify({ message: 'Validation Failed', errors: [{ resource: 'Issue', code: 'custom', field: 'title' }], documentation_url: 'https://docs.github.com/rest/issues/issues#update-an-issue', status: '422' }) }
        : undefined;
    const r = await sync();
    expect(r.sides.a).toMatchObject({ updated: 1, failed: 1 });
    expect(r.queued).toBe(1);
    expect(labelNames(api.issue(1349))).toEqual(['ok']);
    expect(api.issue(1347)!.title).toBe('Found a bug (1347)');

    // the queue is tried again first on the next run, and the write goes through once the API takes it
    api.failWhen = undefined;
    const again = await sync();
    expect(again.queued).toBe(0);
    expect(api.issue(1347)!.title).toBe('Refused');
  });
});
