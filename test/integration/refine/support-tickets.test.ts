// pipelines/support-tickets.yaml as shipped, end to end against the Label Studio and OpenAI test
// servers: rules, then people for the unsure tickets, then the LLM; refined records are exported per
// tenant with provenance of what decided them, and the rules' rejects wait in quarantine.
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPipeline } from '../../../src/run/pipeline';
import { runPipeline, type RunSummary } from '../../../src/run/run';
import { listHeld } from '../../../src/run/quarantine';
import { readJsonl, REPO } from '../../helpers/cli-sluice';
import { FakeLabelStudio } from '../../servers/label-studio';
import { FakeOpenAI, type ChatRequest } from '../../servers/openai';

let dir: string;
let ls: FakeLabelStudio;
let llm: FakeOpenAI;
const cwd = process.cwd();

beforeEach(async () => {
  // the pipeline's paths are relative to the working directory: run it from a copy of what it uses
  dir = mkdtempSync(join(tmpdir(), 'sluice-support-'));
  cpSync(join(REPO, 'pipelines', 'support-tickets.yaml'), join(dir, 'pipelines', 'support-tickets.yaml'));
  cpSync(join(REPO, 'fixtures', 'support'), join(dir, 'fixtures', 'support'), { recursive: true });
  process.chdir(dir);
  ls = await FakeLabelStudio.start();
  llm = await FakeOpenAI.start({ apiKey: 'sk-test' });
  llm.respond = (req: ChatRequest) => {
    const text = String(req.messages.find((m) => m.role === 'user')?.content);
    const team = /refund|invoice|credit/i.test(text) ? 'billing' : /parcel|box|deliver/i.test(text) ? 'shipping' : 'other';
    return { content: JSON.stringify({ team, certainty: 0.8 }), usage: { prompt_tokens: 50, completion_tokens: 8 } };
  };
});
afterEach(async () => {
  process.chdir(cwd);
  await Promise.all([ls.close(), llm.close()]);
  rmSync(dir, { recursive: true, force: true });
});

const run = (): Promise<RunSummary> =>
  runPipeline(loadPipeline('pipelines/support-tickets.yaml', { LS_URL: ls.url, LS_TOKEN: 'legacy-token', LLM_BASE_URL: llm.baseURL, OPENAI_API_KEY: 'sk-test' }), {
    env: {},
  });
const byTenant = (s: RunSummary) => Object.fromEntries(s.exports.map((e) => [e.tenant, readJsonl(join(e.dir, 'tickets.jsonl'))]));

test('rules → Label Studio for unsure tickets → LLM, exported per tenant', async () => {
  const first = await run();
  // 4 (bad email) and 5 (unknown priority) fail the rules; 2 and 6 (confidence < 0.6) wait for people
  expect(first.refined).toEqual({ tickets: { refined: 2, filtered: 0, quarantined: 2, failed: 0, pending: 2 } });
  expect(byTenant(first)).toEqual({
    acme: [expect.objectContaining({ id: 1, email: 'ana@acme.test', priority: 'high', confidence: 0.92, team: 'billing', certainty: 0.8 })],
    globex: [expect.objectContaining({ id: 3, team: 'billing' })],
    initech: [], // a tenant's first export is a snapshot, even of nothing yet
  });
  expect(ls.tasks.map((t) => t.data.subject)).toEqual(['Parcel never arrived', 'Where is my credit note?']);
  expect((await listHeld(loadPipeline('pipelines/support-tickets.yaml', { LS_URL: ls.url, LS_TOKEN: 'x', OPENAI_API_KEY: 'x' }), { limit: 10 })).map((h) => h.key)).toEqual(['4', '5']);

  for (const task of ls.tasks) ls.annotate(task.id, [{ from_name: 'category', to_name: 'body', type: 'choices', value: { choices: ['shipping'] } }], { annotator: 2 });
  const second = await run();
  expect(second.refined).toEqual({ tickets: { refined: 2, filtered: 0, quarantined: 0, failed: 0, pending: 0 } });
  const exported = byTenant(second);
  expect(exported.acme).toEqual([expect.objectContaining({ id: 2, team: 'shipping', annotation: expect.objectContaining({ annotator: 2 }) })]);
  expect(exported.initech).toEqual([expect.objectContaining({ id: 6, team: 'billing', annotation: expect.objectContaining({ taskId: ls.tasks[1]!.id }) })]);
  expect(second.llm).toEqual([
    expect.objectContaining({ tenant: 'acme', calls: 1 }),
    expect.objectContaining({ tenant: 'initech', calls: 1 }),
  ]);
});
