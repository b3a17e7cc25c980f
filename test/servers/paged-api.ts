/**
 * A local HTTP server that behaves like a paginated REST API, for the tests of pull extractors and of the
 * HTTP sync side: GitHub's "list repository issues" endpoint (page numbers, `link` header, `since`,
 * rate-limit headers) with its "get", "create" and "update an issue" endpoints, and three generic styles
 * (next-token in the body, page/size, offset/limit), with auth and fault injection.
 *
 * Every page is computed from `items` at request time, so a test can change the data between runs, or
 * between two pages of one run, and see what a client sees from a real API that changes under it.
 */
import { readFileSync } from 'node:fs';
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { LocalServer, readBody } from './local-server';

export interface ApiItem {
  id: number;
  updated_at: string;
  [field: string]: unknown;
}

/** A response served instead of a real one. Its headers override the defaults (content type, rate limit). */
export interface Fault {
  status: number;
  headers?: Record<string, string>;
  /** default: `{"message":"<reason phrase>"}` */
  body?: string;
}

export interface RecordedRequest {
  method: string;
  /** path and query, as sent */
  url: string;
  headers: Record<string, string | string[] | undefined>;
  /** the status served */
  status: number;
  /** when it arrived (Date.now()) */
  at: number;
  /** the body sent with a POST or PATCH: parsed when it is JSON, else as text; absent when there is none */
  body?: unknown;
}

const JSON_TYPE = 'application/json; charset=utf-8';
const RATE_LIMIT = 5000;
const DOCS = 'https://docs.github.com/rest';
const GITHUB_ISSUES = /^\/repos\/([^/]+)\/([^/]+)\/issues$/;
const GITHUB_ISSUE = /^\/repos\/([^/]+)\/([^/]+)\/issues\/(\d+)$/;
/** where GitHub's error bodies point for each issues operation */
const ISSUE_DOCS = {
  get: 'https://docs.github.com/rest/issues/issues#get-an-issue',
  create: 'https://docs.github.com/rest/issues/issues#create-an-issue',
  update: 'https://docs.github.com/rest/issues/issues#update-an-issue',
};
/** GitHub's reasons for closing (`duplicate` came later than the other two); `reopened` is set by reopening */
const CLOSE_REASONS = ['completed', 'not_planned', 'duplicate'];

/**
 * A client error of the API: served with `{"message": ...}`, and with GitHub's `documentation_url` and
 * `status` (as text) when `docs` is given, as GitHub's issue endpoints answer.
 */
class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly docs?: string,
  ) {
    super(message);
  }

  get body(): Record<string, string> {
    return this.docs ? { message: this.message, documentation_url: this.docs, status: String(this.status) } : { message: this.message };
  }
}

interface Page {
  /** default 200 */
  status?: number;
  headers?: Record<string, string>;
  body: unknown;
}

/** `raw`: the request body as sent ('' when there is none) */
type Route = (url: URL, raw: string) => Page;

export class PagedApiServer {
  items: ApiItem[];
  delayMs = 0;
  readonly requests: RecordedRequest[] = [];
  /**
   * Serves a fault instead of every matching request to a data route (known path, auth passed) while set,
   * before the queue of `failNext`: e.g. `api.failWhen = (r) => r.method === 'PATCH' ? faults.serverError(503) : undefined`.
   */
  failWhen?: (request: { method: string; path: string }) => Fault | undefined;

  private readonly http: LocalServer;
  private readonly token: string | undefined;
  private readonly faultQueue: Fault[] = [];
  private used = 0;
  /** one rate-limit window of an hour from the start; tests that need a reset soon use `faults.rateLimited` */
  private readonly resetEpoch = Math.floor(Date.now() / 1000) + 3600;
  private lastStamp = 0;
  /** numbers of removed issues: GitHub answers 410 for a deleted issue and never gives its number again */
  private readonly removed = new Set<number>();
  /** labels made by creates and updates that named a label no issue had, by name */
  private readonly labels = new Map<string, Record<string, unknown>>();

  private constructor(options: { items?: ApiItem[]; token?: string }) {
    this.items = options.items ?? [];
    this.token = options.token;
    this.http = new LocalServer((req, res) => void this.handle(req, res));
  }

