// The Label Studio client against a local server that follows Label Studio's API: legacy tokens and
// personal access tokens (exchanged, and exchanged again when the access token expires), finding or
// creating a project, importing in chunks with task ids back, listing tasks with annotations page by
// page up to the total, and clear errors (a refused token, a missing data field) with retries on 5xx.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LabelStudioClient, attachmentName, isPersonalAccessToken } from '../../../src/refine/label-studio/client';
import { exportProject, exportSnapshot, snapshotTasks } from '../../../src/refine/label-studio/export';
import { FakeLabelStudio } from '../../servers/label-studio';

const CONFIG = '<View><Text name="text" value="$text"/><Choices name="sentiment" toName="text"><Choice value="positive"/><Choice value="negative"/></Choices></View>';

let ls: FakeLabelStudio;
beforeEach(async () => {
  ls = await FakeLabelStudio.start();
});
afterEach(async () => ls.close());

test('a legacy token is sent as Token; a project is found by title or created once', async () => {
  const client = new LabelStudioClient({ url: ls.url, token: 'legacy-token' });
  const p = await client.ensureProject('Tickets acme', CONFIG);
  const again = await client.ensureProject('Tickets acme', CONFIG);
  expect(again.id).toBe(p.id);
  expect(ls.projects.filter((x) => x.title === 'Tickets acme')).toHaveLength(1);
  expect(ls.requests.every((r) => r.url.startsWith('/api/') && r.headers.authorization === 'Token legacy-token')).toBe(true);
});

test('a personal access token is exchanged for access tokens, and again when one expires', async () => {
  expect(isPersonalAccessToken(ls.pat)).toBe(true);
  expect(isPersonalAccessToken('legacy-token')).toBe(false);
  ls.accessTokenTtlMs = 150;
  const client = new LabelStudioClient({ url: ls.url, token: ls.pat, retryDelayMs: 10 });
  const p = await client.ensureProject('PAT project', CONFIG);
  await new Promise((r) => setTimeout(r, 250));
  await client.importTasks(p.id, [{ data: { text: 'hello' } }]);
  const refreshes = ls.requests.filter((r) => r.url.startsWith('/api/token/refresh'));
  expect(refreshes.length).toBe(2);
  expect(ls.requests.some((r) => r.status === 401)).toBe(true);
  expect(ls.requests.filter((r) => !r.url.startsWith('/api/token/')).every((r) => String(r.headers.authorization).startsWith('Bearer '))).toBe(true);
});

test('import in chunks returns the task ids in order; tasks come back with annotations, stopping at the total', async () => {
  const client = new LabelStudioClient({ url: ls.url, token: 'legacy-token' });
  const p = await client.ensureProject('Bulk', CONFIG);
  const tasks = Array.from({ length: 2500 }, (_, i) => ({ data: { text: `t${i}` }, meta: { key: String(i) } }));
  const ids = await client.importTasks(p.id, tasks);
  expect(ids).toHaveLength(2500);
  expect(new Set(ids).size).toBe(2500);
  expect(ls.requests.filter((r) => r.method === 'POST' && r.url.startsWith(`/api/projects/${p.id}/import`))).toHaveLength(3); // 1000 a chunk
  ls.annotate(ids[7]!, [{ from_name: 'sentiment', to_name: 'text', type: 'choices', value: { choices: ['positive'] } }], { annotator: 3, leadTime: 4.5 });
  const seen: number[] = [];
  let annotated = 0;
  for await (const page of client.tasks(p.id, 1000)) {
    seen.push(...page.map((t) => t.id));
    annotated += page.filter((t) => (t.annotations ?? []).length > 0).length;
  }
  expect(seen).toEqual(ids);
  expect(annotated).toBe(1);
  expect(ls.requests.filter((r) => r.status === 404)).toEqual([]); // never asked past the end
});

test('bad input and outages: a missing data field is a clear 400; a refused token is not retried; 5xx is retried', async () => {
  const client = new LabelStudioClient({ url: ls.url, token: 'legacy-token', retryDelayMs: 10 });
  const p = await client.ensureProject('Errors', CONFIG);
  await expect(client.importTasks(p.id, [{ data: { body: 'no text field' } }])).rejects.toMatchObject({
    code: 'SLUICE_LABEL_STUDIO',
    message: expect.stringMatching(/^POST http:\/\/127\.0\.0\.1:\d+\/api\/projects\/\d+\/import answered 400: .*text/),
  });
  const wrong = new LabelStudioClient({ url: ls.url, token: 'not-the-token', retryDelayMs: 10 });
  const before = ls.requests.length;
  await expect(wrong.version()).rejects.toMatchObject({ code: 'SLUICE_LABEL_STUDIO', context: { status: 401 } });
  expect(ls.requests.length - before).toBe(1);
  ls.failNext(2, { status: 503, headers: { 'retry-after': '0' }, body: '{"detail":"busy"}' });
  await expect(client.version()).resolves.toMatchObject({ edition: 'Community' });
  const down = new LabelStudioClient({ url: 'http://127.0.0.1:1', token: 'x', retries: 1, retryDelayMs: 10 });
  await expect(down.version()).rejects.toMatchObject({ code: 'SLUICE_LABEL_STUDIO', message: expect.stringContaining('cannot reach Label Studio at http://127.0.0.1:1') });
});

