// The LLM refine step in whole runs, with the real `openai` client against a local server that follows
// the OpenAI API: answers are checked against the output schema and merged; prose, cut-off answers and
// a dead server fail the record alone and keep the original (exported as staged); unchanged input is
// answered from the cache; a token budget leaves the rest for the next run; usage and cost are recorded.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { loadPipeline } from '../../../src/run/pipeline';
import { runPipeline, type RunSummary } from '../../../src/run/run';
import { metrics } from '../../../src/observe/metrics';
import { openStore } from '../../../src/stage/open';
import { readRecords } from '../../helpers/cli-sluice';
import { FakeOpenAI, replies, type ChatRequest } from '../../servers/openai';

let dir: string;
let api: FakeOpenAI;
let staging: string;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-llm-'));
  staging = `sqlite:${join(dir, 'staging.db')}`;
  api = await FakeOpenAI.start({ apiKey: 'test-key' });
  const db = new Database(join(dir, 'src.db'));
  db.exec(`CREATE TABLE tickets (id INTEGER PRIMARY KEY, subject TEXT)`);
  const insert = db.prepare(`INSERT INTO tickets VALUES (?, ?)`);
  ['Refund for order 7', 'Parcel never arrived', 'Wrong invoice address', 'Where is my parcel?'].forEach((s, i) => insert.run(i + 1, s));
  db.close();
  writeFileSync(join(dir, 'classify.md'), 'Ticket subject: {{subject}}\nWhich team handles it?');
});
afterEach(async () => {
  await api.close();
  rmSync(dir, { recursive: true, force: true });
});

function pipelineFile(extra = ''): string {
  const file = join(dir, 'p.yaml');
  writeFileSync(
    file,
    `name: support
sources:
  - name: tickets
    read: { driver: sqlite, url: ${join(dir, 'src.db')}, table: tickets, key: id }
tenant: { value: acme }
refine:
  - llm:
      baseURL: \${LLM_BASE_URL}
      apiKey: \${OPENAI_API_KEY}
      model: gpt-4o-mini
      task: classify
      prompt: ${join(dir, 'classify.md')}
      output: { category: { enum: [billing, shipping, other] }, confidence: number }
      price: { inputPer1M: 0.15, outputPer1M: 0.6 }
      concurrency: 2
      maxRetries: 1
${extra}
export:
  - format: jsonl
    path: ${join(dir, 'out')}
`,
  );
  return file;
}

const run = (file: string, key = 'test-key'): Promise<RunSummary> =>
  runPipeline(loadPipeline(file, { LLM_BASE_URL: api.baseURL, OPENAI_API_KEY: key }), { stagingUrl: staging, env: {} });
const exported = (s: RunSummary) => (s.exports[0] ? readRecords(join(s.exports[0].dir, 'tickets.jsonl')) : []);
const userPrompt = (req: ChatRequest) => String(req.messages.find((m) => m.role === 'user')?.content);

test('answers are merged; the prompt is rendered over the record; unchanged input comes from the cache; usage and cost are kept', async () => {
  api.respond = (req) => {
    const category = /Refund|invoice/i.test(userPrompt(req)) ? 'billing' : 'shipping';
    return { content: JSON.stringify({ category, confidence: 0.9 }), usage: { prompt_tokens: 100, completion_tokens: 10 } };
  };
  const first = await run(pipelineFile());
  expect(first.refined).toEqual({ tickets: { refined: 4, filtered: 0, quarantined: 0, failed: 0, pending: 0 } });
  expect(exported(first)).toEqual([
    { id: 1, subject: 'Refund for order 7', category: 'billing', confidence: 0.9 },
    { id: 2, subject: 'Parcel never arrived', category: 'shipping', confidence: 0.9 },
    { id: 3, subject: 'Wrong invoice address', category: 'billing', confidence: 0.9 },
    { id: 4, subject: 'Where is my parcel?', category: 'shipping', confidence: 0.9 },
  ]);
  const sent = api.requests[0]!.body as ChatRequest & { response_format: { type: string; json_schema: { strict: boolean; schema: { required: string[] } } } };
  expect(userPrompt(sent)).toBe('Ticket subject: Refund for order 7\nWhich team handles it?');
  expect(sent.response_format).toMatchObject({ type: 'json_schema', json_schema: { strict: true, schema: { required: ['category', 'confidence'] } } });
  expect(first.llm).toEqual([{ tenant: 'acme', model: 'gpt-4o-mini', promptTokens: 400, completionTokens: 40, calls: 4, cached: 0, cost: (400 * 0.15 + 40 * 0.6) / 1e6 }]);

  // nothing changed: nothing is refined again and nothing is asked
  const requests = api.requests.length;
  const again = await run(pipelineFile());
  expect(api.requests.length).toBe(requests);
  expect(again.refined).toEqual({ tickets: { refined: 0, filtered: 0, quarantined: 0, failed: 0, pending: 0 } });

  const store = openStore(staging);
  try {
    expect(await store.llmUsage('support')).toEqual([{ tenant: 'acme', model: 'gpt-4o-mini', promptTokens: 400, completionTokens: 40, calls: 4, cached: 0, cost: expect.closeTo(8.4e-5, 10) }]);
  } finally {
    await store.close();
  }
});