  static async start(options: { items?: ApiItem[]; token?: string } = {}): Promise<PagedApiServer> {
    const api = new PagedApiServer(options);
    await api.http.listen();
    return api;
  }

  /** e.g. `http://127.0.0.1:41234` */
  get url(): string {
    return this.http.origin;
  }

  /**
   * Adds an item, or merges `item` into the one with the same id (fields not given are kept). `updated_at`
   * becomes `at`, or else a fresh time with GitHub's precision (whole seconds) that is later than every
   * `updated_at` in `items` and than every earlier fresh time — so it can run ahead of the clock by a few
   * seconds when a test upserts many items at once.
   */
  upsert(item: Partial<ApiItem> & { id: number }, at?: string): ApiItem {
    const updatedAt = at ?? this.freshTime();
    const index = this.items.findIndex((i) => i.id === item.id);
    const next: ApiItem = { ...(index >= 0 ? this.items[index] : {}), ...item, updated_at: updatedAt };
    if (index >= 0) this.items[index] = next;
    else this.items.push(next);
    return next;
  }

  remove(id: number): void {
    for (const item of this.items) if (item.id === id && typeof item.number === 'number') this.removed.add(item.number);
    this.items = this.items.filter((i) => i.id !== id);
  }

  /** The issue with this `number`, as the server holds it. */
  issue(number: number): ApiItem | undefined {
    return this.items.find((i) => i.number === number);
  }

  /** A time with GitHub's precision, later than every `updated_at` held and every time given before. */
  private freshTime(): string {
    const newest = this.items.reduce((max, i) => Math.max(max, timeOf(i) || 0), this.lastStamp);
    this.lastStamp = Math.max(Math.floor(Date.now() / 1000) * 1000, newest + 1000);
    return isoSeconds(this.lastStamp);
  }

  /** The next `count` requests to a data route (known path, auth passed) get `fault`; calls queue up in order. */
  failNext(count: number, fault: Fault): void {
    for (let i = 0; i < count; i++) this.faultQueue.push(fault);
  }

  /** idempotent, so an `afterEach` can close whatever the test started */
  close(): Promise<void> {
    return this.http.close();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? '';
    const record: RecordedRequest = { method, url: req.url ?? '', headers: { ...req.headers }, status: 0, at: Date.now() };
    this.requests.push(record);
    this.used++;
    try {
      const raw = method === 'GET' || method === 'HEAD' ? '' : await readBody(req);
      if (raw !== '') record.body = parseOr(raw);
      if (this.delayMs > 0) await this.http.sleep(this.delayMs);
      const url = new URL(req.url ?? '/', this.http.origin);
      const route = this.routeFor(method, url.pathname);
      if (!route) return this.send(res, record, 404, JSON.stringify({ message: 'Not Found' }));
      if (!this.authorized(req.headers.authorization)) {
        return this.send(res, record, 401, JSON.stringify({ message: 'Requires authentication', documentation_url: DOCS }));
      }
      const fault = this.failWhen?.({ method, path: url.pathname }) ?? this.faultQueue.shift();
      if (fault) {
        const body = fault.body ?? JSON.stringify({ message: STATUS_CODES[fault.status] ?? 'Error' });
        return this.send(res, record, fault.status, body, fault.headers);
      }
      const page = route(url, raw);
      this.send(res, record, page.status ?? 200, JSON.stringify(page.body), page.headers);
    } catch (err) {
      // a client error of the API (bad parameter), or a bug here: either way the test sees it in the response
      const status = err instanceof HttpError ? err.status : 500;
      const body = err instanceof HttpError ? err.body : { message: err instanceof Error ? err.message : String(err) };
      this.send(res, record, status, JSON.stringify(body));
    }
  }

