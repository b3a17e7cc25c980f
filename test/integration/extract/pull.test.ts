// The pull extractor against a local API that paginates like GitHub (Link headers, `since`), through
// whole runs on a real staging store: incremental pulls across runs with edits in between stage exactly
// the server's state and each change once; 429s, rate-limit resets and 5xx bursts are waited out; a run
// that exhausts its retries fails with the URL, status and body, keeps the pages it committed, and the
// next run goes on from there; the other pagination styles walk every record once.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SluiceError } from '../../../src/core/errors';
import { loadPipeline } from '../../../src/run/pipeline';
import { runPipeline, type RunSummary } from '../../../src/run/run';
import { openStore } from '../../../src/stage/open';
import { faults, githubIssues, PagedApiServer, type ApiItem } from '../../servers/paged-api';
import { stagingBackends } from '../../helpers/services';

const ALL = { afterSeq: 0, upToSeq: Number.MAX_SAFE_INTEGER };

let api: PagedApiServer;
let dir: string;

beforeEach(async () => {
  api = await PagedApiServer.start({ items: githubIssues(45, { ties: true }), token: 'sekret' });
  dir = mkdtempSync(join(tmpdir(), 'sluice-pull-'));
});
afterEach(async () => {
  await api.close();
  rmSync(dir, { recursive: true, force: true });
});

function pipelineFile(pull: string, extra = ''): string {
  const file = join(dir, 'pull.yaml');
  writeFileSync(
    file,
    `name: gh
tenant: { column: user.login }
sources:
  - name: issues
    pull:
${pull
  .trim()
  .split('\n')
  .map((l) => `      ${l}`)
  .join('\n')}
${extra}`,
  );
  return file;
}

const GITHUB = `
url: \${API}/repos/octocat/Hello-World/issues
params: { state: all, sort: updated, direction: asc, per_page: 10 }
auth: { bearer: \${TOKEN} }
key: id
cursor: { field: updated_at, param: since }
paginate: link
retryDelay: 10ms`;

async function run(file: string, staging: string): Promise<RunSummary> {
  return runPipeline(loadPipeline(file, { API: api.url, TOKEN: 'sekret' }), { stagingUrl: staging, env: {} });
}

async function staged(staging: string): Promise<Map<number, ApiItem>> {
  const store = openStore(staging);
  try {
    const out = new Map<number, ApiItem>();
    for (const tenant of await store.tenants('gh')) {
      for await (const page of store.read(tenant, { pipeline: 'gh', source: 'issues', ...ALL, op: 'upsert' })) {
        for (const r of page) out.set(Number(r.key), JSON.parse(r.json!) as ApiItem);
      }
    }
    return out;
  } finally {
    await store.close();
  }
}

const byId = (items: ApiItem[]) => new Map(items.map((i) => [i.id, i]));
const dataRequests = () => api.requests.filter((r) => r.url.startsWith('/repos/'));

const stores = stagingBackends(() => dir, 'incremental pull');

describe.each(stores)('incremental pull, %s staging', (_name, make) => {
  test('three runs with edits in between: the store equals the server, each change staged once', async () => {
    const staging = await make();
    try {
      const file = pipelineFile(GITHUB);
      const first = await run(file, staging.url);
      expect(first.sources[0]).toMatchObject({ read: 45, staged: 45 });
      expect(await staged(staging.url)).toEqual(byId(api.items));
      expect(dataRequests()).toHaveLength(5); // 45 items, 10 a page

      // edits: 3 changed, 2 new; the next run asks only since the highest updated_at it saw
      for (const id of [4, 17, 30]) api.upsert({ id, title: `edited ${id}` });
      api.upsert({ id: 46, title: 'new 46', user: { login: 'hubot' } });
      api.upsert({ id: 47, title: 'new 47', user: { login: 'octocat' } });
      api.requests.length = 0;
      const second = await run(file, staging.url);
      expect(dataRequests()[0]!.url).toContain(`since=${encodeURIComponent(api.items.find((i) => i.id === 45)!.updated_at)}`);
      expect(second.sources[0]!.staged).toBe(5);
      expect(await staged(staging.url)).toEqual(byId(api.items));

      // a run with no edits re-reads only the boundary and stages nothing
      const idle = await run(file, staging.url);
      expect(idle.sources[0]!.staged).toBe(0);
      expect(idle.sources[0]!.read).toBeLessThanOrEqual(2);

      api.upsert({ id: 4, title: 'edited again', state: 'closed' });
      api.upsert({ id: 1, body: 'a new body 中文 🙂' });
      const third = await run(file, staging.url);
      expect(third.sources[0]!.staged).toBe(2);
      expect(await staged(staging.url)).toEqual(byId(api.items));
    } finally {
      await staging.done();
    }
  });
});

