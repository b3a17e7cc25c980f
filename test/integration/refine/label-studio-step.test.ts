// The Label Studio step in whole runs against a local server that follows Label Studio's API: records
// that need people become tasks once (never re-imported, whatever the runs in between) and wait, not
// exported; an annotation is merged with its provenance; a skipped task quarantines the record; when
// Label Studio is down the records wait for the next run.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { loadPipeline } from '../../../src/run/pipeline';
import { runPipeline, type RunSummary } from '../../../src/run/run';
import type { AddressInfo } from 'node:net';
import { readRecords } from '../../helpers/cli-sluice';
import { Service, type ServeEvent } from '../../../src/run/serve';
import { buildServer } from '../../../src/server/app';
import { FakeLabelStudio } from '../../servers/label-studio';

const CONFIG = '<View><Text name="text" value="$text"/><Choices name="team" toName="text"><Choice value="billing"/><Choice value="shipping"/></Choices></View>';

let dir: string;
let ls: FakeLabelStudio;
let lsUrl: string;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-ls-'));
  ls = await FakeLabelStudio.start();
  lsUrl = ls.url;
  const db = new Database(join(dir, 'src.db'));
  db.exec(`CREATE TABLE tickets (id INTEGER PRIMARY KEY, note TEXT, confidence TEXT)`);
  db.prepare(`INSERT INTO tickets VALUES (1, 'Refund please', '0.4'), (2, 'Box arrived crushed', '0.6'), (3, 'Thanks!', '0.95')`).run();
  db.close();
  writeFileSync(join(dir, 'label-config.xml'), CONFIG);
});
afterEach(async () => {
  await ls.close();
  rmSync(dir, { recursive: true, force: true });
});

function pipelineFile(more: { rules?: string; labelStudio?: string } = {}): string {
  const file = join(dir, 'p.yaml');
  writeFileSync(
    file,
    `name: support
sources:
  - name: tickets
    read: { driver: sqlite, url: ${join(dir, 'src.db')}, table: tickets, key: id }
tenant: { value: acme }
refine:
  - rules:
      - coerce: { confidence: number }
${more.rules ?? ''}
  - labelStudio:
      url: \${LS_URL}
      token: \${LS_TOKEN}
      project: { title: "Tickets {{tenant}}", labelConfig: ${join(dir, 'label-config.xml')} }
      data: { text: note }
      when: "confidence < 0.8"
      retries: 1
      webhook: { secret: "\${LS_HOOK_SECRET}" }
${more.labelStudio ?? ''}
export:
  - format: jsonl
    path: ${join(dir, 'out')}
staging: sqlite:${join(dir, 'staging.db')}
`,
  );
  return file;
}

const ENV = () => ({ LS_URL: lsUrl, LS_TOKEN: 'legacy-token', LS_HOOK_SECRET: 'hook-secret-123' });
const run = (more?: Parameters<typeof pipelineFile>[0]): Promise<RunSummary> => runPipeline(loadPipeline(pipelineFile(more), ENV()), { env: {} });
const exported = (s: RunSummary) => (s.exports[0] ? readRecords(join(s.exports[0].dir, 'tickets.jsonl')) : []);
const imports = () => ls.requests.filter((r) => r.method === 'POST' && /\/import/.test(r.url)).length;

test('records go to people once, wait, and come back annotated (or quarantined when skipped)', async () => {
  const first = await run();
  expect(first.refined).toEqual({ tickets: { refined: 1, filtered: 0, quarantined: 0, failed: 0, pending: 2 } });
  expect(exported(first)).toEqual([{ id: 3, note: 'Thanks!', confidence: 0.95 }]);
  expect(ls.projects.map((p) => p.title)).toEqual(['Tickets acme']);
  expect(ls.tasks.map((t) => t.data)).toEqual([{ text: 'Refund please' }, { text: 'Box arrived crushed' }]);

  // nobody has annotated yet: the next run imports nothing again
  const waiting = await run();
  expect(waiting.refined!.tickets!.pending).toBe(2);
  expect(imports()).toBe(1);

  const [refund, crushed] = ls.tasks;
  const result = [{ from_name: 'team', to_name: 'text', type: 'choices', value: { choices: ['billing'] } }];
  const annotation = ls.annotate(refund!.id, result, { annotator: 7, leadTime: 3.5 });
  ls.annotate(crushed!.id, [], { cancelled: true });

  const second = await run();
  expect(second.refined).toEqual({ tickets: { refined: 1, filtered: 0, quarantined: 1, failed: 0, pending: 0 } });
  expect(exported(second)).toEqual([
    {
      id: 1,
      note: 'Refund please',
      confidence: 0.4,
      annotation: { result, annotator: 7, taskId: refund!.id, annotationId: annotation.id, leadTime: 3.5, annotatedAt: annotation.updated_at },
    },
  ]);
  expect(imports()).toBe(1);
  const third = await run();
  expect(third.exports).toEqual([]);
  expect(imports()).toBe(1);
});