  /** The handler of a method on a path; GitHub answers 404 for a method a path does not take, as for an unknown path. */
  private routeFor(method: string, path: string): Route | undefined {
    const list = GITHUB_ISSUES.exec(path);
    if (list && method === 'GET') return (url) => this.githubIssuesPage(url);
    if (list && method === 'POST') return (_url, raw) => this.createIssue(list[1]!, list[2]!, raw);
    const one = GITHUB_ISSUE.exec(path);
    if (one && method === 'GET') return () => this.getIssue(Number(one[3]));
    if (one && method === 'PATCH') return (_url, raw) => this.updateIssue(one[1]!, one[2]!, Number(one[3]), raw);
    if (method !== 'GET') return undefined;
    if (path === '/cursor/items') return (url) => this.cursorPage(url.searchParams);
    if (path === '/page/items') return (url) => this.numberedPage(url.searchParams);
    if (path === '/offset/items') return (url) => this.offsetPage(url.searchParams);
    return undefined;
  }

  private authorized(header: string | undefined): boolean {
    if (this.token === undefined) return true;
    // GitHub takes both schemes; the scheme is case-insensitive (RFC 9110), the token is not
    const match = /^(bearer|token) (.+)$/i.exec(header ?? '');
    return match !== null && match[2] === this.token;
  }

  private githubIssuesPage(url: URL): Page {
    const q = url.searchParams;
    const sort = q.get('sort') ?? 'created';
    const direction = q.get('direction') ?? 'desc';
    if (sort !== 'created' && sort !== 'updated') throw new HttpError(422, `Validation Failed: sort must be created or updated (test server)`);
    if (direction !== 'asc' && direction !== 'desc') throw new HttpError(422, 'Validation Failed: direction must be asc or desc');
    // GitHub's text says "updated after"; whether an item updated exactly at `since` is returned is not
    // documented. Serving it (>=) is the reading a client must survive: it then sees the items at its
    // watermark again and has to deduplicate them by id, which also makes it correct under the other reading.
    const since = timeParam(q, 'since', 422);
    // GitHub falls back to the defaults for bad numbers and caps per_page at 100, rather than failing
    const perPage = Math.min(positiveInt(q.get('per_page')) ?? 30, 100);
    const page = positiveInt(q.get('page')) ?? 1;

    const matching = this.items.filter((i) => since === undefined || timeOf(i) >= since);
    matching.sort(sort === 'updated' ? byUpdated : (a, b) => a.id - b.id);
    if (direction === 'desc') matching.reverse();
    const body = matching.slice((page - 1) * perPage, page * perPage);

    const headers: Record<string, string> = {};
    const last = Math.ceil(matching.length / perPage);
    if (last > 1) headers.link = linkHeader(url, this.http.origin, page, last);
    return { headers, body };
  }

  /** `GET /repos/{owner}/{repo}/issues/{issue_number}`: 404 when there is none, 410 when it was removed. */
  private getIssue(number: number): Page {
    const issue = this.issue(number);
    if (issue) return { body: issue };
    if (this.removed.has(number)) throw new HttpError(410, 'This issue was deleted', ISSUE_DOCS.get);
    throw new HttpError(404, 'Not Found', ISSUE_DOCS.get);
  }

  /**
   * `POST /repos/{owner}/{repo}/issues`: 201 with the issue and its `Location`. It gets the next `number`
   * and `id`, is open, created and updated now, by the token's user (the fixture's octocat). `title` is
   * required; `body`, `labels` (names, or objects with a `name`), `assignees` (logins) and the older
   * `assignee` are taken; a label no issue has yet is made, with GitHub's default colour. Other fields
   * (`state` among them) are ignored, as GitHub ignores them on create.
   */
  private createIssue(owner: string, repo: string, raw: string): Page {
    const input = issueInput(raw, ISSUE_DOCS.create);
    if (input.title === undefined || input.title === null || input.title === '') throw new HttpError(422, 'Invalid request.\n\n"title" wasn\'t supplied.', ISSUE_DOCS.create);
    if (typeof input.title !== 'string' && typeof input.title !== 'number') throw invalid('title', input.title, 'string or integer', ISSUE_DOCS.create);
    const template = fixtureIssue();
    const number = Math.max(1346, ...this.items.map((i) => (typeof i.number === 'number' ? i.number : 0)), ...this.removed) + 1;
    const id = Math.max(0, ...this.items.map((i) => i.id)) + 1;
    const now = this.freshTime();
    const api = `https://api.github.com/repos/${owner}/${repo}`;
    const assignees = input.assignees !== undefined ? this.users(input.assignees, ISSUE_DOCS.create) : input.assignee ? this.users([input.assignee], ISSUE_DOCS.create) : [];
    const issue: ApiItem = {
      ...template,
      id,
      node_id: Buffer.from(`05:Issue${id}`).toString('base64'),
      url: `${api}/issues/${number}`,
      repository_url: api,
      labels_url: `${api}/issues/${number}/labels{/name}`,
      comments_url: `${api}/issues/${number}/comments`,
      events_url: `${api}/issues/${number}/events`,
      html_url: `https://github.com/${owner}/${repo}/issues/${number}`,
      number,
      state: 'open',
      title: String(input.title),
      body: typeof input.body === 'string' ? input.body : null,
      labels: input.labels === undefined ? [] : this.labelObjects(input.labels, owner, repo, ISSUE_DOCS.create),
      assignee: assignees[0] ?? null,
      assignees,
      milestone: null,
      locked: false,
      active_lock_reason: null,
      comments: 0,
      closed_at: null,
      created_at: now,
      updated_at: now,
      closed_by: null,
      author_association: 'OWNER',
      state_reason: null,
    };
    delete issue.pull_request;
    this.items.push(issue);
    return { status: 201, headers: { location: `${this.http.origin}/repos/${owner}/${repo}/issues/${number}` }, body: issue };
  }

