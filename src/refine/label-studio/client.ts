/**
 * A Label Studio API client with what the annotation step needs: both kinds of key (a legacy token sent
 * as `Token`, or a Personal Access Token exchanged for short-lived access tokens sent as `Bearer`, and
 * exchanged again when one expires), finding or creating a project, importing tasks in chunks within
 * the documented limits, and listing tasks with their annotations page by page. Paths keep Label
 * Studio's exact trailing slashes. Transient failures (network, 429, 5xx) are retried with backoff,
 * honouring `Retry-After`.
 */
import pRetry, { AbortError } from 'p-retry';
import { msg } from '../../core/i18n';
import { SluiceError, asError, messageOf } from '../../core/errors';
import { metrics } from '../../observe/metrics';
import { stringifyLossless } from '../../core/json-text';

export interface LabelStudioOptions {
  url: string;
  /** A legacy token, or a Personal Access Token (a JWT refresh token). */
  token: string;
  timeoutMs?: number;
  retries?: number;
  retryDelayMs?: number;
  signal?: AbortSignal;
}

export interface LsProject {
  id: number;
  title: string;
  label_config: string;
}

export interface LsAnnotation {
  id: number;
  result: unknown[];
  was_cancelled: boolean;
  ground_truth?: boolean;
  created_at: string;
  updated_at: string;
  lead_time?: number | null;
  completed_by?: number | { id: number; email?: string } | null;
}

export interface LsTask {
  id: number;
  data: Record<string, unknown>;
  meta?: unknown;
  annotations?: LsAnnotation[];
  predictions?: unknown[];
  updated_at?: string;
}

export interface NewTask {
  data: Record<string, unknown>;
  meta?: Record<string, unknown>;
  predictions?: { model_version: string; score?: number; result: unknown[] }[];
}

/** Label Studio takes up to 250,000 tasks and 200 MB in one import; chunks stay well inside both. */
const CHUNK_TASKS = 1000;
const CHUNK_BYTES = 50 * 1024 * 1024;

export class LabelStudioClient {
  private readonly base: string;
  private readonly pat: boolean;
  private access: string | undefined;

  constructor(private readonly o: LabelStudioOptions) {
    this.base = o.url.replace(/\/+$/, '');
    this.pat = isPersonalAccessToken(o.token);
  }

  async version(): Promise<{ release: string; edition: string }> {
    return this.request('GET', '/api/version/');
  }

  /** The project with this title, or a new one with this labeling config. */
  async ensureProject(title: string, labelConfig: string): Promise<LsProject> {
    for (let path: string | null = '/api/projects/?page=1&page_size=100'; path !== null; ) {
      const page: { results: LsProject[]; next: string | null } = await this.request('GET', path);
      const found = page.results.find((p) => p.title === title);
      if (found) return found;
      path = page.next ? relative(page.next) : null;
    }
    return this.request('POST', '/api/projects/', { title, label_config: labelConfig });
  }

  /** Imports tasks (in chunks) and returns their ids, in order. */
  async importTasks(project: number, tasks: readonly NewTask[]): Promise<number[]> {
    const ids: number[] = [];
    for (const chunk of chunks(tasks)) {
      const r: { task_ids?: number[]; task_count: number } = await this.request('POST', `/api/projects/${project}/import?return_task_ids=true`, chunk);
      if (!Array.isArray(r.task_ids) || r.task_ids.length !== chunk.length) {
        throw new SluiceError('SLUICE_LABEL_STUDIO', msg('err.refine.label-studio.client.1', { task_count: r.task_count, length: chunk.length, project }), {});
      }
      ids.push(...r.task_ids);
    }
    return ids;
  }

  /** Every task of a project with its annotations, a page at a time (stopping at the total, as the API asks). */
  async *tasks(project: number, pageSize = 100): AsyncGenerator<LsTask[]> {
    let seen = 0;
    for (let page = 1; ; page++) {
      const r: { tasks: LsTask[]; total: number } = await this.request('GET', `/api/tasks/?project=${project}&page=${page}&page_size=${pageSize}&fields=all`);
      if (r.tasks.length === 0) return;
      yield r.tasks;
      seen += r.tasks.length;
      if (seen >= r.total) return;
    }
  }

  async task(id: number): Promise<LsTask> {
    return this.request('GET', `/api/tasks/${id}/`);
  }

  /**
   * A file Label Studio answers with (an export): named by `Content-Disposition`, since the server's
   * Content-Type for single files is not a real media type (`application/.json`). The body is left to
   * the caller to read as a stream.
   */
  async download(path: string): Promise<{ filename: string | undefined; body: ReadableStream<Uint8Array> }> {
    return this.request('GET', path, undefined, async (res) => ({ filename: attachmentName(res.headers.get('content-disposition')), body: res.body! }));
  }