describe('resilience', () => {
  const staging = () => `sqlite:${join(dir, 'staging.db')}`;

  test('429 with Retry-After, a primary rate-limit reset and a 5xx burst are waited out, and nothing is lost', async () => {
    const file = pipelineFile(GITHUB);
    api.failNext(1, faults.tooManyRequests(1));
    const started = Date.now();
    const summary = await run(file, staging());
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000); // Retry-After: 1 was honoured
    expect(summary.sources[0]!.staged).toBe(45);

    api.upsert({ id: 2, title: 'x' });
    api.failNext(1, faults.rateLimited(Math.floor(Date.now() / 1000) + 1));
    api.failNext(3, faults.serverError(502));
    await run(file, staging());
    expect(dataRequests().map((r) => r.status).slice(-5)).toEqual([403, 502, 502, 502, 200]);
    expect(await staged(staging())).toEqual(byId(api.items));
  });

  test('a Retry-After given as an HTTP date is waited out until then', async () => {
    const file = pipelineFile(GITHUB);
    // whole seconds only in an HTTP date: the wait is 1-2 s from now
    api.failNext(1, faults.retryAfterDate(new Date(Date.now() + 2000)));
    const started = Date.now();
    expect((await run(file, staging())).sources[0]!.staged).toBe(45);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(dataRequests().map((r) => r.status)).toEqual([429, 200, 200, 200, 200, 200]);
  });

  test('exhausted retries fail the run with the URL, status and body; committed pages stay and the next run goes on', async () => {
    const file = pipelineFile(`${GITHUB}\nretries: 2`);
    // a few pages succeed, then the server fails every attempt at the next one
    api.delayMs = 30;
    const first = run(file, staging());
    while (dataRequests().filter((r) => r.status === 200).length < 2) await new Promise((r) => setTimeout(r, 5));
    api.failNext(3, faults.serverError(503));
    const err = await first.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SluiceError);
    expect(err).toMatchObject({ code: 'SLUICE_PULL_HTTP' });
    expect((err as Error).message).toMatch(/GET http:\/\/127\.0\.0\.1:\d+\/repos\/octocat\/Hello-World\/issues\?.*page=\d/);
    expect((err as Error).message).toContain('503 Service Unavailable');
    expect((err as Error).message).toContain('<h1>503 Service Unavailable</h1>');
    expect((err as Error).message).toContain('after 3 attempts');
    const kept = await staged(staging());
    expect(kept.size).toBeGreaterThanOrEqual(10);
    expect(kept.size).toBeLessThan(45);

    api.requests.length = 0;
    const resumed = await run(file, staging());
    expect(dataRequests()[0]!.url).toMatch(/page=[2-5]/); // goes on with the walk, not from page 1
    expect(resumed.sources[0]!.read).toBe(45 - kept.size);
    expect(await staged(staging())).toEqual(byId(api.items));
  });

  test('a wrong token is a 401 that is not retried', async () => {
    const file = pipelineFile(GITHUB);
    const err = await runPipeline(loadPipeline(file, { API: api.url, TOKEN: 'wrong' }), { stagingUrl: staging(), env: {} }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'SLUICE_PULL_HTTP' });
    expect((err as Error).message).toContain('401');
    expect((err as Error).message).toContain('Requires authentication');
    expect(dataRequests()).toHaveLength(1);
  });

  test('rateLimit spaces the requests 1 / perSecond apart, and every record is read', async () => {
    const file = pipelineFile(`${GITHUB}\nrateLimit: { perSecond: 10 }`);
    expect((await run(file, staging())).sources[0]).toMatchObject({ read: 45, staged: 45 });
    const at = dataRequests().map((r) => r.at);
    expect(at).toHaveLength(5);
    // their starts span 400 ms; arrivals lag their starts by a few ms, the run's first by up to ~30 ms
    // (a new connection): 100 ms of slack still tells a limit from none (25-60 ms for all five)
    expect(at[4]! - at[0]!).toBeGreaterThanOrEqual(4 * 100 - 100);
  });

  test('a slow server times out, is retried, and the failure says so', async () => {
    api.delayMs = 400;
    const file = pipelineFile(`${GITHUB}\ntimeout: 100ms\nretries: 1`);
    const err = await run(file, staging()).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'SLUICE_PULL_HTTP' });
    expect((err as Error).message).toContain('no answer within 0.1 s');
  });

  test('a body that is not JSON, or records that are not where the file says, is a clear error', async () => {
    api.failNext(1, { status: 200, headers: { 'content-type': 'text/html' }, body: '<html>maintenance</html>' });
    const err = await run(pipelineFile(GITHUB), staging()).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'SLUICE_PULL_RESPONSE' });
    expect((err as Error).message).toContain('not JSON (text/html)');
    const err2 = await run(pipelineFile(`${GITHUB}\nrecords: $.items`), staging()).catch((e: unknown) => e);
    expect((err2 as Error).message).toContain('the records path $.items is missing');
  });
});