  /**
   * `PATCH /repos/{owner}/{repo}/issues/{issue_number}`: 200 with the issue. Sets `title`, `body`, `state`,
   * `labels` (the whole set: `[]` clears it), `assignees` and `milestone: null`; an update that changes
   * something moves `updated_at` on. Closing sets `closed_at`, `closed_by` and `state_reason` (`completed`
   * unless another reason is given); reopening sets `state_reason: reopened` and keeps `closed_at`, as the
   * `issues.reopened` webhook payload in `fixtures/github/` shows. `state_reason` without a change of
   * `state` is ignored, as GitHub's description of the field says.
   */
  private updateIssue(owner: string, repo: string, number: number, raw: string): Page {
    const issue = this.issue(number);
    if (!issue) throw new HttpError(this.removed.has(number) ? 410 : 404, this.removed.has(number) ? 'This issue was deleted' : 'Not Found', ISSUE_DOCS.update);
    const input = issueInput(raw, ISSUE_DOCS.update);
    const next: ApiItem = structuredClone(issue);
    if (input.title !== undefined) {
      if (typeof input.title !== 'string' && typeof input.title !== 'number') throw invalid('title', input.title, 'string or integer', ISSUE_DOCS.update);
      next.title = String(input.title);
    }
    if (input.body !== undefined) {
      if (input.body !== null && typeof input.body !== 'string') throw invalid('body', input.body, 'string or null', ISSUE_DOCS.update);
      next.body = input.body;
    }
    if (input.labels !== undefined) next.labels = this.labelObjects(input.labels, owner, repo, ISSUE_DOCS.update);
    if (input.assignees !== undefined) {
      next.assignees = this.users(input.assignees, ISSUE_DOCS.update);
      next.assignee = (next.assignees as unknown[])[0] ?? null;
    }
    if (input.milestone === null) next.milestone = null;
    if (input.state !== undefined && input.state !== 'open' && input.state !== 'closed') throw invalid('state', input.state, '"open" or "closed"', ISSUE_DOCS.update);
    const closing = input.state === 'closed' && issue.state !== 'closed';
    const reopening = input.state === 'open' && issue.state === 'closed';
    if (closing) {
      const reason = input.state_reason ?? 'completed';
      if (typeof reason !== 'string' || !CLOSE_REASONS.includes(reason)) throw invalid('state_reason', reason, CLOSE_REASONS.map((r) => `"${r}"`).join(', '), ISSUE_DOCS.update);
      Object.assign(next, { state: 'closed', state_reason: reason, closed_by: structuredClone(fixtureIssue().user) });
    }
    if (reopening) Object.assign(next, { state: 'open', state_reason: 'reopened' });
    // `next` is a copy of `issue` with fields set in place, so the key order is the same
    if (JSON.stringify(next) === JSON.stringify(issue)) return { body: issue };
    next.updated_at = this.freshTime();
    if (closing) next.closed_at = next.updated_at;
    this.items[this.items.indexOf(issue)] = next;
    return { body: next };
  }