  /** One API call, retried when transient; `read` takes a successful response (default: its JSON). */
  async request<T>(
    method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
    path: string,
    body?: unknown,
    read: (res: Response) => Promise<T> = async (res) => {
      const text = await res.text();
      return (text === '' ? undefined : JSON.parse(text)) as T;
    },
  ): Promise<T> {
    let refreshed = false;
    return pRetry(
      async () => {
        this.o.signal?.throwIfAborted();
        const res = await this.send(method, path, body);
        if (res.status === 401 && this.pat && !refreshed) {
          // the access token expired: exchange the PAT again, once, and repeat the call
          refreshed = true;
          this.access = undefined;
          throw new Transient('access token expired', 0);
        }
        if (res.ok) return read(res);
        const text = await res.text();
        const failure = new SluiceError('SLUICE_LABEL_STUDIO', msg('err.refine.label-studio.client.2', { method, base: this.base, value: path.split('?')[0], status: res.status, value2: text.replace(/\s+/g, ' ').slice(0, 300) }),
          { status: res.status },
        );
        if (res.status === 429 || res.status >= 500) throw new Transient(failure.message, retryAfterMs(res), failure);
        throw new AbortError(failure);
      },
      {
        retries: this.o.retries ?? 4,
        minTimeout: this.o.retryDelayMs ?? 500,
        factor: 2,
        randomize: true,
        onFailedAttempt: async (err) => {
          const t = err as unknown as Transient & { retriesLeft: number };
          if (!(t instanceof Transient)) throw err;
          if (t.retriesLeft === 0) throw t.failure ?? new SluiceError('SLUICE_LABEL_STUDIO', msg('err.refine.label-studio.token_refresh'));
          metrics.retries.inc({ pipeline: '', component: 'label_studio' }); // the client serves any pipeline's step
          if (t.waitMs > 0) await new Promise((r) => setTimeout(r, Math.min(t.waitMs, 60_000)));
        },
      },
    );
  }

  private async send(method: string, path: string, body: unknown): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json', authorization: await this.authorization() };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const signals = [AbortSignal.timeout(this.o.timeoutMs ?? 30_000), ...(this.o.signal ? [this.o.signal] : [])];
    try {
      return await fetch(`${this.base}${path}`, { method, headers, body: body === undefined ? undefined : stringifyLossless(body), signal: AbortSignal.any(signals) });
    } catch (err) {
      if (this.o.signal?.aborted) throw new AbortError(asError(err));
      const failure = new SluiceError('SLUICE_LABEL_STUDIO', msg('err.refine.label-studio.unreachable', { base: this.base, reason: messageOf(err) }));
      throw new Transient(failure.message, 0, failure);
    }
  }

  private async authorization(): Promise<string> {
    if (!this.pat) return `Token ${this.o.token}`;
    if (!this.access) {
      const res = await fetch(`${this.base}/api/token/refresh/`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ refresh: this.o.token }),
        signal: AbortSignal.timeout(this.o.timeoutMs ?? 30_000),
      });
      const text = await res.text();
      if (!res.ok) throw new AbortError(new SluiceError('SLUICE_LABEL_STUDIO', msg('err.refine.label-studio.client.3', { status: res.status, value: text.slice(0, 200) }), { status: res.status }));
      this.access = (JSON.parse(text) as { access: string }).access;
    }
    return `Bearer ${this.access}`;
  }
}

class Transient extends Error {
  constructor(
    message: string,
    readonly waitMs: number,
    readonly failure?: SluiceError,
  ) {
    super(message);
  }
}

/** A PAT is a JWT refresh token with an expiry; anything else is a legacy token. */
export function isPersonalAccessToken(token: string): boolean {
  const parts = token.split('.');
  if (parts.length !== 3) return false;
  try {
    const payload = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as { exp?: unknown };
    if (typeof payload.exp !== 'number') return false;
    if (payload.exp * 1000 < Date.now()) throw new SluiceError('SLUICE_LABEL_STUDIO', msg('err.refine.label-studio.client.4'), {});
    return true;
  } catch (err) {
    if (err instanceof SluiceError) throw err;
    return false;
  }
}

function retryAfterMs(res: Response): number {
  const v = res.headers.get('retry-after');
  if (v === null) return 0;
  const s = Number(v);
  if (Number.isFinite(s)) return s * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? 0 : Math.max(0, t - Date.now());
}

/** `attachment; filename="a.json"` or RFC 6266's `filename*=UTF-8''a%20b.json`, without any folder. */
export function attachmentName(header: string | null): string | undefined {
  if (!header) return undefined;
  const star = /filename\*\s*=\s*[^']*'[^']*'([^;]+)/i.exec(header);
  const plain = /filename\s*=\s*("([^"]*)"|[^;]+)/i.exec(header);
  const name = star ? decodeURIComponent(star[1]!.trim()) : plain ? (plain[2] ?? plain[1]!).trim() : undefined;
  // snapshot downloads name the file with its storage folder (`export/3/project-3-at-...json`)
  return name?.split('/').pop();
}

function relative(next: string): string {
  const u = new URL(next);
  return `${u.pathname}${u.search}`;
}

function* chunks(tasks: readonly NewTask[]): Generator<NewTask[]> {
  let chunk: NewTask[] = [];
  let bytes = 0;
  for (const t of tasks) {
    const size = Buffer.byteLength(stringifyLossless(t));
    if (chunk.length > 0 && (chunk.length >= CHUNK_TASKS || bytes + size > CHUNK_BYTES)) {
      yield chunk;
      chunk = [];
      bytes = 0;
    }
    chunk.push(t);
    bytes += size;
  }
  if (chunk.length > 0) yield chunk;
}