test('prose, a cut-off answer, a wrong field and a dead server fail only their record; the original is exported as staged', async () => {
  api.respond = (req) => {
    const p = userPrompt(req);
    if (p.includes('Refund')) return replies.prose('It is probably billing.');
    if (p.includes('never arrived')) return replies.truncated();
    if (p.includes('invoice')) return { content: JSON.stringify({ category: 'sales', confidence: 1 }) };
    return replies.serverError(500);
  };
  const s = await run(pipelineFile());
  expect(s.refined).toEqual({ tickets: { refined: 0, filtered: 0, quarantined: 0, failed: 4, pending: 0 } });
  expect(exported(s).map((r) => r.subject)).toEqual(['Refund for order 7', 'Parcel never arrived', 'Wrong invoice address', 'Where is my parcel?']);
  expect(exported(s).every((r) => !('category' in r))).toBe(true);
  const store = openStore(staging);
  try {
    const held = await store.held('support', { limit: 10 });
    const why = Object.fromEntries(held.map((h) => [h.key, (JSON.parse(h.detail) as { error: string }).error]));
    expect(why['1']).toMatch(/^the model answered prose, not JSON: It is probably billing\./);
    expect(why['2']).toMatch(/^the answer was cut off \(finish_reason length\)/);
    expect(why['3']).toMatch(/^the answer does not match the output schema \(category: /);
    expect(why['4']).toMatch(/^the model could not be asked: 500 /);
  } finally {
    await store.close();
  }
  // 500 is retried (maxRetries: 1): two requests for record 4, both counted as failed attempts
  expect(api.requests.filter((r) => userPrompt(r.body as ChatRequest).includes('Where is my parcel')).length).toBe(2);
  expect(await metrics.text()).toMatch(/^sluice_retries_total\{pipeline="",component="llm"\} [2-9]/m);
});

test('a token budget stops the step cleanly: the rest stay unrefined (not failed, not exported) and are refined next run', async () => {
  api.respond = () => ({ content: JSON.stringify({ category: 'other', confidence: 0.5 }), usage: { prompt_tokens: 60, completion_tokens: 10 } });
  const file = pipelineFile();
  writeFileSync(file, readFileSync(file, 'utf8').replace('      maxRetries: 1\n', '      maxRetries: 1\n      budget: { maxTokensPerRun: 100 }\n').replace('concurrency: 2', 'concurrency: 1'));
  const first = await run(join(dir, 'p.yaml'));
  expect(first.refined).toEqual({ tickets: { refined: 2, filtered: 0, quarantined: 0, failed: 0, pending: 2 } });
  expect(exported(first).map((r) => r.id)).toEqual([1, 2]);
  const second = await run(join(dir, 'p.yaml'));
  expect(second.refined).toEqual({ tickets: { refined: 2, filtered: 0, quarantined: 0, failed: 0, pending: 0 } });
  expect(exported(second).map((r) => r.id)).toEqual([3, 4]);
});

test('a wrong API key fails every record with the server\'s 401, and the run itself succeeds', async () => {
  const s = await run(pipelineFile(), 'wrong-key');
  expect(s.refined).toEqual({ tickets: { refined: 0, filtered: 0, quarantined: 0, failed: 4, pending: 0 } });
  expect(api.requests.every((r) => r.status === 401)).toBe(true);
});

test('with onRefineFailure: quarantine, a record the model failed on is held with the reason and released on demand', async () => {
  api.respond = (req) => (userPrompt(req).includes('Refund') ? replies.prose('Billing, I think.') : { content: JSON.stringify({ category: 'shipping', confidence: 0.9 }) });
  const s = await run(pipelineFile('onRefineFailure: quarantine'));
  expect(s.refined).toEqual({ tickets: { refined: 3, filtered: 0, quarantined: 1, failed: 0, pending: 0 } });
  expect(exported(s).map((r) => r.id)).toEqual([2, 3, 4]);
  const store = openStore(staging);
  try {
    const [held] = await store.held('support', { limit: 10 });
    expect(held).toMatchObject({ key: '1', status: 'quarantined' });
    expect(JSON.parse(held!.detail)).toMatchObject({ step: 'llm:classify', failures: [{ rule: 'llm:classify', reason: expect.stringMatching(/^the model answered prose, not JSON: Billing/) }] });
    await store.release('support', 'tickets', ['1']);
  } finally {
    await store.close();
  }
  // released: the next run exports the original as staged
  const next = await run(join(dir, 'p.yaml'));
  expect(exported(next)).toEqual([{ id: 1, subject: 'Refund for order 7' }]);
});