  /** Labels from names (or `{ name }` objects): the object an issue already has under that name, else a new one. */
  private labelObjects(value: unknown, owner: string, repo: string, docs: string): Record<string, unknown>[] {
    if (!Array.isArray(value)) throw invalid('labels', value, 'array', docs);
    const names = value.map((v) => (typeof v === 'string' ? v : typeof v === 'object' && v !== null && typeof (v as { name?: unknown }).name === 'string' ? (v as { name: string }).name : undefined));
    if (names.some((n) => n === undefined || n.trim() === '')) throw invalid('labels', value, 'array of label names', docs);
    const out: Record<string, unknown>[] = [];
    for (const name of new Set(names as string[])) {
      let label = this.labels.get(name);
      for (const item of this.items) {
        if (label) break;
        label = (Array.isArray(item.labels) ? (item.labels as Record<string, unknown>[]) : []).find((l) => l.name === name);
      }
      if (!label) {
        const id = 208045946 + this.labels.size + 1;
        label = {
          id,
          node_id: Buffer.from(`05:Label${id}`).toString('base64'),
          url: `https://api.github.com/repos/${owner}/${repo}/labels/${encodeURIComponent(name)}`,
          name,
          description: null,
          color: 'ededed',
          default: false,
        };
        this.labels.set(name, label);
      }
      out.push(structuredClone(label));
    }
    return out;
  }

  /** Users from logins, shaped like the fixture's octocat. */
  private users(value: unknown, docs: string): Record<string, unknown>[] {
    if (!Array.isArray(value) || value.some((v) => typeof v !== 'string' || v === '')) throw invalid('assignees', value, 'array of logins', docs);
    const octocat = fixtureIssue().user as Record<string, unknown>;
    return [...new Set(value as string[])].map((login) =>
      login === octocat.login
        ? structuredClone(octocat)
        : {
            ...Object.fromEntries(Object.entries(octocat).map(([k, v]) => [k, typeof v === 'string' ? v.replaceAll('octocat', login) : v])),
            id: 1000 + [...login].reduce((n, c) => (n * 31 + c.charCodeAt(0)) % 1_000_000, 0),
            node_id: Buffer.from(`04:User${login}`).toString('base64'),
          },
    );
  }

  private cursorPage(q: URLSearchParams): Page {
    const limit = strictInt(q, 'limit', 10, 1);
    const after = q.get('after');
    const since = timeParam(q, 'updated_since', 400);
    // keyset pagination: a token names the last item served, so items changed during a walk move behind it
    // and are served again later, as with a real cursor API
    const from = after === null ? undefined : decodeCursor(after);
    const matching = this.sorted(since).filter((i) => from === undefined || timeOf(i) > from[0] || (timeOf(i) === from[0] && i.id > from[1]));
    const data = matching.slice(0, limit);
    const lastServed = data.at(-1);
    const next = matching.length > limit && lastServed ? encodeCursor(lastServed) : null;
    return { body: { data, meta: { next } } };
  }

  private numberedPage(q: URLSearchParams): Page {
    const page = strictInt(q, 'page', 1, 1);
    const size = strictInt(q, 'size', 10, 1);
    const matching = this.sorted(timeParam(q, 'updated_since', 400));
    return { body: { results: matching.slice((page - 1) * size, page * size), total: matching.length } };
  }

  private offsetPage(q: URLSearchParams): Page {
    const offset = strictInt(q, 'offset', 0, 0);
    const limit = strictInt(q, 'limit', 10, 1);
    return { body: this.sorted(timeParam(q, 'updated_since', 400)).slice(offset, offset + limit) };
  }

  /** the items updated at or after `since`, by (updated_at, id) ascending */
  private sorted(since: number | undefined): ApiItem[] {
    return this.items.filter((i) => since === undefined || timeOf(i) >= since).sort(byUpdated);
  }

