/** The fake paginated API the pull-extractor tests run against: it must behave like the APIs it stands for. */
import { type ApiItem, PagedApiServer, faults, githubIssues } from '../servers/paged-api';

const ISSUES = '/repos/octocat/Hello-World/issues';

/** `link: <url>; rel="next", …` as a map from relation to URL */
function parseLink(header: string | null): Record<string, string> {
  const links: Record<string, string> = {};
  for (const part of (header ?? '').split(',')) {
    const match = /^\s*<([^>]+)>;\s*rel="([a-z]+)"\s*$/.exec(part);
    if (!match) throw new Error(`bad link part: ${JSON.stringify(part)}`);
    links[match[2]] = match[1];
  }
  return links;
}

async function json(res: Response): Promise<unknown> {
  expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
  return res.json();
}

async function itemsOf(res: Response): Promise<ApiItem[]> {
  const body = await json(res);
  if (!Array.isArray(body)) throw new Error(`expected an array, got ${JSON.stringify(body)}`);
  return body as ApiItem[];
}

const ids = (items: ApiItem[]): number[] => items.map((i) => i.id);

describe('PagedApiServer', () => {
  let api: PagedApiServer;
  afterEach(() => api.close());

  describe('GitHub issues', () => {
    beforeEach(async () => {
      api = await PagedApiServer.start({ items: githubIssues(47, { ties: true }) });
    });

    it('walks the link header to every item exactly once', async () => {
      const seen: number[] = [];
      let next: string | undefined = `${api.url}${ISSUES}?state=all&per_page=10`;
      while (next) {
        const res: Response = await fetch(next);
        expect(res.status).toBe(200);
        seen.push(...ids(await itemsOf(res)));
        next = res.headers.get('link') ? parseLink(res.headers.get('link')).next : undefined;
      }
      expect(seen).toEqual(Array.from({ length: 47 }, (_, i) => 47 - i)); // default: created (id), descending
      expect(api.requests).toHaveLength(5);
    });

    it('writes the link header as GitHub does, keeping every query parameter', async () => {
      const query = 'state=all&per_page=10&sort=updated&direction=asc';
      const first = await fetch(`${api.url}${ISSUES}?${query}`);
      expect(first.headers.get('link')).toBe(
        `<${api.url}${ISSUES}?${query}&page=2>; rel="next", <${api.url}${ISSUES}?${query}&page=5>; rel="last"`,
      );

      const middle = parseLink((await fetch(`${api.url}${ISSUES}?${query}&page=3`)).headers.get('link'));
      expect(Object.keys(middle)).toEqual(['prev', 'next', 'last', 'first']);
      for (const [rel, page] of [['prev', '2'], ['next', '4'], ['last', '5'], ['first', '1']]) {
        const url = new URL(middle[rel]);
        expect(url.origin + url.pathname).toBe(api.url + ISSUES);
        expect(Object.fromEntries(url.searchParams)).toEqual({ state: 'all', per_page: '10', sort: 'updated', direction: 'asc', page });
      }

      const last = await fetch(`${api.url}${ISSUES}?${query}&page=5`);
      expect(Object.keys(parseLink(last.headers.get('link')))).toEqual(['prev', 'first']);
      expect(await itemsOf(last)).toHaveLength(7);
    });

    it('sends no link header when everything fits on one page, and rate-limit headers always', async () => {
      const res = await fetch(`${api.url}${ISSUES}?per_page=100`);
      expect(res.headers.has('link')).toBe(false);
      expect(await itemsOf(res)).toHaveLength(47);
      expect(res.headers.get('x-ratelimit-limit')).toBe('5000');
      expect(res.headers.get('x-ratelimit-remaining')).toBe('4999');
      expect(res.headers.get('x-ratelimit-used')).toBe('1');
      expect(Number(res.headers.get('x-ratelimit-reset'))).toBeGreaterThan(Date.now() / 1000);
      expect(res.headers.get('x-ratelimit-resource')).toBe('core');
      expect((await fetch(`${api.url}${ISSUES}`)).headers.get('x-ratelimit-remaining')).toBe('4998');
    });

    it('defaults to 30 per page and caps per_page at 100', async () => {
      expect(await itemsOf(await fetch(`${api.url}${ISSUES}`))).toHaveLength(30);
      api.items = githubIssues(150);
      const res = await fetch(`${api.url}${ISSUES}?per_page=500`);
      expect(await itemsOf(res)).toHaveLength(100);
      expect(parseLink(res.headers.get('link')).last).toMatch(/[?&]page=2$/);
    });

    it('filters with since, including items updated exactly at since', async () => {
      const since = api.items[9].updated_at; // id 10 shares its time with ids 8 and 9 (ties)
      const res = await fetch(`${api.url}${ISSUES}?since=${since}&sort=updated&direction=asc&per_page=100`);
      const got = await itemsOf(res);
      expect(got[0].updated_at).toBe(since);
      expect(ids(got)).toEqual(api.items.filter((i) => i.updated_at >= since).map((i) => i.id));
      expect(ids(got).slice(0, 3)).toEqual([8, 9, 10]);
      expect((await fetch(`${api.url}${ISSUES}?since=yesterday`)).status).toBe(422);
    });

    it('sorts by created (id) or updated, in either direction, ties broken by id', async () => {
      api.upsert({ id: 3 }); // now the most recently updated
      const get = async (q: string): Promise<number[]> => ids(await itemsOf(await fetch(`${api.url}${ISSUES}?per_page=100&${q}`)));
      expect((await get('sort=created&direction=asc')).slice(0, 4)).toEqual([1, 2, 3, 4]);
      expect((await get('sort=updated&direction=asc')).slice(0, 4)).toEqual([1, 2, 4, 5]);
      expect((await get('sort=updated&direction=asc')).at(-1)).toBe(3);
      expect((await get('sort=updated')).slice(0, 3)).toEqual([3, 47, 46]);
    });

    it('computes each page from the state at request time', async () => {
      const url = `${api.url}${ISSUES}?sort=updated&direction=asc&per_page=10`;
      const page1 = ids(await itemsOf(await fetch(url)));
      api.upsert({ id: 1, title: 'edited' }); // moves to the end
      api.remove(20);
      const page2 = ids(await itemsOf(await fetch(`${url}&page=2`)));
      expect(page1).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      expect(page2).toEqual([12, 13, 14, 15, 16, 17, 18, 19, 21, 22]); // 11 was skipped, as with a real API
    });
  });

  describe('GitHub issue endpoints: get, create, update', () => {
    const auth = { authorization: 'Bearer s3cret' };
    const send = (method: string, path: string, body?: unknown, headers: Record<string, string> = auth): Promise<Response> =>
      fetch(`${api.url}${path}`, { method, headers: { ...headers, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }) });
    const NOT_FOUND = { message: 'Not Found', documentation_url: 'https://docs.github.com/rest/issues/issues#get-an-issue', status: '404' };

    beforeEach(async () => {
      api = await PagedApiServer.start({ items: githubIssues(5), token: 's3cret' });
    });

    it('GET one issue by number: the object the list serves; 404 with GitHub\'s body when absent, 410 once removed', async () => {
      const res = await send('GET', `${ISSUES}/1349`);
      expect(res.status).toBe(200);
      const issue = (await json(res)) as ApiItem;
      expect(issue).toEqual(api.items[2]);
      expect(issue).toMatchObject({ id: 3, number: 1349, title: 'Found a bug (1349)' });

      const missing = await send('GET', `${ISSUES}/9999`);
      expect(missing.status).toBe(404);
      expect(await json(missing)).toEqual(NOT_FOUND);
      expect((await send('GET', `${ISSUES}/1347`, undefined, {})).status).toBe(401);

      api.remove(1);
      const gone = await send('GET', `${ISSUES}/1347`);
      expect(gone.status).toBe(410);
      expect(await json(gone)).toMatchObject({ message: 'This issue was deleted', status: '410' });
    });

    it('POST creates an open issue with the next number and id, now, labels as objects, and a Location', async () => {
      const newest = api.items.at(-1)!.updated_at;
      const res = await send('POST', ISSUES, { title: 'Printer on fire', body: 'Smoke 🔥', labels: ['bug', 'triage'], assignees: ['octocat', 'hubot'], state: 'closed' });
      expect(res.status).toBe(201);
      const issue = (await json(res)) as ApiItem;
      expect(res.headers.get('location')).toBe(`${api.url}${ISSUES}/1352`);
      expect(issue).toMatchObject({
        id: 6,
        number: 1352,
        title: 'Printer on fire',
        body: 'Smoke 🔥',
        state: 'open', // GitHub ignores `state` on create
        state_reason: null,
        closed_at: null,
        closed_by: null,
        locked: false,
        comments: 0,
        url: 'https://api.github.com/repos/octocat/Hello-World/issues/1352',
        html_url: 'https://github.com/octocat/Hello-World/issues/1352',
        user: { login: 'octocat' },
        assignee: { login: 'octocat' },
      });
      expect(issue).not.toHaveProperty('pull_request');
      expect(issue.created_at).toBe(issue.updated_at);
      expect(issue.updated_at > newest).toBe(true);
      expect(issue.updated_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      // a label an issue has keeps its object; a new name becomes a new label with GitHub's default colour
      const labels = issue.labels as Record<string, unknown>[];
      expect(labels[0]).toEqual((api.items[0].labels as unknown[])[0]);
      expect(labels[1]).toMatchObject({ name: 'triage', color: 'ededed', default: false, description: null });
      expect(typeof labels[1]!.id).toBe('number');
      expect((issue.assignees as { login: string }[]).map((a) => a.login)).toEqual(['octocat', 'hubot']);

      // it is served by GET, and by the list (updated since the newest before it)
      expect(await json(await send('GET', `${ISSUES}/1352`))).toEqual(issue);
      const since = await itemsOf(await send('GET', `${ISSUES}?since=${issue.updated_at}`));
      expect(ids(since)).toEqual([6]);
      expect(api.requests[0]).toMatchObject({ method: 'POST', status: 201, body: { title: 'Printer on fire', labels: ['bug', 'triage'] } });

      const second = (await json(await send('POST', ISSUES, { title: 'Again', labels: [{ name: 'triage' }] }))) as ApiItem;
      expect(second).toMatchObject({ id: 7, number: 1353, labels: [labels[1]], assignees: [], assignee: null, body: null });
    });

    it('POST refuses what GitHub refuses: no title (422), a body that is not JSON (400), no token (401)', async () => {
      const noTitle = await send('POST', ISSUES, { body: 'x' });
      expect(noTitle.status).toBe(422);
      expect(await json(noTitle)).toEqual({ message: 'Invalid request.\n\n"title" wasn\'t supplied.', documentation_url: 'https://docs.github.com/rest/issues/issues#create-an-issue', status: '422' });
      const bad = await send('POST', ISSUES, '{"title": ');
      expect(bad.status).toBe(400);
      expect(await json(bad)).toMatchObject({ message: 'Problems parsing JSON' });
      expect(api.requests[1]!.body).toBe('{"title": ');
      expect((await send('POST', ISSUES, { title: 'x' }, {})).status).toBe(401);
      expect((await send('POST', ISSUES, { labels: 'bug', title: 'x' })).status).toBe(422);
      expect(api.items).toHaveLength(5);
    });

    it('PATCH updates fields and moves updated_at on; an update that changes nothing does not', async () => {
      const before = api.issue(1348)!;
      const res = await send('PATCH', `${ISSUES}/1348`, { title: 'Renamed', body: null, labels: ['docs'], assignees: [] });
      expect(res.status).toBe(200);
      const issue = (await json(res)) as ApiItem;
      expect(issue).toMatchObject({ id: 2, number: 1348, title: 'Renamed', body: null, assignees: [], assignee: null, state: 'open', created_at: before.created_at });
      expect((issue.labels as { name: string }[]).map((l) => l.name)).toEqual(['docs']);
      expect(issue.updated_at > before.updated_at).toBe(true);
      expect(api.issue(1348)).toEqual(issue);

      const same = (await json(await send('PATCH', `${ISSUES}/1348`, { title: 'Renamed', labels: ['docs'] }))) as ApiItem;
      expect(same.updated_at).toBe(issue.updated_at);
      expect((await send('PATCH', `${ISSUES}/1348`, { labels: [] }).then(json)) as ApiItem).toMatchObject({ labels: [] });
    });

    it('PATCH closes and reopens with state_reason as GitHub does', async () => {
      const closed = (await json(await send('PATCH', `${ISSUES}/1347`, { state: 'closed' }))) as ApiItem;
      expect(closed).toMatchObject({ state: 'closed', state_reason: 'completed', closed_by: { login: 'octocat' } });
      expect(closed.closed_at).toBe(closed.updated_at);

      // state_reason alone, without a change of state, is ignored
      expect(((await json(await send('PATCH', `${ISSUES}/1347`, { state_reason: 'not_planned' }))) as ApiItem).state_reason).toBe('completed');

      const reopened = (await json(await send('PATCH', `${ISSUES}/1347`, { state: 'open' }))) as ApiItem;
      expect(reopened).toMatchObject({ state: 'open', state_reason: 'reopened', closed_at: closed.closed_at }); // closed_at stays, as in the issues.reopened payload
      expect(reopened.updated_at > closed.updated_at).toBe(true);

      const wontfix = (await json(await send('PATCH', `${ISSUES}/1347`, { state: 'closed', state_reason: 'not_planned' }))) as ApiItem;
      expect(wontfix).toMatchObject({ state: 'closed', state_reason: 'not_planned' });

      expect((await send('PATCH', `${ISSUES}/1348`, { state: 'done' })).status).toBe(422);
      expect((await send('PATCH', `${ISSUES}/1348`, { state: 'closed', state_reason: 'reopened' })).status).toBe(422);
      const missing = await send('PATCH', `${ISSUES}/9999`, { title: 'x' });
      expect(missing.status).toBe(404);
      expect(await json(missing)).toEqual({ ...NOT_FOUND, documentation_url: 'https://docs.github.com/rest/issues/issues#update-an-issue' });
      expect((await send('DELETE', `${ISSUES}/1348`)).status).toBe(404); // GitHub cannot delete issues
    });

    it('failWhen serves a fault to matching requests only, while set', async () => {
      api.failWhen = (r) => (r.method === 'PATCH' ? faults.serverError(503) : undefined);
      expect((await send('PATCH', `${ISSUES}/1347`, { title: 'x' })).status).toBe(503);
      expect((await send('PATCH', `${ISSUES}/1347`, { title: 'x' })).status).toBe(503);
      expect((await send('GET', `${ISSUES}/1347`)).status).toBe(200);
      api.failWhen = undefined;
      expect((await send('PATCH', `${ISSUES}/1347`, { title: 'x' })).status).toBe(200);
      expect(api.issue(1347)!.title).toBe('x');
    });
  });

  describe('upsert and githubIssues', () => {
    it('builds realistic issues, with ties when asked', () => {
      const plain = githubIssues(6, { base: '2024-01-01T00:00:00Z' });
      expect(plain.map((i) => i.updated_at)).toEqual([0, 1, 2, 3, 4, 5].map((s) => `2024-01-01T00:00:0${s}Z`));
      expect(new Set(plain.map((i) => i.number)).size).toBe(6);
      expect(new Set(plain.map((i) => i.title)).size).toBe(6);
      const html = 'https://github.com/octocat/Hello-World/issues/1347';
      expect(plain[0]).toMatchObject({ id: 1, number: 1347, user: { login: 'octocat' }, html_url: html });
      expect(plain[0]).not.toHaveProperty('pull_request');
      expect(plain[2]).toHaveProperty('pull_request.html_url', 'https://github.com/octocat/Hello-World/pull/1349');
      const tied = githubIssues(7, { ties: true, base: '2024-01-01T00:00:00Z' }).map((i) => i.updated_at.slice(-3));
      expect(tied).toEqual(['00Z', '01Z', '01Z', '01Z', '02Z', '02Z', '03Z']);
    });

    it('gives fresh times that strictly increase and merges fields', async () => {
      api = await PagedApiServer.start({ items: githubIssues(3) });
      const a = api.upsert({ id: 2, title: 'renamed' });
      const b = api.upsert({ id: 9 });
      const c = api.upsert({ id: 2 }, '2030-01-01T00:00:00Z');
      expect(a.updated_at < b.updated_at).toBe(true);
      expect(a).toMatchObject({ number: 1348, title: 'renamed' });
      expect(c).toMatchObject({ title: 'renamed', updated_at: '2030-01-01T00:00:00Z' });
      expect(api.upsert({ id: 4 }).updated_at).toBe('2030-01-01T00:00:01Z');
      expect(ids(api.items)).toEqual([1, 2, 3, 9, 4]);
    });
  });

  describe('auth, faults and delay', () => {
    beforeEach(async () => {
      api = await PagedApiServer.start({ items: githubIssues(5), token: 's3cret' });
    });

    it('requires the token, as Bearer or token', async () => {
      const none = await fetch(`${api.url}${ISSUES}`);
      expect(none.status).toBe(401);
      expect(await json(none)).toEqual({ message: 'Requires authentication', documentation_url: 'https://docs.github.com/rest' });
      expect((await fetch(`${api.url}/offset/items`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
      expect((await fetch(`${api.url}/offset/items`, { headers: { authorization: 'Bearer s3cret' } })).status).toBe(200);
      expect((await fetch(`${api.url}${ISSUES}`, { headers: { authorization: 'token s3cret' } })).status).toBe(200);
      expect(api.requests.map((r) => r.status)).toEqual([401, 401, 200, 200]);
      expect(api.requests[2]).toMatchObject({ method: 'GET', url: '/offset/items', headers: { authorization: 'Bearer s3cret' } });
    });

    it('serves 404 for unknown paths', async () => {
      const res = await fetch(`${api.url}/nope`);
      expect(res.status).toBe(404);
      expect(await json(res)).toEqual({ message: 'Not Found' });
    });

    it('serves queued faults in order, after auth, then normal responses', async () => {
      const auth = { headers: { authorization: 'Bearer s3cret' } };
      api.failNext(2, faults.serverError(503));
      api.failNext(1, faults.tooManyRequests(1));
      api.failNext(1, faults.rateLimited(1_900_000_000));
      api.failNext(1, faults.retryAfterDate(new Date('2030-01-01T00:00:00Z')));
      expect((await fetch(`${api.url}${ISSUES}`)).status).toBe(401); // does not use up a fault

      const got: Response[] = [];
      for (let i = 0; i < 6; i++) got.push(await fetch(`${api.url}/cursor/items`, auth));
      expect(got.map((r) => r.status)).toEqual([503, 503, 429, 403, 429, 200]);
      expect(got[0].headers.get('content-type')).toBe('text/html');
      expect(await got[0].text()).toContain('503 Service Unavailable');
      expect(got[2].headers.get('retry-after')).toBe('1');
      expect(got[3].headers.get('x-ratelimit-remaining')).toBe('0');
      expect(got[3].headers.get('x-ratelimit-reset')).toBe('1900000000');
      expect(got[4].headers.get('retry-after')).toBe('Tue, 01 Jan 2030 00:00:00 GMT');
      expect(await json(got[5])).toMatchObject({ meta: { next: null } });
    });

    it('delays every response', async () => {
      api.delayMs = 150;
      const started = Date.now();
      expect((await fetch(`${api.url}/nope`)).status).toBe(404);
      expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    });
  });

  describe('generic pagination styles', () => {
    beforeEach(async () => {
      // stored out of order: the routes must sort by (updated_at, id)
      api = await PagedApiServer.start({ items: githubIssues(25, { ties: true }).reverse() });
    });
    const expected = (since?: string): number[] =>
      githubIssues(25, { ties: true })
        .filter((i) => since === undefined || i.updated_at >= since)
        .map((i) => i.id);

    it('cursor: follows meta.next to the end', async () => {
      const seen: number[] = [];
      let after: string | null = null;
      let calls = 0;
      do {
        const res: Response = await fetch(`${api.url}/cursor/items?limit=4${after ? `&after=${after}` : ''}`);
        const body = (await json(res)) as { data: ApiItem[]; meta: { next: string | null } };
        seen.push(...ids(body.data));
        after = body.meta.next;
        calls++;
      } while (after);
      expect(seen).toEqual(expected());
      expect(calls).toBe(7);
      expect((await fetch(`${api.url}/cursor/items?after=garbage`)).status).toBe(400);
    });

    it('cursor: updated_since filter', async () => {
      const since = githubIssues(25, { ties: true })[6].updated_at;
      const body = (await json(await fetch(`${api.url}/cursor/items?limit=100&updated_since=${since}`))) as { data: ApiItem[] };
      expect(ids(body.data)).toEqual(expected(since));
      expect(ids(body.data)[0]).toBe(7);
    });

    it('page/size: results and total', async () => {
      const seen: number[] = [];
      for (let page = 1; ; page++) {
        const body = (await json(await fetch(`${api.url}/page/items?page=${page}&size=10`))) as { results: ApiItem[]; total: number };
        expect(body.total).toBe(25);
        if (body.results.length === 0) break;
        seen.push(...ids(body.results));
      }
      expect(seen).toEqual(expected());
      const since = githubIssues(25, { ties: true })[1].updated_at;
      const filtered = (await json(await fetch(`${api.url}/page/items?updated_since=${since}`))) as { results: ApiItem[]; total: number };
      expect(filtered.total).toBe(24);
      expect(ids(filtered.results)).toEqual(expected(since).slice(0, 10));
    });

    it('offset/limit: a bare array', async () => {
      const seen: number[] = [];
      for (let offset = 0; ; offset += 10) {
        const page = await itemsOf(await fetch(`${api.url}/offset/items?offset=${offset}&limit=10`));
        seen.push(...ids(page));
        if (page.length < 10) break;
      }
      expect(seen).toEqual(expected());
      const since = githubIssues(25, { ties: true })[20].updated_at;
      expect(ids(await itemsOf(await fetch(`${api.url}/offset/items?limit=100&updated_since=${since}`)))).toEqual(expected(since));
      expect((await fetch(`${api.url}/offset/items?limit=-1`)).status).toBe(400);
    });
  });
});