test('earlier steps\' output goes with the task as a prediction, with the steps\' versions as model_version', async () => {
  await run({
    rules: `      - derive: { field: team, expr: "$contains(note, 'Refund') ? 'billing' : 'shipping'" }`,
    labelStudio: `      predictions: { from: previous-steps, score: confidence }`,
  });
  const [refund, crushed] = ls.tasks;
  const prediction = (team: string, score: number) => ({
    model_version: expect.stringMatching(/^rules@[0-9a-f]{12}$/),
    score,
    result: [{ id: expect.any(String), from_name: 'team', to_name: 'text', type: 'choices', value: { choices: [team] }, origin: 'prediction' }],
  });
  expect(refund!.predictions).toEqual([expect.objectContaining(prediction('billing', 0.4))]);
  expect(crushed!.predictions).toEqual([expect.objectContaining(prediction('shipping', 0.6))]);
  const request = ls.requests.find((r) => /\/import/.test(r.url))!;
  expect(request.status).toBe(201);
});

describe('reading annotations back', () => {
  const choose = (team: string) => [{ from_name: 'team', to_name: 'text', type: 'choices', value: { choices: [team] } }];
  const perTask = () => ls.requests.filter((r) => /^\/api\/tasks\/\d+\/$/.test(r.url)).length;

  test('from an export snapshot, once per project per run', async () => {
    ls.snapshotPollsUntilDone = 0;
    await run({ labelStudio: '      annotations: snapshot' });
    const [refund, crushed] = ls.tasks;
    ls.annotate(refund!.id, choose('billing'), { annotator: 4 });
    const second = await run({ labelStudio: '      annotations: snapshot' });
    expect(second.refined!.tickets).toMatchObject({ refined: 1, pending: 1 });
    expect(exported(second)).toEqual([expect.objectContaining({ id: 1, annotation: expect.objectContaining({ taskId: refund!.id, annotator: 4 }) })]);
    ls.annotate(crushed!.id, [], { cancelled: true });
    const third = await run({ labelStudio: '      annotations: snapshot' });
    expect(third.refined!.tickets).toMatchObject({ quarantined: 1, pending: 0 });
    expect(ls.requests.filter((r) => r.method === 'POST' && /\/exports\/$/.test(r.url))).toHaveLength(2);
    expect(perTask()).toBe(0);
    expect(ls.exports).toEqual([]);
  });

  test('many waiting tasks: one walk of the project instead of a request per task', async () => {
    const db = new Database(join(dir, 'src.db'));
    const insert = db.prepare(`INSERT INTO tickets VALUES (?, ?, '0.1')`);
    for (let i = 10; i < 40; i++) insert.run(i, `ticket ${i}`);
    db.close();
    await run();
    expect(ls.tasks).toHaveLength(32);
    for (const t of ls.tasks) ls.annotate(t.id, choose('shipping'));
    const done = await run();
    expect(done.refined!.tickets).toMatchObject({ refined: 32, pending: 0 });
    expect(perTask()).toBe(0);
    expect(exported(done)).toHaveLength(32);
  });
});

test('with Label Studio down, records wait with the reason and are imported once it is back', async () => {
  lsUrl = 'http://127.0.0.1:1';
  const down = await run();
  expect(down.refined!.tickets).toMatchObject({ refined: 1, pending: 2, failed: 0 });
  expect(exported(down).map((r) => r.id)).toEqual([3]);
  lsUrl = ls.url;
  const back = await run();
  expect(back.refined!.tickets).toMatchObject({ pending: 2 });
  expect(ls.tasks).toHaveLength(2);
});

test('sluice serve takes Label Studio\'s annotation webhooks behind the secret header and refines at once', async () => {
  await run(); // tasks imported, records waiting
  const events: ServeEvent[] = [];
  const service = await Service.open([loadPipeline(pipelineFile(), ENV())], { log: (e) => events.push(e) });
  const app = buildServer(service);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address() as AddressInfo;
  const hook = (headers: Record<string, string>, body: unknown) =>
    fetch(`http://127.0.0.1:${address.port}/label-studio/support`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  try {
    const task = ls.tasks[0]!;
    const annotation = ls.annotate(task.id, [{ from_name: 'team', to_name: 'text', type: 'choices', value: { choices: ['billing'] } }]);
    const payload = { action: 'ANNOTATION_CREATED', annotation, task, project: { id: task.project } };
    expect((await hook({ authorization: 'Bearer wrong-secret-12' }, payload)).status).toBe(401);
    expect((await hook({}, payload)).status).toBe(401);
    expect(await (await hook({ authorization: 'Bearer hook-secret-123' }, { action: 'PROJECT_UPDATED' })).json()).toEqual({ status: 'ignored', action: 'PROJECT_UPDATED' });
    const accepted = await hook({ authorization: 'Bearer hook-secret-123' }, payload);
    expect(accepted.status).toBe(202);
    for (let i = 0; i < 200 && !events.some((e) => e.type === 'run'); i++) await new Promise((r) => setTimeout(r, 25));
    const done = events.find((e) => e.type === 'run');
    expect(done && done.type === 'run' && done.summary.refined).toEqual({ tickets: { refined: 1, filtered: 0, quarantined: 0, failed: 0, pending: 1 } });
    expect(done && done.type === 'run' && exported(done.summary).map((r) => r.id)).toEqual([1]);
  } finally {
    await app.close();
    await service.close();
  }
});