  private send(res: ServerResponse, record: RecordedRequest, status: number, body: string, extra: Record<string, string> = {}): void {
    record.status = status;
    if (res.destroyed) return; // the client gave up (or close() ran) while we were waiting
    const headers: Record<string, string> = {
      'content-type': JSON_TYPE,
      'x-ratelimit-limit': String(RATE_LIMIT),
      'x-ratelimit-remaining': String(Math.max(0, RATE_LIMIT - this.used)),
      'x-ratelimit-used': String(this.used),
      'x-ratelimit-reset': String(this.resetEpoch),
      'x-ratelimit-resource': 'core',
    };
    for (const [name, value] of Object.entries(extra)) headers[name.toLowerCase()] = value;
    headers['content-length'] = String(Buffer.byteLength(body));
    res.writeHead(status, headers);
    res.end(body);
  }

}

/** Ready-made faults, shaped like GitHub's. Use with `failNext(count, fault)`. */
export const faults = {
  /** a secondary rate limit with `retry-after` in seconds */
  tooManyRequests(seconds = 1): Fault {
    return {
      status: 429,
      headers: { 'retry-after': String(seconds) },
      body: JSON.stringify({
        message: 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.',
        documentation_url: DOCS,
      }),
    };
  },
  /** 429 with `retry-after` as an HTTP date (whole seconds, so the wait it asks for is up to 1 s shorter than `date`) */
  retryAfterDate(date: Date): Fault {
    return { ...faults.tooManyRequests(), headers: { 'retry-after': date.toUTCString() } };
  },
  /** the primary rate limit: 403, `x-ratelimit-remaining: 0`, no `retry-after`; wait until `x-ratelimit-reset` */
  rateLimited(resetEpochSeconds = Math.floor(Date.now() / 1000) + 1): Fault {
    return {
      status: 403,
      headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-used': String(RATE_LIMIT), 'x-ratelimit-reset': String(resetEpochSeconds) },
      body: JSON.stringify({ message: 'API rate limit exceeded for user ID 1.', documentation_url: DOCS }),
    };
  },
  /** a proxy's error page: HTML, not JSON, as a client gets from a load balancer */
  serverError(status = 502): Fault {
    const title = `${status} ${STATUS_CODES[status] ?? 'Server Error'}`;
    const body = `<html><head><title>${title}</title></head><body><h1>${title}</h1></body></html>\n`;
    return { status, headers: { 'content-type': 'text/html' }, body };
  },
};

const FIXTURE = join(__dirname, '..', '..', 'fixtures', 'github', 'api', 'issues-list.example.json');

/**
 * `n` GitHub issues made from the fixture example: ids 1..n, numbers from 1347, distinct titles; every third
 * one is a pull request (the issues endpoint returns those too). `updated_at` goes up by 1 s from `base`
 * (default: the fixture's). With `ties`, items come in groups of 1, 3 and 2 (repeating) sharing one
 * `updated_at`: ids 1 | 2 3 4 | 5 6 | 7 | 8 9 10 | …, so ties fall on page boundaries for most page sizes.
 */
export function githubIssues(n: number, options: { ties?: boolean; base?: string } = {}): ApiItem[] {
  const template = fixtureIssue();
  const base = Date.parse(options.base ?? template.updated_at);
  const groups = [1, 3, 2];
  const items: ApiItem[] = [];
  let step = 0;
  let left = groups[0];
  for (let id = 1; id <= n; id++) {
    if (options.ties && left === 0) left = groups[++step % groups.length];
    left--;
    const second = options.ties ? step : id - 1;
    const number = 1346 + id;
    const closed = id % 5 === 0;
    const updatedAt = isoSeconds(base + second * 1000);
    const issueUrl = `https://api.github.com/repos/octocat/Hello-World/issues/${number}`;
    const issue: ApiItem = {
      ...structuredClone(template),
      id,
      node_id: Buffer.from(`05:Issue${id}`).toString('base64'),
      url: issueUrl,
      labels_url: `${issueUrl}/labels{/name}`,
      comments_url: `${issueUrl}/comments`,
      events_url: `${issueUrl}/events`,
      html_url: `https://github.com/octocat/Hello-World/issues/${number}`,
      number,
      title: `Found a bug (${number})`,
      state: closed ? 'closed' : 'open',
      state_reason: closed ? 'completed' : null,
      closed_at: closed ? updatedAt : null,
      closed_by: closed ? structuredClone(template.closed_by) : null,
      comments: id % 4,
      created_at: isoSeconds(base - 86_400_000 + (id - 1) * 1000),
      updated_at: updatedAt,
    };
    if (id % 3 === 0) {
      const pr = `https://github.com/octocat/Hello-World/pull/${number}`;
      const api = `https://api.github.com/repos/octocat/Hello-World/pulls/${number}`;
      issue.pull_request = { url: api, html_url: pr, diff_url: `${pr}.diff`, patch_url: `${pr}.patch` };
    } else {
      delete issue.pull_request;
    }
    items.push(issue);
  }
  return items;
}