describe('pagination styles', () => {
  const staging = () => `sqlite:${join(dir, 'staging.db')}`;
  const styles: [string, string][] = [
    ['cursor token in the body', `url: \${API}/cursor/items\nparams: { limit: 7 }\nrecords: $.data\npaginate: { style: cursor, next: $.meta.next, param: after }`],
    ['page numbers', `url: \${API}/page/items\nparams: { size: 7 }\nrecords: $.results\npaginate: { style: page, param: page, start: 1, size: 7 }`],
    ['offset and limit', `url: \${API}/offset/items\npaginate: { style: offset, param: offset, limitParam: limit, limit: 7 }`],
  ];
  test.each(styles)('%s: every record once, incrementally', async (_name, pull) => {
    const file = pipelineFile(`${pull}\nauth: { bearer: \${TOKEN} }\nkey: id\ncursor: { field: updated_at, param: updated_since }`);
    const first = await run(file, staging());
    expect(first.sources[0]).toMatchObject({ read: 45, staged: 45 });
    api.upsert({ id: 9, title: 'changed' });
    const second = await run(file, staging());
    expect(second.sources[0]!.staged).toBe(1);
    expect(await staged(staging())).toEqual(byId(api.items));
  });

  test('each record is staged as the API wrote it, on one line: integers past 2^53 keep their digits, as keys too', async () => {
    // what an API with 64-bit ids sends: JSON.parse reads both ids as 9007199254740992
    const body = `[\n  {"id": 9007199254740993, "user": {"login": "octocat"}, "updated_at": "2026-01-01T00:00:00Z", "n": 1.50},\r\n  {"id": 9007199254740992, "user": {"login": "octocat"}, "updated_at": "2026-01-01T00:00:00Z"}\n]`;
    api.failNext(1, { status: 200, headers: { 'content-type': 'application/json' }, body });
    expect((await run(pipelineFile(GITHUB), staging())).sources[0]).toMatchObject({ read: 2, staged: 2 });
    const store = openStore(staging());
    try {
      const records = [];
      for await (const page of store.read('octocat', { pipeline: 'gh', source: 'issues', ...ALL, op: 'upsert' })) records.push(...page);
      expect(records.map((r) => [r.key, r.json])).toEqual([
        ['9007199254740993', '{"id": 9007199254740993, "user": {"login": "octocat"}, "updated_at": "2026-01-01T00:00:00Z", "n": 1.50}'],
        ['9007199254740992', '{"id": 9007199254740992, "user": {"login": "octocat"}, "updated_at": "2026-01-01T00:00:00Z"}'],
      ]);
    } finally {
      await store.close();
    }
  });

  test('maxPages stops a run early; the next run continues the walk', async () => {
    const file = pipelineFile(GITHUB.replace('paginate: link', 'paginate: { style: link, maxPages: 2 }'));
    expect((await run(file, staging())).sources[0]!.read).toBe(20);
    expect((await run(file, staging())).sources[0]!.read).toBe(20);
    expect((await run(file, staging())).sources[0]!.read).toBe(5);
    expect(await staged(staging())).toEqual(byId(api.items));
  });
});