test('a server that does not answer in time: each request times out and is retried, then fails with the reason', async () => {
  ls.delayMs = 400;
  const slow = new LabelStudioClient({ url: ls.url, token: 'legacy-token', timeoutMs: 100, retries: 2, retryDelayMs: 10 });
  const started = Date.now();
  await expect(slow.version()).rejects.toMatchObject({ code: 'SLUICE_LABEL_STUDIO', message: expect.stringMatching(/cannot reach Label Studio at .*(timeout|aborted)/i) });
  expect(Date.now() - started).toBeLessThan(2000); // three attempts of 100 ms, not three of 400
  ls.delayMs = 0;
  await expect(slow.version()).resolves.toMatchObject({ edition: 'Community' });
});

describe('exports', () => {
  const FIXTURES = join(__dirname, '../../../fixtures/label-studio');
  const real = () => JSON.parse(readFileSync(join(FIXTURES, 'ls_export_tasks.json'), 'utf8')) as { data: Record<string, unknown>; annotations: unknown[] }[];
  const imageConfig = () => readFileSync(join(FIXTURES, 'label_config.xml'), 'utf8');

  async function project(client: LabelStudioClient): Promise<number> {
    const p = await client.ensureProject('Images', imageConfig());
    const [task] = real();
    // the real annotated task, and two more without annotations
    await client.importTasks(p.id, [{ data: task!.data, annotations: task!.annotations } as never, { data: { image: '/data/upload/1/b.jpg' } }, { data: { image: '/data/upload/1/c.jpg' } }]);
    return p.id;
  }

  test('the synchronous export: JSON by its file name, COCO unpacked from the ZIP as Label Studio converts it', async () => {
    const client = new LabelStudioClient({ url: ls.url, token: 'legacy-token' });
    const id = await project(client);
    const [json] = await exportProject(client, id);
    expect(json!.name).toMatch(new RegExp(`^project-${id}-at-\\d{4}-\\d{2}-\\d{2}-\\d{2}-\\d{2}-[0-9a-f]{8}\\.json$`));
    expect((JSON.parse(Buffer.from(json!.bytes).toString('utf8')) as unknown[]).length).toBe(1); // only annotated tasks by default
    const [all] = await exportProject(client, id, { allTasks: true });
    expect((JSON.parse(Buffer.from(all!.bytes).toString('utf8')) as unknown[]).length).toBe(3);
    const coco = await exportProject(client, id, { exportType: 'COCO' });
    expect(coco.map((f) => f.name)).toEqual(['result.json']);
    const expected = JSON.parse(readFileSync(join(FIXTURES, 'expected_coco_result.generated.json'), 'utf8')) as { annotations: unknown[]; categories: unknown[] };
    const got = JSON.parse(Buffer.from(coco[0]!.bytes).toString('utf8')) as { annotations: unknown[]; categories: unknown[] };
    expect(got.categories).toEqual(expected.categories);
    expect(got.annotations).toEqual(expected.annotations);
  });

  test('snapshots: created, polled until completed, converted, downloaded and deleted; JSON read task by task', async () => {
    ls.snapshotPollsUntilDone = 3;
    const client = new LabelStudioClient({ url: ls.url, token: 'legacy-token' });
    const id = await project(client);
    const coco = await exportSnapshot(client, id, { exportType: 'COCO', pollMs: 5 });
    expect(coco.map((f) => f.name)).toEqual(['result.json']);
    const tasks = [];
    for await (const t of snapshotTasks(client, id, { pollMs: 5 })) tasks.push(t);
    expect(tasks.map((t) => t.data)).toEqual([real()[0]!.data, { image: '/data/upload/1/b.jpg' }, { image: '/data/upload/1/c.jpg' }]);
    expect(ls.exports).toEqual([]); // every snapshot deleted after use
    const polls = ls.requests.filter((r) => r.method === 'GET' && /\/exports\/\d+$/.test(r.url));
    expect(polls.length).toBeGreaterThanOrEqual(3 + 3);
  });

  test('a snapshot that fails, or does not finish in time, is a clear error and is deleted', async () => {
    const client = new LabelStudioClient({ url: ls.url, token: 'legacy-token' });
    const id = await project(client);
    ls.failNextSnapshot();
    await expect(exportSnapshot(client, id, { pollMs: 5 })).rejects.toThrow(/export snapshot \d+ of project \d+ failed/);
    ls.snapshotPollsUntilDone = 1000;
    await expect(exportSnapshot(client, id, { pollMs: 5, timeoutMs: 50 })).rejects.toThrow(/was not completed in time/);
    expect(ls.exports).toEqual([]);
  });

  test('a file name comes from Content-Disposition, folders and RFC 6266 encoding included', () => {
    expect(attachmentName('attachment; filename="project-1-at-2024.json"')).toBe('project-1-at-2024.json');
    expect(attachmentName('attachment; filename="export/3/project-3-at-x.zip"')).toBe('project-3-at-x.zip');
    expect(attachmentName("attachment; filename*=UTF-8''caf%C3%A9.json")).toBe('café.json');
    expect(attachmentName(null)).toBeUndefined();
  });
});