function fixtureIssue(): ApiItem {
  const parsed: unknown = JSON.parse(readFileSync(FIXTURE, 'utf8'));
  const first: unknown = Array.isArray(parsed) ? parsed[0] : undefined;
  if (typeof first !== 'object' || first === null) throw new Error(`${FIXTURE}: expected an array of issues`);
  const record = first as Record<string, unknown>;
  if (typeof record.id !== 'number' || typeof record.updated_at !== 'string') throw new Error(`${FIXTURE}: issue without id or updated_at`);
  return { ...record, id: record.id, updated_at: record.updated_at };
}

/** GitHub's order of relations, as in its documentation's example: prev, next, last, first */
function linkHeader(request: URL, origin: string, page: number, last: number): string {
  const to = (n: number): string => {
    const target = new URL(request.pathname + request.search, origin);
    target.searchParams.set('page', String(n)); // keeps every other parameter (per_page, since, sort…) as sent
    return target.href;
  };
  const links: string[] = [];
  if (page > 1) links.push(`<${to(Math.min(page - 1, last))}>; rel="prev"`);
  if (page < last) links.push(`<${to(page + 1)}>; rel="next"`, `<${to(last)}>; rel="last"`);
  if (page > 1) links.push(`<${to(1)}>; rel="first"`);
  return links.join(', ');
}

/** The JSON object a create or update sends; GitHub answers 400 for a body that is not JSON. */
function issueInput(raw: string, docs: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new HttpError(400, 'Problems parsing JSON', docs);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new HttpError(400, 'Body should be a JSON object', docs);
  return value as Record<string, unknown>;
}

/** a value of the wrong kind, in the words of GitHub's schema validation */
function invalid(field: string, value: unknown, expected: string, docs: string): HttpError {
  return new HttpError(422, `Invalid request.\n\nFor 'properties/${field}', ${JSON.stringify(value)} is not ${expected}.`, docs);
}

/** a recorded body: JSON when it parses, else the text */
function parseOr(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

function timeOf(item: ApiItem): number {
  return Date.parse(item.updated_at);
}

function byUpdated(a: ApiItem, b: ApiItem): number {
  return timeOf(a) - timeOf(b) || a.id - b.id;
}

/** `YYYY-MM-DDTHH:MM:SSZ`, GitHub's format */
function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function timeParam(q: URLSearchParams, name: string, status: number): number | undefined {
  const raw = q.get(name);
  if (raw === null) return undefined;
  const t = Date.parse(raw);
  if (Number.isNaN(t)) throw new HttpError(status, `${name} is not an ISO 8601 time: ${raw}`);
  return t;
}

function positiveInt(raw: string | null): number | undefined {
  const n = raw !== null && /^\d+$/.test(raw) ? Number(raw) : 0;
  return n >= 1 ? n : undefined;
}

/** the generic routes are strict, so a client that sends a wrong parameter finds out */
function strictInt(q: URLSearchParams, name: string, fallback: number, min: number): number {
  const raw = q.get(name);
  if (raw === null) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min) throw new HttpError(400, `${name} must be an integer >= ${min}: ${raw}`);
  return Number(raw);
}

function encodeCursor(item: ApiItem): string {
  return Buffer.from(JSON.stringify([timeOf(item), item.id])).toString('base64url');
}

function decodeCursor(token: string): [number, number] {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    value = undefined;
  }
  if (Array.isArray(value) && value.length === 2 && typeof value[0] === 'number' && typeof value[1] === 'number') return [value[0], value[1]];
  throw new HttpError(400, `invalid cursor: ${token}`);
}
