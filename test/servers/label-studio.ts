/**
 * A local HTTP server that behaves like a Label Studio (Community 1.13) instance, for the tests of the Label
 * Studio client. It follows /work/shared/reference/label-studio.md §1–6 and §8: both kinds of API key
 * (legacy `Token`, and a Personal Access Token exchanged at `/api/token/refresh` for short-lived `Bearer`
 * access tokens), projects, the synchronous JSON import, the paginated task list and annotations, and the
 * export API: the synchronous export (`/export`, JSON / JSON_MIN / COCO), the format list, and export
 * snapshots (`/exports/`: create, poll, convert, download, delete) whose status moves over successive polls.
 * COCO is produced by a port of the official converter (`convertToCoco`, reference §8), quirks included.
 *
 * Paths are matched exactly, trailing slashes included, as Django does: `/api/projects/` but
 * `/api/projects/{id}/import` (the slashed variant is a 404). Both `/api/token/refresh` and
 * `/api/token/refresh/` exist. An unknown path is a 404 before authentication (URL resolution comes first
 * in Django); on a known path, authentication comes first, then a queued fault (`failNext`), then the
 * method check (405), then the handler.
 *
 * Everything is computed from the public `projects` / `tasks` arrays at request time, so a test can change
 * the data between two pages of a walk. `annotate()` does what a person in the UI does.
 */
import { createHash, createHmac, randomBytes, randomUUID } from 'node:crypto';
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import { strToU8, zipSync } from 'fflate';
import { LocalServer, readBody } from './local-server';

/** An annotation as the API serializes it (reference §6; `completed_by` is the user id). */
export interface Annotation {
  id: number;
  result: unknown[];
  was_cancelled: boolean;
  ground_truth: boolean;
  created_at: string;
  updated_at: string;
  draft_created_at: string | null;
  /** seconds; null for imported annotations that did not give one */
  lead_time: number | null;
  completed_by: number;
  task: number;
  project: number;
  [field: string]: unknown;
}

export interface Project {
  id: number;
  title: string;
  label_config: string;
  [field: string]: unknown;
}

export interface Task {
  id: number;
  project: number;
  data: Record<string, unknown>;
  meta?: unknown;
  annotations: Annotation[];
  predictions: unknown[];
  updated_at: string;
  created_at: string;
  [field: string]: unknown;
}

/** A response served instead of a real one (after authentication). Default body `{"detail": "<reason phrase>"}`. */
export interface Fault {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

export interface RecordedRequest {
  method: string;
  /** path and query, as sent */
  url: string;
  headers: Record<string, string | string[] | undefined>;
  /** the JSON-parsed body; the raw text if it is not JSON; undefined if empty */
  body: unknown;
  /** the status served */
  status: number;
}

export type ExportStatus = 'created' | 'in_progress' | 'failed' | 'completed';

/** A file the server serves for download: its storage name (without the `export/<project>/` folder) and bytes. */
export interface ExportFile {
  name: string;
  data: Uint8Array;
}

/** A conversion of a snapshot (`converted_formats[]`); the API shows `id`, `status`, `export_type`, `traceback`. */
export interface ConvertedFormat {
  id: number;
  status: ExportStatus;
  export_type: string;
  traceback: string | null;
  /** set once completed */
  file: ExportFile | null;
  /** GETs of the snapshot seen since the conversion was asked for, and how many it takes to finish */
  polls: number;
  pollsUntilDone: number;
  outcome: 'completed' | 'failed';
}

/**
 * An export snapshot. The API fields are `title`, `id`, `created_by`, `created_at`, `finished_at`, `status`,
 * `md5`, `counters`, `converted_formats`; the rest is the fake's bookkeeping. The content is frozen when the
 * snapshot is created, as the real server serializes the tasks then (later annotations are not in it).
 */
export interface ExportSnapshot {
  id: number;
  project: number;
  title: string;
  created_by: Record<string, unknown>;
  created_at: string;
  finished_at: string | null;
  status: ExportStatus;
  md5: string;
  counters: Record<string, unknown>;
  converted_formats: ConvertedFormat[];
  /** the snapshot's JSON file (Python `json` formatting: `, ` and `: ` separators) */
  file: ExportFile;
  /** the serialized tasks in that file */
  tasks: Record<string, unknown>[];
  polls: number;
  pollsUntilDone: number;
  outcome: 'completed' | 'failed';
}

export interface FakeLabelStudioOptions {
  /** the legacy API key (`Authorization: Token <it>`); default 'legacy-token' */
  legacyToken?: string;
  /** the Personal Access Token (a refresh JWT) the server accepts at /api/token/refresh; default: one it builds */
  pat?: string;
}

const JSON_TYPE = 'application/json';
const USER_ID = 1;
/** the one user of the instance, as `UserSimpleSerializer` shows it */
const USER = { id: USER_ID, first_name: '', last_name: '', email: 'test@example.com', avatar: null };
const PROJECT_PAGE_SIZE = 30;
const TASK_PAGE_SIZE = 100;
const NOT_FOUND = { detail: 'Not found.' };
const TOKEN_NOT_VALID = { detail: 'Given token not valid for any token type', code: 'token_not_valid' };

/** a failure inside the (ported) converter: the real server answers 500, or marks the conversion failed */
export class ConversionError extends Error {}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(`HTTP ${status}`);
  }
}

/** a JSON `body`, or a `raw` answer (a file, a text) with its own headers */
interface Reply {
  status: number;
  body?: unknown;
  raw?: { data: string | Uint8Array; headers: Record<string, string> };
}
type Handler = (ctx: Ctx) => Reply;
interface Ctx {
  url: URL;
  match: RegExpExecArray;
  body: unknown;
  /** `http://host` as the client addressed us, for absolute next/previous links */
  origin: string;
}
interface Route {
  pattern: RegExp;
  auth: boolean;
  methods: Record<string, Handler>;
}

export class FakeLabelStudio {
  readonly pat: string;
  /** how long issued access tokens stay valid; tests set it small to force refreshes */
  accessTokenTtlMs = 5 * 60 * 1000;
  projects: Project[] = [];
  tasks: Task[] = [];
  delayMs = 0;
  readonly requests: RecordedRequest[] = [];
  /** export snapshots of every project, in creation order (the API lists a project's newest first) */
  exports: ExportSnapshot[] = [];
  /**
   * How many GETs of a snapshot (`/exports/{pk}`) it takes to finish, read when the snapshot is created: the
   * POST answers `created`, polls 1..n-1 `in_progress`, poll n `completed` (or `failed`, see
   * `failNextSnapshot`). 0: finished already in the POST's answer, as a Community server without a worker.
   */
  snapshotPollsUntilDone = 2;
  /** the same for a conversion (`converted_formats[i]`), counted in GETs of its snapshot after the convert call */
  conversionPollsUntilDone = 2;

  private readonly legacyToken: string;
  private readonly secret = randomBytes(32);
  /** jti of each issued access token → when it stops being valid (ms) */
  private readonly accessTokens = new Map<string, number>();
  private readonly faultQueue: Fault[] = [];
  private readonly http: LocalServer;
  private readonly routes: Route[];
  private lastMicros = 0;
  private nextIds = { project: 1, task: 1, annotation: 1, prediction: 1, export: 1, convertedFormat: 1 };
  private snapshotFailures = 0;
  private conversionFailures = 0;

  private constructor(options: FakeLabelStudioOptions) {
    this.legacyToken = options.legacyToken ?? 'legacy-token';
    this.pat = options.pat ?? this.sign({ token_type: 'refresh', exp: Math.floor(Date.now() / 1000) + 86400, iat: nowSeconds(), jti: hex(), user_id: USER_ID });
    this.http = new LocalServer((req, res) => void this.handle(req, res));
    this.routes = this.buildRoutes();
  }

  static async start(options: FakeLabelStudioOptions = {}): Promise<FakeLabelStudio> {
    const ls = new FakeLabelStudio(options);
    await ls.http.listen();
    return ls;
  }

  /** e.g. `http://127.0.0.1:41234`, no trailing slash */
  get url(): string {
    return this.http.origin;
  }

  /**
   * As a person would in the UI: adds an annotation to task `taskId` (submitted, or skipped with
   * `cancelled`), by user `annotator` (default 1), and bumps the task's `updated_at`. Throws for an unknown task.
   */
  annotate(taskId: number, result: unknown[], opts: { cancelled?: boolean; annotator?: number; leadTime?: number } = {}): Annotation {
    const task = this.tasks.find((t) => t.id === taskId);
    if (!task) throw new Error(`FakeLabelStudio.annotate: no task ${taskId}`);
    const cancelled = opts.cancelled ?? false;
    const annotation = this.newAnnotation(task, {
      result: cancelled ? [] : result,
      was_cancelled: cancelled,
      lead_time: opts.leadTime ?? 12.5,
      completed_by: opts.annotator ?? USER_ID,
      last_action: cancelled ? 'skipped' : 'submitted',
    });
    annotation.draft_created_at = annotation.created_at;
    task.annotations.push(annotation);
    task.updated_at = annotation.updated_at;
    return annotation;
  }

  /** The next `count` requests to a known API route that pass authentication get `fault` (not the token refresh). */
  failNext(count: number, fault: Fault): void {
    for (let i = 0; i < count; i++) this.faultQueue.push(fault);
  }

  /** The next `count` snapshots created end `failed` (after the same polls) instead of `completed`. */
  failNextSnapshot(count = 1): void {
    this.snapshotFailures += count;
  }

  /** The next `count` conversions asked for end `failed`, with a traceback, instead of `completed`. */
  failNextConversion(count = 1): void {
    this.conversionFailures += count;
  }

  /** idempotent, so an `afterEach` can close whatever the test started */
  close(): Promise<void> {
    return this.http.close();
  }

  // ---------------------------------------------------------------------------------------------- plumbing

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const record: RecordedRequest = { method: req.method ?? '', url: req.url ?? '', headers: { ...req.headers }, body: undefined, status: 0 };
    this.requests.push(record);
    try {
      const raw = await readBody(req);
      if (raw.length > 0) {
        try {
          record.body = JSON.parse(raw);
        } catch {
          record.body = raw;
        }
      }
      if (this.delayMs > 0) await this.http.sleep(this.delayMs);
      const url = new URL(req.url ?? '/', this.http.origin);
      const method = (req.method ?? 'GET').toUpperCase();
      let found: { route: Route; match: RegExpExecArray } | undefined;
      for (const route of this.routes) {
        const m = route.pattern.exec(url.pathname);
        if (m) {
          found = { route, match: m };
          break;
        }
      }
      if (!found) return this.send(res, record, 404, NOT_FOUND);
      const { route, match } = found;
      if (route.auth) {
        this.authenticate(req.headers.authorization);
        const fault = this.faultQueue.shift();
        if (fault) {
          const body = fault.body ?? JSON.stringify({ detail: STATUS_CODES[fault.status] ?? 'Error' });
          return this.sendRaw(res, record, fault.status, body, fault.headers);
        }
      }
      const handler = route.methods[method];
      if (!handler) throw new HttpError(405, { detail: `Method "${method}" not allowed.` });
      const body = method === 'POST' || method === 'PATCH' || method === 'PUT' ? parseBody(req.headers['content-type'], raw) : undefined;
      const origin = `http://${req.headers.host ?? this.http.origin.slice('http://'.length)}`;
      const out = handler({ url, match, body, origin });
      if (out.raw) return this.sendRaw(res, record, out.status, out.raw.data, out.raw.headers);
      this.send(res, record, out.status, out.body);
    } catch (err) {
      if (err instanceof HttpError) return this.send(res, record, err.status, err.body);
      this.send(res, record, 500, { detail: `FakeLabelStudio bug: ${err instanceof Error ? err.stack : String(err)}` });
    }
  }

  private send(res: ServerResponse, record: RecordedRequest, status: number, body: unknown): void {
    this.sendRaw(res, record, status, body === undefined ? '' : JSON.stringify(body));
  }

  private sendRaw(res: ServerResponse, record: RecordedRequest, status: number, body: string | Uint8Array, extra: Record<string, string> = {}): void {
    record.status = status;
    if (res.destroyed) return;
    const headers: Record<string, string> = { vary: 'Accept, Cookie' };
    if (body.length > 0) headers['content-type'] = JSON_TYPE;
    for (const [name, value] of Object.entries(extra)) headers[name.toLowerCase()] = value;
    headers['content-length'] = String(Buffer.byteLength(body));
    res.writeHead(status, headers);
    res.end(body);
  }

  // ---------------------------------------------------------------------------------------------- auth

  /**
   * DRF TokenAuthentication for `Token` (scheme case-insensitive), simplejwt for `Bearer`. Any Bearer that is
   * not a live access token issued here (garbage, the PAT itself, an expired one) gets simplejwt's
   * `token_not_valid` body, as the real server answers.
   */
  private authenticate(header: string | undefined): void {
    const parts = (header ?? '').trim().split(/\s+/).filter(Boolean);
    const scheme = parts[0] ?? '';
    if (scheme.toLowerCase() === 'token') {
      if (parts.length === 1) throw new HttpError(401, { detail: 'Invalid token header. No credentials provided.' });
      if (parts.length > 2) throw new HttpError(401, { detail: 'Invalid token header. Token string should not contain spaces.' });
      if (parts[1] !== this.legacyToken) throw new HttpError(401, { detail: 'Invalid token.' });
      return;
    }
    if (scheme === 'Bearer' && parts.length === 2) {
      const claims = this.verify(parts[1]!);
      const expiresAt = claims?.token_type === 'access' && typeof claims.jti === 'string' ? this.accessTokens.get(claims.jti) : undefined;
      if (expiresAt === undefined || Date.now() >= expiresAt) throw new HttpError(401, TOKEN_NOT_VALID);
      return;
    }
    throw new HttpError(401, { detail: 'Authentication credentials were not provided.' });
  }

  private refresh(ctx: Ctx): { status: number; body: unknown } {
    const body = ctx.body;
    const refresh = isObject(body) ? body.refresh : undefined;
    if (refresh === undefined || refresh === null || refresh === '') throw new HttpError(400, { refresh: ['This field is required.'] });
    // only the PAT this server was started with, and only while its `exp` (if it has one) is in the future
    const exp = typeof refresh === 'string' ? decodeJwt(refresh)?.exp : undefined;
    if (refresh !== this.pat || (typeof exp === 'number' && exp * 1000 <= Date.now())) {
      throw new HttpError(401, { detail: 'Token is invalid or expired', code: 'token_not_valid' });
    }
    const jti = hex();
    const expiresAt = Date.now() + this.accessTokenTtlMs;
    this.accessTokens.set(jti, expiresAt);
    // the claim is in whole seconds, rounded up: the server's own check (to the ms) can come first
    return { status: 200, body: { access: this.sign({ token_type: 'access', exp: Math.ceil(expiresAt / 1000), iat: nowSeconds(), jti, user_id: USER_ID }) } };
  }

  private sign(payload: Record<string, unknown>): string {
    const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
    const body = b64url(JSON.stringify(payload));
    const sig = createHmac('sha256', this.secret).update(`${head}.${body}`).digest('base64url');
    return `${head}.${body}.${sig}`;
  }

  private verify(token: string): Record<string, unknown> | undefined {
    const [head, body, sig] = token.split('.');
    if (!head || !body || !sig) return undefined;
    if (createHmac('sha256', this.secret).update(`${head}.${body}`).digest('base64url') !== sig) return undefined;
    return decodeJwt(token);
  }

  // ---------------------------------------------------------------------------------------------- routes

  private buildRoutes(): Route[] {
    const id = (ctx: Ctx): number => Number(ctx.match[1]);
    return [
      { pattern: /^\/api\/token\/refresh\/?$/, auth: false, methods: { POST: (c) => this.refresh(c) } },
      { pattern: /^\/api\/version\/$/, auth: true, methods: { GET: () => ({ status: 200, body: { release: '1.13.1', edition: 'Community' } }) } },
      {
        pattern: /^\/api\/projects\/$/,
        auth: true,
        methods: { GET: (c) => this.listProjects(c), POST: (c) => this.createProject(c) },
      },
      {
        pattern: /^\/api\/projects\/(\d+)\/$/,
        auth: true,
        methods: {
          GET: (c) => ({ status: 200, body: this.serializeProject(this.project(id(c))) }),
          PATCH: (c) => this.patchProject(this.project(id(c)), c.body),
          DELETE: (c) => {
            const p = this.project(id(c));
            this.projects = this.projects.filter((x) => x !== p);
            this.tasks = this.tasks.filter((t) => t.project !== p.id);
            this.exports = this.exports.filter((e) => e.project !== p.id);
            return { status: 204 };
          },
        },
      },
      { pattern: /^\/api\/projects\/(\d+)\/import$/, auth: true, methods: { POST: (c) => this.importTasks(this.project(id(c)), c) } },
      { pattern: /^\/api\/tasks\/$/, auth: true, methods: { GET: (c) => this.listTasks(c) } },
      { pattern: /^\/api\/tasks\/(\d+)\/$/, auth: true, methods: { GET: (c) => ({ status: 200, body: this.serializeTask(this.task(id(c)), true) }) } },
      {
        pattern: /^\/api\/tasks\/(\d+)\/annotations\/$/,
        auth: true,
        methods: {
          GET: (c) => ({ status: 200, body: [...this.task(id(c)).annotations].sort((a, b) => a.id - b.id) }),
          POST: (c) => this.createAnnotation(this.task(id(c)), c.body),
        },
      },
      {
        pattern: /^\/api\/annotations\/(\d+)\/$/,
        auth: true,
        methods: {
          GET: (c) => {
            const a = this.tasks.flatMap((t) => t.annotations).find((x) => x.id === id(c));
            if (!a) throw new HttpError(404, NOT_FOUND);
            return { status: 200, body: a };
          },
        },
      },
      // export (server `data_export/urls.py`): no trailing slash except on the snapshot list
      { pattern: /^\/api\/projects\/(\d+)\/export$/, auth: true, methods: { GET: (c) => this.syncExport(this.project(id(c)), c) } },
      {
        pattern: /^\/api\/projects\/(\d+)\/export\/formats$/,
        auth: true,
        methods: { GET: (c) => ({ status: 200, body: labelStudioExportFormats(this.project(id(c)).label_config) }) },
      },
      {
        pattern: /^\/api\/projects\/(\d+)\/exports\/$/,
        auth: true,
        methods: {
          GET: (c) => {
            const p = this.project(id(c));
            const list = this.exports.filter((e) => e.project === p.id).reverse().slice(0, 100); // newest first, at most 100
            return { status: 200, body: list.map((e) => serializeExport(e)) };
          },
          POST: (c) => this.createSnapshot(this.project(id(c)), c),
        },
      },
      {
        pattern: /^\/api\/projects\/(\d+)\/exports\/(\d+)$/,
        auth: true,
        methods: {
          GET: (c) => ({ status: 200, body: serializeExport(this.pollSnapshot(this.snapshot(c))) }),
          DELETE: (c) => {
            const e = this.snapshot(c);
            this.exports = this.exports.filter((x) => x !== e);
            return { status: 204 };
          },
        },
      },
      { pattern: /^\/api\/projects\/(\d+)\/exports\/(\d+)\/download$/, auth: true, methods: { GET: (c) => this.downloadSnapshot(this.snapshot(c), c) } },
      { pattern: /^\/api\/projects\/(\d+)\/exports\/(\d+)\/convert$/, auth: true, methods: { POST: (c) => this.convertSnapshot(this.snapshot(c), c) } },
    ];
  }

  private project(id: number): Project {
    const p = this.projects.find((x) => x.id === id);
    if (!p) throw new HttpError(404, NOT_FOUND);
    return p;
  }

  private task(id: number): Task {
    const t = this.tasks.find((x) => x.id === id);
    if (!t) throw new HttpError(404, NOT_FOUND);
    return t;
  }

  private listProjects(ctx: Ctx): { status: number; body: unknown } {
    const all = [...this.projects].sort((a, b) => a.id - b.id);
    const { items, page, last } = paginate(all, ctx.url.searchParams, PROJECT_PAGE_SIZE);
    const link = (n: number): string => {
      const u = new URL(ctx.url.pathname + ctx.url.search, ctx.origin);
      if (n === 1) u.searchParams.delete('page'); // as DRF does for the first page
      else u.searchParams.set('page', String(n));
      return u.toString();
    };
    return {
      status: 200,
      body: {
        count: all.length,
        next: page < last ? link(page + 1) : null,
        previous: page > 1 ? link(page - 1) : null,
        results: items.map((p) => this.serializeProject(p)),
      },
    };
  }

  private createProject(ctx: Ctx): { status: number; body: unknown } {
    const body = requireObject(ctx.body);
    const fields = validateProjectFields(body, true);
    const now = this.stamp();
    const project: Project = {
      id: this.nextId('project', this.projects),
      title: '',
      description: '',
      label_config: '',
      expert_instruction: '',
      show_instruction: false,
      show_skip_button: true,
      enable_empty_annotation: true,
      show_annotation_history: false,
      maximum_annotations: 1,
      model_version: '',
      color: '#FFFFFF',
      is_published: false,
      is_draft: false,
      sampling: 'Sequential sampling',
      created_by: { ...USER },
      ...fields,
      created_at: now,
    } as Project;
    this.projects.push(project);
    return { status: 201, body: this.serializeProject(project) };
  }

  private patchProject(project: Project, raw: unknown): { status: number; body: unknown } {
    Object.assign(project, validateProjectFields(requireObject(raw), false));
    return { status: 200, body: this.serializeProject(project) };
  }

  private serializeProject(p: Project): Record<string, unknown> {
    const tasks = this.tasks.filter((t) => t.project === p.id);
    return {
      ...p,
      task_number: tasks.length,
      total_annotations_number: tasks.reduce((n, t) => n + t.annotations.filter((a) => !a.was_cancelled).length, 0),
      skipped_annotations_number: tasks.reduce((n, t) => n + t.annotations.filter((a) => a.was_cancelled).length, 0),
      total_predictions_number: tasks.reduce((n, t) => n + t.predictions.length, 0),
      num_tasks_with_annotations: tasks.filter((t) => t.annotations.length > 0).length,
    };
  }

  private importTasks(project: Project, ctx: Ctx): { status: number; body: unknown } {
    const started = Date.now();
    const body = ctx.body;
    if (!Array.isArray(body)) {
      throw new HttpError(400, {
        detail: 'Validation error',
        validation_errors: { non_field_errors: [`Expected a JSON array of tasks, got ${body === null ? 'null' : typeof body}`] },
      });
    }
    const variables = labelConfigVariables(project.label_config);
    const errors: string[] = [];
    const parsed = body.map((item, index) => {
      if (!isObject(item)) {
        errors.push(`Task ${index}: expected an object, got ${JSON.stringify(item)}`);
        return undefined;
      }
      const full = isObject(item.data);
      const data = (full ? item.data : item) as Record<string, unknown>;
      const missing = variables.filter((v) => !(v in data));
      if (missing.length > 0) {
        errors.push(`Task ${index}: data is missing ${missing.map((v) => `"${v}"`).join(', ')}, used by the label config as ${missing.map((v) => `$${v}`).join(', ')}`);
      }
      const annotations = full ? (item.annotations ?? []) : [];
      const predictions = full ? (item.predictions ?? []) : [];
      for (const [key, list] of [
        ['annotations', annotations],
        ['predictions', predictions],
      ] as const) {
        if (!Array.isArray(list) || list.some((a) => !isObject(a) || !Array.isArray(a.result))) {
          errors.push(`Task ${index}: "${key}" must be a list of objects with a "result" list`);
        }
      }
      return { data, meta: full ? (item.meta ?? {}) : {}, annotations: annotations as Record<string, unknown>[], predictions: predictions as Record<string, unknown>[] };
    });
    if (errors.length > 0) throw new HttpError(400, { detail: 'Validation error', validation_errors: { non_field_errors: errors } });

    let innerId = this.tasks.filter((t) => t.project === project.id).reduce((m, t) => Math.max(m, Number(t.inner_id) || 0), 0);
    const taskIds: number[] = [];
    let annotationCount = 0;
    let predictionCount = 0;
    const columns = new Set<string>();
    for (const item of parsed) {
      if (!item) continue;
      const now = this.stamp();
      const task: Task = {
        id: this.nextId('task', this.tasks),
        project: project.id,
        data: item.data,
        meta: item.meta,
        annotations: [],
        predictions: [],
        created_at: now,
        updated_at: now,
        inner_id: ++innerId,
        file_upload: null,
        updated_by: null,
      };
      this.tasks.push(task);
      taskIds.push(task.id);
      Object.keys(item.data).forEach((k) => columns.add(k));
      for (const a of item.annotations) {
        task.annotations.push(
          this.newAnnotation(task, {
            ...a,
            result: a.result as unknown[],
            was_cancelled: a.was_cancelled === true,
            ground_truth: a.ground_truth === true,
            lead_time: typeof a.lead_time === 'number' ? a.lead_time : null,
            completed_by: typeof a.completed_by === 'number' ? a.completed_by : USER_ID,
            last_action: 'imported',
            bulk_created: true,
          }),
        );
        annotationCount++;
      }
      for (const p of item.predictions) {
        task.predictions.push({
          model_version: '',
          score: null,
          ...p,
          id: this.nextIds.prediction++,
          result: p.result,
          task: task.id,
          project: project.id,
          created_at: now,
          updated_at: now,
        });
        predictionCount++;
      }
    }
    const out: Record<string, unknown> = {
      task_count: taskIds.length,
      annotation_count: annotationCount,
      prediction_count: predictionCount,
      duration: (Date.now() - started) / 1000,
      file_upload_ids: [],
      could_be_tasks_list: false,
      found_formats: [],
      data_columns: [...columns].sort(),
    };
    if (truthy(ctx.url.searchParams.get('return_task_ids'))) out.task_ids = taskIds;
    return { status: 201, body: out };
  }

  private listTasks(ctx: Ctx): { status: number; body: unknown } {
    const q = ctx.url.searchParams;
    const projectParam = q.get('project');
    if (projectParam === null || projectParam === '') throw new HttpError(400, { project: ['This field is required (test server).'] });
    if (!/^\d+$/.test(projectParam)) throw new HttpError(400, { project: ['A valid integer is required.'] });
    const project = this.project(Number(projectParam));
    const all = this.tasks.filter((t) => t.project === project.id).sort((a, b) => a.id - b.id);
    const { items } = paginate(all, q, TASK_PAGE_SIZE);
    const full = q.get('fields') === 'all';
    return {
      status: 200,
      body: {
        tasks: items.map((t) => this.serializeTask(t, full)),
        total: all.length,
        total_annotations: all.reduce((n, t) => n + t.annotations.filter((a) => !a.was_cancelled).length, 0),
        total_predictions: all.reduce((n, t) => n + t.predictions.length, 0),
      },
    };
  }

  private serializeTask(t: Task, withAnnotations: boolean): Record<string, unknown> {
    const { annotations, predictions, ...fields } = t;
    const out: Record<string, unknown> = {
      meta: {},
      file_upload: null,
      drafts: [],
      inner_id: null,
      updated_by: null,
      ...fields,
      total_annotations: annotations.filter((a) => !a.was_cancelled).length,
      cancelled_annotations: annotations.filter((a) => a.was_cancelled).length,
      total_predictions: predictions.length,
      comment_count: 0,
      unresolved_comment_count: 0,
      last_comment_updated_at: null,
      comment_authors: [],
    };
    if (withAnnotations) {
      out.annotations = [...annotations].sort((a, b) => a.id - b.id);
      out.predictions = predictions;
    }
    return out;
  }

  private createAnnotation(task: Task, raw: unknown): { status: number; body: unknown } {
    const body = requireObject(raw);
    if (!Array.isArray(body.result)) throw new HttpError(400, { result: ['This field is required and must be a list.'] });
    const cancelled = body.was_cancelled === true;
    const annotation = this.newAnnotation(task, {
      result: body.result,
      was_cancelled: cancelled,
      ground_truth: body.ground_truth === true,
      lead_time: typeof body.lead_time === 'number' ? body.lead_time : null,
      last_action: cancelled ? 'skipped' : 'submitted',
    });
    task.annotations.push(annotation);
    task.updated_at = annotation.updated_at;
    return { status: 201, body: annotation };
  }

  private newAnnotation(task: Task, fields: Partial<Annotation> & { result: unknown[] }): Annotation {
    const now = this.stamp();
    const completedBy = fields.completed_by ?? USER_ID;
    return {
      was_cancelled: false,
      ground_truth: false,
      draft_created_at: null,
      lead_time: null,
      prediction: {},
      import_id: null,
      last_action: 'submitted',
      bulk_created: false,
      parent_prediction: null,
      parent_annotation: null,
      ...fields,
      id: this.nextIds.annotation++,
      result: fields.result,
      result_count: fields.result.length,
      unique_id: randomUUID(),
      completed_by: completedBy,
      updated_by: completedBy,
      last_created_by: completedBy,
      created_at: now,
      updated_at: now,
      task: task.id,
      project: task.project,
    };
  }

  // ---------------------------------------------------------------------------------------------- export

  /**
   * `GET /api/projects/{id}/export` (reference §5a; server `ExportAPI.get` + `DataExport.generate_export_file`).
   * The tasks are serialized with annotations (cancelled ones included), full predictions and `drafts: []`,
   * written as the server writes them (ujson: compact, `/` escaped as `\/`), then run through the converter:
   * one output file is served as is (`Content-Type: application/.json`, the server's quirk), several (COCO's
   * `result.json` + `images/`) as a ZIP.
   */
  private syncExport(project: Project, ctx: Ctx): Reply {
    const q = ctx.url.searchParams;
    const errors: Record<string, string[]> = {};
    const flag = (name: string): boolean => {
      const raw = q.get(name);
      if (raw === null) return false; // a BooleanField missing from a QueryDict is False, whatever its default
      const value = drfBool(raw);
      if (value === undefined) errors[name] = ['Must be a valid boolean.'];
      return value ?? false;
    };
    const downloadAll = flag('download_all_tasks');
    flag('download_resources');
    flag('interpolate_key_frames');
    for (const name of ['exportType', 'export_type']) {
      const raw = q.get(name);
      if (raw !== null && raw.trim() === '') errors[name] = ['This field may not be blank.'];
    }
    if (Object.keys(errors).length > 0) throw new HttpError(400, errors);
    const exportType = (q.get('exportType') ?? q.get('export_type') ?? 'JSON').trim();

    const problem = exportTypeProblem(project.label_config, exportType, ENUM_FORMATS);
    if (problem === 'unknown') throw new HttpError(400, { detail: `${exportType} is not supported export format` });
    if (problem === 'unsupported') throw new HttpError(400, { detail: `${exportType} is not supported export format for this project` });
    if (problem === 'unimplemented') throw new HttpError(501, { detail: notImplemented(exportType) });

    let tasks = this.projectTasks(project);
    const ids = q.getAll('ids[]');
    if (ids.length > 0) {
      const bad = ids.find((x) => !/^\s*[+-]?\d+\s*$/.test(x));
      if (bad !== undefined) throw new HttpError(500, { detail: `Field 'id' expected a number but got '${bad}'.` });
      const wanted = new Set(ids.map(Number));
      tasks = tasks.filter((t) => wanted.has(t.id));
    }
    if (!downloadAll) tasks = tasks.filter((t) => t.annotations.length > 0); // annotations__isnull=False: skipped ones count
    const serialized = tasks.map((t) => this.exportTask(t, { predictions: true, drafts: true, completedBy: false, keep: () => true }));

    const data = ujsonDumps(serialized, { ensureAscii: false });
    const md5 = md5Hex(ujsonDumps(data, { ensureAscii: true })); // the server hashes json.dumps(data)
    const name = `project-${project.id}-at-${fileStamp(new Date())}-${md5.slice(0, 8)}`;
    let out: ConverterOutput;
    try {
      out = runConverter(project.label_config, exportType, serialized, data);
    } catch (err) {
      if (err instanceof ConversionError) throw new HttpError(500, { detail: err.message });
      throw err;
    }
    const filename = name + out.ext;
    const headers = {
      'content-type': out.ext === '.zip' ? 'application/zip' : `application/${out.ext}`,
      'content-disposition': `attachment; filename="${filename}"`,
      filename,
    };
    return { status: 200, raw: { data: out.data, headers } };
  }

  /** `POST /api/projects/{id}/exports/` (reference §5b; server `ExportListAPI.perform_create`, `ExportMixin.get_export_data`) */
  private createSnapshot(project: Project, ctx: Ctx): Reply {
    const options = validateSnapshotOptions(requireObject(ctx.body));
    const maxAnnotations = typeof project.maximum_annotations === 'number' ? project.maximum_annotations : 1;
    const keep = annotationFilter(options.annotation);
    let tasks = filterSnapshotTasks(this.projectTasks(project), options.task, maxAnnotations);
    if (options.task?.only_with_annotations === true) tasks = tasks.filter((t) => t.annotations.some(keep));
    const ser = options.serialization;
    const expand = (key: 'drafts' | 'predictions' | 'annotations__completed_by'): boolean => {
      const opt = ser?.[key];
      return isObject(opt) && opt.only_id !== true;
    };
    const serialized = tasks.map((t) =>
      this.exportTask(t, { predictions: expand('predictions'), drafts: expand('drafts'), completedBy: expand('annotations__completed_by'), keep }),
    );
    const content = pyJsonDumps(serialized);
    const data = strToU8(content);
    const now = new Date();
    const snapshot: ExportSnapshot = {
      id: this.nextIds.export++,
      project: project.id,
      title: options.title || `${String(project.title).replace(/ /g, '-')}-at-${fileStamp(now)}`, // get_default_title
      created_by: { ...USER },
      created_at: this.stamp(),
      finished_at: null,
      status: 'created',
      md5: '',
      counters: {},
      converted_formats: [],
      file: { name: `project-${project.id}-at-${fileStamp(now)}-${md5Hex(data).slice(0, 8)}.json`, data },
      tasks: serialized,
      polls: 0,
      pollsUntilDone: this.snapshotPollsUntilDone,
      outcome: this.snapshotFailures > 0 ? 'failed' : 'completed',
    };
    if (this.snapshotFailures > 0) this.snapshotFailures--;
    this.exports.push(snapshot);
    if (snapshot.pollsUntilDone <= 0) this.finishSnapshot(snapshot);
    // ExportCreateSerializer: the popped *_options fields are serialized from the instance, which lacks them → null
    return { status: 201, body: { ...serializeExport(snapshot), task_filter_options: null, annotation_filter_options: null, serialization_options: null } };
  }

  private snapshot(ctx: Ctx): ExportSnapshot {
    const project = this.project(Number(ctx.match[1]));
    const e = this.exports.find((x) => x.id === Number(ctx.match[2]) && x.project === project.id);
    if (!e) throw new HttpError(404, NOT_FOUND);
    return e;
  }

  /** one GET of the snapshot: it and its conversions move one step */
  private pollSnapshot(e: ExportSnapshot): ExportSnapshot {
    e.polls++;
    if (e.status === 'created' || e.status === 'in_progress') {
      if (e.polls >= e.pollsUntilDone) this.finishSnapshot(e);
      else e.status = 'in_progress';
    }
    for (const cf of e.converted_formats) {
      if (cf.status !== 'created' && cf.status !== 'in_progress') continue;
      cf.polls++;
      if (cf.polls >= cf.pollsUntilDone) this.finishConversion(e, cf);
      else cf.status = 'in_progress';
    }
    return e;
  }

  private finishSnapshot(e: ExportSnapshot): void {
    e.finished_at = this.stamp();
    if (e.outcome === 'failed') {
      e.status = 'failed';
      return;
    }
    e.status = 'completed';
    e.md5 = md5Hex(e.file.data);
    e.counters = { task_number: e.tasks.length };
  }

  /** `POST .../exports/{pk}/convert` (server `ExportConvertAPI.post`, `ExportConvertSerializer`) */
  private convertSnapshot(e: ExportSnapshot, ctx: Ctx): Reply {
    const body = requireObject(ctx.body);
    const errors: Record<string, string[]> = {};
    let exportType = '';
    const raw = body.export_type;
    if (raw === undefined) errors.export_type = ['This field is required.'];
    else if (raw === null) errors.export_type = ['This field may not be null.'];
    else if (typeof raw !== 'string' && typeof raw !== 'number') errors.export_type = ['Not a valid string.'];
    else if (String(raw).trim() === '') errors.export_type = ['This field may not be blank.'];
    else exportType = String(raw).trim();
    if ('download_resources' in body && drfBool(body.download_resources) === undefined) errors.download_resources = ['Must be a valid boolean.'];
    if (!errors.export_type) {
      const project = this.project(e.project);
      const problem = exportTypeProblem(project.label_config, exportType, FORMAT_INFO.map(([n]) => n));
      if (problem === 'unknown') errors.export_type = [`${exportType} is not supported export format`];
      // the real serializer accepts a format disabled for the config; this fake refuses it, as /export does
      if (problem === 'unsupported') errors.export_type = [`${exportType} is not supported export format for this project`];
      if (problem === 'unimplemented' && Object.keys(errors).length === 0) throw new HttpError(501, { detail: notImplemented(exportType) });
    }
    if (Object.keys(errors).length > 0) throw new HttpError(400, errors);
    if (e.converted_formats.some((c) => c.export_type === exportType)) throw new HttpError(400, [`Conversion to ${exportType} already started`]);
    const cf: ConvertedFormat = {
      id: this.nextIds.convertedFormat++,
      status: 'created',
      export_type: exportType,
      traceback: null,
      file: null,
      polls: 0,
      pollsUntilDone: this.conversionPollsUntilDone,
      outcome: this.conversionFailures > 0 ? 'failed' : 'completed',
    };
    if (this.conversionFailures > 0) this.conversionFailures--;
    e.converted_formats.push(cf);
    if (cf.pollsUntilDone <= 0) this.finishConversion(e, cf);
    return { status: 200, body: { export_type: exportType, converted_format: cf.id } };
  }

  /** server `async_convert`: converts the snapshot's file with the project's label config as it is now */
  private finishConversion(e: ExportSnapshot, cf: ConvertedFormat): void {
    const fail = (error: string): void => {
      cf.status = 'failed';
      cf.traceback = `Traceback (most recent call last):\n  File "/label-studio/label_studio/data_export/api.py", line 1, in async_convert\n${error}\n`;
    };
    if (e.status !== 'completed') return fail('TypeError: expected str, bytes or os.PathLike object, not NoneType'); // the snapshot has no file
    if (cf.outcome === 'failed') return fail('RuntimeError: conversion failed (FakeLabelStudio.failNextConversion)');
    const project = this.projects.find((p) => p.id === e.project);
    try {
      const out = runConverter(project?.label_config ?? '', cf.export_type, e.tasks, new TextDecoder().decode(e.file.data));
      const ext = out.ext.slice(1);
      cf.file = { name: `project-${e.project}-at-${fileStamp(new Date())}-${md5Hex(out.data).slice(0, 8)}.${ext}`, data: out.data };
      cf.status = 'completed';
    } catch (err) {
      if (!(err instanceof ConversionError)) throw err;
      fail(err.message);
    }
  }

  /**
   * `GET .../exports/{pk}/download[?exportType=X]` (server `ExportDownloadAPI.get`, async-conversion branch,
   * no NGINX): a plain-text 404 until the snapshot is completed; the raw snapshot for no `exportType` or JSON;
   * else the completed conversion to that type. `Content-Type: application/<ext>` (no dot here) and the
   * storage name `export/<project>/<file>` in `Content-Disposition`, the bare name in a `filename` header.
   */
  private downloadSnapshot(e: ExportSnapshot, ctx: Ctx): Reply {
    if (e.status !== 'completed') {
      return { status: 404, raw: { data: 'Export is not completed', headers: { 'content-type': 'text/html; charset=utf-8' } } };
    }
    const exportType = ctx.url.searchParams.get('exportType');
    let file = e.file;
    if (exportType !== null && exportType !== 'JSON') {
      const converted = e.converted_formats.find((c) => c.export_type === exportType);
      if (!converted?.file) throw new HttpError(404, { detail: `${exportType} format is not converted yet` });
      file = converted.file;
    }
    const ext = file.name.split('.').pop() ?? '';
    const headers = {
      'content-type': `application/${ext}`,
      'content-disposition': `attachment; filename="export/${e.project}/${file.name}"`,
      filename: file.name,
      'accept-ranges': 'bytes',
    };
    return { status: 200, raw: { data: file.data, headers } };
  }

  private projectTasks(project: Project): Task[] {
    return this.tasks.filter((t) => t.project === project.id).sort((a, b) => a.id - b.id);
  }

  /**
   * A task as the export serializer writes it (reference §6): annotations (those `keep` lets through, by id)
   * with `completed_by` as the user id or expanded to `{id, email, first_name, last_name}`; predictions and
   * drafts in full or as ids. A deep copy, so a snapshot stays frozen.
   */
  private exportTask(t: Task, o: { predictions: boolean; drafts: boolean; completedBy: boolean; keep: (a: Annotation) => boolean }): Record<string, unknown> {
    const base = this.serializeTask(t, false);
    const annotations = [...t.annotations]
      .filter(o.keep)
      .sort((a, b) => a.id - b.id)
      .map((a) => (o.completedBy ? { ...a, completed_by: userOf(a.completed_by) } : a));
    const predictions = o.predictions ? t.predictions : t.predictions.map((p) => (isObject(p) ? p.id : p));
    // no drafts exist in this fake: [] expanded or not
    return JSON.parse(JSON.stringify({ id: t.id, annotations, file_upload: base.file_upload, drafts: [], predictions, ...base })) as Record<string, unknown>;
  }

  /** next id of a kind, above any id a test put into the arrays by hand */
  private nextId(kind: 'project' | 'task', existing: { id: number }[]): number {
    const id = Math.max(this.nextIds[kind], ...existing.map((x) => x.id + 1));
    this.nextIds[kind] = id + 1;
    return id;
  }

  /** ISO-8601 with microseconds like Django's, strictly increasing across calls (so `updated_at` orders changes) */
  private stamp(): string {
    this.lastMicros = Math.max(Date.now() * 1000, this.lastMicros + 1);
    const ms = Math.floor(this.lastMicros / 1000);
    const micros = String(this.lastMicros % 1_000_000).padStart(6, '0');
    return `${new Date(ms).toISOString().slice(0, 19)}.${micros}Z`;
  }
}

// ------------------------------------------------------------------------------------------------ helpers

/** the `$name` variables the label config reads from task data (`value="$name"` attributes) */
export function labelConfigVariables(labelConfig: string): string[] {
  const names = new Set<string>();
  for (const m of labelConfig.matchAll(/\bvalue\s*=\s*(["'])\$([A-Za-z_][A-Za-z0-9_]*)\1/g)) names.add(m[2]!);
  return [...names];
}

function validateProjectFields(body: Record<string, unknown>, creating: boolean): Record<string, unknown> {
  const errors: Record<string, string[]> = {};
  if ('title' in body && typeof body.title !== 'string') errors.title = ['Not a valid string.'];
  if (creating || 'label_config' in body) {
    const lc = body.label_config;
    if (typeof lc !== 'string' || !lc.trimStart().startsWith('<View')) {
      errors.label_config = [lc === undefined ? 'This field is required.' : 'label_config must be a string holding an XML config starting with <View'];
    }
  }
  if (Object.keys(errors).length > 0) throw new HttpError(400, errors);
  const fields: Record<string, unknown> = { ...body };
  for (const readOnly of ['id', 'created_at', 'created_by', 'task_number', 'total_annotations_number', 'total_predictions_number', 'num_tasks_with_annotations']) {
    delete fields[readOnly];
  }
  return fields;
}

/** DRF PageNumberPagination: bad or too-large page → 404 "Invalid page." (page 1 of nothing is fine) */
function paginate<T>(all: T[], q: URLSearchParams, defaultSize: number): { items: T[]; page: number; last: number } {
  const sizeParam = q.get('page_size');
  const size = sizeParam !== null && /^\d+$/.test(sizeParam) && Number(sizeParam) > 0 ? Number(sizeParam) : defaultSize;
  const last = Math.max(1, Math.ceil(all.length / size));
  const pageParam = q.get('page') ?? '1';
  const page = pageParam === 'last' ? last : /^\d+$/.test(pageParam) ? Number(pageParam) : NaN;
  if (!(page >= 1 && page <= last)) throw new HttpError(404, { detail: 'Invalid page.' });
  return { items: all.slice((page - 1) * size, page * size), page, last };
}

function parseBody(contentType: string | undefined, raw: string): unknown {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (raw.length === 0) return {};
  if (type === 'application/json') {
    try {
      return JSON.parse(raw);
    } catch (err) {
      throw new HttpError(400, { detail: `JSON parse error - ${(err as Error).message}` });
    }
  }
  if (type === 'application/x-www-form-urlencoded') return Object.fromEntries(new URLSearchParams(raw));
  throw new HttpError(415, { detail: `Unsupported media type "${contentType ?? ''}" in request.` });
}

function requireObject(body: unknown): Record<string, unknown> {
  if (!isObject(body)) {
    const got = Array.isArray(body) ? 'list' : body === null ? 'null' : typeof body;
    throw new HttpError(400, { non_field_errors: [`Invalid data. Expected a dictionary, but got ${got}.`] });
  }
  return body;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function truthy(v: string | null): boolean {
  return v !== null && ['true', '1', 'yes', 'on'].includes(v.toLowerCase());
}


function b64url(s: string): string {
  return Buffer.from(s, 'utf8').toString('base64url');
}

/** the payload of a JWT, without checking the signature (as the SDK does); undefined if it is not one */
export function decodeJwt(token: string): Record<string, unknown> | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const payload: unknown = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8'));
    return isObject(payload) ? payload : undefined;
  } catch {
    return undefined;
  }
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

function hex(): string {
  return randomBytes(16).toString('hex');
}

// ------------------------------------------------------------------------------------------------ export: API helpers

function serializeExport(e: ExportSnapshot): Record<string, unknown> {
  return {
    title: e.title,
    id: e.id,
    created_by: e.created_by,
    created_at: e.created_at,
    finished_at: e.finished_at,
    status: e.status,
    md5: e.md5,
    counters: e.counters,
    converted_formats: e.converted_formats.map((c) => ({ id: c.id, status: c.status, export_type: c.export_type, traceback: c.traceback })),
  };
}

/** `annotations.completed_by` expanded (`CompletedBySerializer`) */
function userOf(id: unknown): unknown {
  if (typeof id !== 'number') return id;
  return { id, email: id === USER_ID ? USER.email : `user${id}@example.com`, first_name: '', last_name: '' };
}

const DRF_TRUE = new Set(['t', 'T', 'y', 'Y', 'yes', 'Yes', 'YES', 'true', 'True', 'TRUE', 'on', 'On', 'ON', '1']);
const DRF_FALSE = new Set(['f', 'F', 'n', 'N', 'no', 'No', 'NO', 'false', 'False', 'FALSE', 'off', 'Off', 'OFF', '0']);

/** DRF BooleanField: undefined when invalid */
function drfBool(v: unknown): boolean | undefined {
  if (v === true || v === 1) return true;
  if (v === false || v === 0) return false;
  if (typeof v === 'string') {
    if (DRF_TRUE.has(v)) return true;
    if (DRF_FALSE.has(v)) return false;
  }
  return undefined;
}

function pyTypeName(v: unknown): string {
  if (v === null || v === undefined) return 'NoneType';
  if (Array.isArray(v)) return 'list';
  if (typeof v === 'string') return 'str';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float';
  return 'dict';
}

type Check = (v: unknown) => { value: unknown } | { error: unknown };

const choiceCheck: Check = (v) =>
  v === null || v === 'only' || v === 'exclude' ? { value: v } : { error: [`"${typeof v === 'string' ? v : JSON.stringify(v)}" is not a valid choice.`] };
const boolCheck =
  (allowNull: boolean): Check =>
  (v) => {
    if (v === null) return allowNull ? { value: null } : { error: ['This field may not be null.'] };
    const b = drfBool(v);
    return b === undefined ? { error: ['Must be a valid boolean.'] } : { value: b };
  };
const intCheck: Check = (v) =>
  (typeof v === 'number' && Number.isInteger(v)) || (typeof v === 'string' && /^\s*[+-]?\d+\s*$/.test(v)) ? { value: Number(v) } : { error: ['A valid integer is required.'] };

/** a nested DRF serializer: a dict, each known field checked, defaults filled in */
function validateObject(v: unknown, fields: Record<string, Check>, defaults: Record<string, unknown> = {}): { value: Record<string, unknown> } | { error: unknown } {
  if (!isObject(v)) return { error: { non_field_errors: [`Invalid data. Expected a dictionary, but got ${pyTypeName(v)}.`] } };
  const out: Record<string, unknown> = { ...defaults };
  const errors: Record<string, unknown> = {};
  for (const [key, check] of Object.entries(fields)) {
    if (!(key in v)) continue;
    const r = check(v[key]);
    if ('error' in r) errors[key] = r.error;
    else out[key] = r.value;
  }
  return Object.keys(errors).length > 0 ? { error: errors } : { value: out };
}

const onlyIdCheck: Check = (v) => validateObject(v, { only_id: boolCheck(false) }, { only_id: false });

interface SnapshotOptions {
  title: string;
  task?: Record<string, unknown>;
  annotation?: Record<string, unknown>;
  serialization?: Record<string, unknown>;
}

/** `ExportCreateSerializer` (reference §5b; server `data_export/serializers.py`) */
function validateSnapshotOptions(body: Record<string, unknown>): SnapshotOptions {
  const errors: Record<string, unknown> = {};
  const options: SnapshotOptions = { title: '' };
  if ('title' in body) {
    const t = body.title;
    if (t === null) errors.title = ['This field may not be null.'];
    else if (typeof t !== 'string' && typeof t !== 'number') errors.title = ['Not a valid string.'];
    else if (String(t).trim().length > 2048) errors.title = ['Ensure this field has no more than 2048 characters.'];
    else options.title = String(t).trim();
  }
  const nested = [
    ['task_filter_options', 'task', { view: intCheck, skipped: choiceCheck, finished: choiceCheck, annotated: choiceCheck, only_with_annotations: boolCheck(false) }, { only_with_annotations: false }],
    ['annotation_filter_options', 'annotation', { usual: boolCheck(true), ground_truth: boolCheck(true), skipped: boolCheck(true) }, { usual: true }],
    [
      'serialization_options',
      'serialization',
      {
        drafts: onlyIdCheck,
        predictions: onlyIdCheck,
        annotations__completed_by: onlyIdCheck,
        include_annotation_history: boolCheck(false),
        interpolate_key_frames: boolCheck(false),
      },
      { include_annotation_history: false, interpolate_key_frames: false },
    ],
  ] as const;
  for (const [key, field, checks, defaults] of nested) {
    const v = body[key];
    if (v === undefined || v === null) continue; // default None: the server then applies no filter / no expansion
    const r = validateObject(v, checks, defaults);
    if ('error' in r) errors[key] = r.error;
    else options[field] = r.value;
  }
  if (Object.keys(errors).length > 0) throw new HttpError(400, errors);
  return options;
}

/** `ExportMixin._get_filtered_annotations_queryset`: a disjunction of the flags set; none set = every annotation */
function annotationFilter(o: Record<string, unknown> | undefined): (a: Annotation) => boolean {
  if (!o) return () => true;
  const tests: ((a: Annotation) => boolean)[] = [];
  if (o.usual === true) tests.push((a) => !a.was_cancelled && !a.ground_truth);
  if (o.ground_truth === true) tests.push((a) => a.ground_truth);
  if (o.skipped === true) tests.push((a) => a.was_cancelled);
  if (tests.length === 0) return () => true;
  return (a) => tests.some((t) => t(a));
}

/**
 * `ExportMixin._get_filtered_tasks`: `skipped` (has a cancelled annotation), `finished` (is_labeled: at least
 * `maximum_annotations` non-cancelled annotations), `annotated` (has a non-cancelled annotation), each
 * `only` / `exclude`. `view` (a Data Manager tab) is ignored: this fake has no views.
 */
function filterSnapshotTasks(tasks: Task[], o: Record<string, unknown> | undefined, maxAnnotations: number): Task[] {
  if (!o) return tasks;
  let out = tasks;
  const apply = (value: unknown, test: (t: Task) => boolean): void => {
    if (value === 'only') out = out.filter(test);
    else if (value === 'exclude') out = out.filter((t) => !test(t));
  };
  apply(o.skipped, (t) => t.annotations.some((a) => a.was_cancelled));
  apply(o.finished, (t) => t.annotations.filter((a) => !a.was_cancelled).length >= maxAnnotations);
  apply(o.annotated, (t) => t.annotations.some((a) => !a.was_cancelled));
  return out;
}

/** the formats this fake can produce */
const IMPLEMENTED_FORMATS = ['JSON', 'JSON_MIN', 'COCO'];

function notImplemented(exportType: string): string {
  return `FakeLabelStudio does not implement the ${exportType} export (only ${IMPLEMENTED_FORMATS.join(', ')})`;
}

/**
 * Why `exportType` cannot be produced for this config, if it cannot: not a format name of `known`, disabled
 * for the label config (reference §5c), or a real format this fake does not implement.
 */
function exportTypeProblem(labelConfig: string, exportType: string, known: readonly string[]): 'unknown' | 'unsupported' | 'unimplemented' | undefined {
  if (!known.includes(exportType)) return 'unknown';
  if (!supportedExportFormats(labelConfig).includes(exportType)) return 'unsupported';
  if (!IMPLEMENTED_FORMATS.includes(exportType)) return 'unimplemented';
  return undefined;
}

interface ConverterOutput {
  /** `.json` for one output file; `.zip` when the converter left a folder (COCO: `result.json` + `images/`) */
  ext: string;
  data: Uint8Array;
}

/** `Converter.convert(input_json, out_dir, format, is_dir=False)` and what the server makes of the output dir */
function runConverter(labelConfig: string, exportType: string, tasks: unknown[], inputJson: string): ConverterOutput {
  switch (exportType) {
    case 'JSON': // convert_to_json: a copy of the input file
      return { ext: '.json', data: strToU8(inputJson) };
    case 'JSON_MIN':
      return { ext: '.json', data: strToU8(convertToJsonMin(tasks, labelConfig)) };
    case 'COCO': {
      const coco = convertToCoco(tasks, labelConfig);
      // shutil.make_archive: the (empty) images/ folder entry, then result.json
      return { ext: '.zip', data: zipSync({ images: {}, 'result.json': strToU8(ujsonDumps(coco, { indent: 2, ensureAscii: true })) }) };
    }
    default:
      throw new ConversionError(notImplemented(exportType));
  }
}

/** ujson's `dumps`: escapes `/` as `\/`; with `ensureAscii`, every non-ASCII UTF-16 unit as `\uXXXX` */
function ujsonDumps(value: unknown, o: { indent?: number; ensureAscii: boolean }): string {
  let s = JSON.stringify(value, null, o.indent) ?? 'null';
  s = s.replace(/\//g, '\\/'); // a `/` only ever occurs inside a JSON string
  if (o.ensureAscii) s = s.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return s;
}

/** Python's `json.JSONEncoder(ensure_ascii=False)`: `, ` and `: ` separators, no indent */
function pyJsonDumps(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return `[${value.map(pyJsonDumps).join(', ')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}: ${pyJsonDumps(v)}`).join(', ')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

function md5Hex(data: string | Uint8Array): string {
  return createHash('md5').update(data).digest('hex');
}

/** `datetime.now().strftime("%Y-%m-%d-%H-%M")`; the server runs in UTC (Django sets TZ=TIME_ZONE='UTC') */
function fileStamp(d: Date): string {
  return d.toISOString().slice(0, 16).replace('T', '-').replace(':', '-');
}

/** Python `str(datetime.now())`: the fraction is left out when it is zero */
function pyDatetimeStr(d: Date): string {
  const iso = d.toISOString();
  const ms = d.getUTCMilliseconds();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}${ms === 0 ? '' : `.${String(ms * 1000).padStart(6, '0')}`}`;
}

// ------------------------------------------------------------------------------------------------ export: formats

/**
 * `Converter._FORMAT_INFO` (label-studio-sdk @ 97fcff19, `converter/converter.py`, Apache-2.0), in its order:
 * what `GET /api/projects/{id}/export/formats` lists.
 */
const FORMAT_INFO: [string, { title: string; description: string; link: string; tags?: string[] }][] = [
  ['JSON', { title: 'JSON', description: "List of items in raw JSON format stored in one JSON file. Use to export both the data and the annotations for a dataset. It's Label Studio Common Format", link: 'https://labelstud.io/guide/export.html#JSON' }],
  ['JSON_MIN', { title: 'JSON-MIN', description: 'List of items where only "from_name", "to_name" values from the raw JSON format are exported. Use to export only the annotations for a dataset.', link: 'https://labelstud.io/guide/export.html#JSON-MIN' }],
  ['CSV', { title: 'CSV', description: 'Results are stored as comma-separated values with the column names specified by the values of the "from_name" and "to_name" fields.', link: 'https://labelstud.io/guide/export.html#CSV' }],
  ['TSV', { title: 'TSV', description: 'Results are stored in tab-separated tabular file with column names specified by "from_name" "to_name" values', link: 'https://labelstud.io/guide/export.html#TSV' }],
  ['CONLL2003', { title: 'CONLL2003', description: 'Popular format used for the CoNLL-2003 named entity recognition challenge.', link: 'https://labelstud.io/guide/export.html#CONLL2003', tags: ['sequence labeling', 'text tagging', 'named entity recognition'] }],
  ['COCO', { title: 'COCO', description: 'Popular machine learning format used by the COCO dataset for object detection and image segmentation tasks with polygons and rectangles.', link: 'https://labelstud.io/guide/export.html#COCO', tags: ['image segmentation', 'object detection', 'keypoints'] }],
  ['COCO_WITH_IMAGES', { title: 'COCO with Images', description: 'COCO format with images downloaded.', link: 'https://labelstud.io/guide/export.html#COCO', tags: ['image segmentation', 'object detection', 'keypoints'] }],
  ['VOC', { title: 'Pascal VOC XML', description: 'Popular XML format used for object detection and polygon image segmentation tasks.', link: 'https://labelstud.io/guide/export.html#Pascal-VOC-XML', tags: ['image segmentation', 'object detection'] }],
  ['YOLO', { title: 'YOLO', description: 'Popular TXT format is created for each image file. Each txt file contains annotations for the corresponding image file, that is object class, object coordinates, height & width.', link: 'https://labelstud.io/guide/export.html#YOLO', tags: ['image segmentation', 'object detection', 'keypoints'] }],
  ['YOLO_WITH_IMAGES', { title: 'YOLO with Images', description: 'YOLO format with images downloaded.', link: 'https://labelstud.io/guide/export.html#YOLO', tags: ['image segmentation', 'object detection', 'keypoints'] }],
  ['YOLO_OBB', { title: 'YOLOv8 OBB', description: 'Popular TXT format is created for each image file. Each txt file contains annotations for the corresponding image file. The YOLO OBB format designates bounding boxes by their four corner points with coordinates normalized between 0 and 1, so it is possible to export rotated objects.', link: 'https://labelstud.io/guide/export.html#YOLO', tags: ['image segmentation', 'object detection'] }],
  ['YOLO_OBB_WITH_IMAGES', { title: 'YOLOv8 OBB with Images', description: 'YOLOv8 OBB format with images downloaded.', link: 'https://labelstud.io/guide/export.html#YOLO', tags: ['image segmentation', 'object detection'] }],
  ['BRUSH_TO_NUMPY', { title: 'Brush labels to NumPy', description: 'Export your brush labels as NumPy 2d arrays. Each label outputs as one image.', link: 'https://labelstud.io/guide/export.html#Brush-labels-to-NumPy-amp-PNG', tags: ['image segmentation'] }],
  ['BRUSH_TO_PNG', { title: 'Brush labels to PNG', description: 'Export your brush labels as PNG images. Each label outputs as one image.', link: 'https://labelstud.io/guide/export.html#Brush-labels-to-NumPy-amp-PNG', tags: ['image segmentation'] }],
  ['ASR_MANIFEST', { title: 'ASR Manifest', description: 'Export audio transcription labels for automatic speech recognition as the JSON manifest format expected by NVIDIA NeMo models.', link: 'https://labelstud.io/guide/export.html#ASR-MANIFEST', tags: ['speech recognition'] }],
  ['BRUSH_TO_COCO', { title: 'Brush labels to COCO', description: 'Export your brush labels as COCO format for segmentation tasks. Converts RLE encoded masks to COCO polygons.', link: 'https://labelstud.io/guide/export.html#COCO', tags: ['image segmentation', 'brush annotations'] }],
  ['DOCLANG', { title: 'DocLang (.dclx)', description: 'Package annotations from the Doclang Interface as DocLang OPC archives (document.xml + page image) for downstream Docling model training.', link: 'https://github.com/doclang-project/doclang/blob/main/spec.md#doclang-archive-format', tags: ['document', 'doclang'] }],
];

/** the `Format` enum, in its order (reference §5c); `CSV_OLD` has no entry in the format list */
const ENUM_FORMATS = ['JSON', 'JSON_MIN', 'CSV', 'TSV', 'CONLL2003', 'COCO', 'VOC', 'BRUSH_TO_NUMPY', 'BRUSH_TO_PNG', 'ASR_MANIFEST', 'YOLO', 'YOLO_OBB', 'CSV_OLD', 'YOLO_WITH_IMAGES', 'COCO_WITH_IMAGES', 'YOLO_OBB_WITH_IMAGES', 'BRUSH_TO_COCO', 'DOCLANG'];

export interface ExportFormat {
  name: string;
  title: string;
  description: string;
  link: string;
  tags?: string[];
  disabled?: true;
}

/** `DataExport.get_export_formats`: every format, those the config does not allow marked `disabled`, enabled ones first */
export function labelStudioExportFormats(labelConfig: string): ExportFormat[] {
  const supported = new Set(supportedExportFormats(labelConfig));
  const all: ExportFormat[] = FORMAT_INFO.map(([name, info]) => ({ ...info, name, ...(supported.has(name) ? {} : { disabled: true as const }) }));
  return [...all.filter((f) => !f.disabled), ...all.filter((f) => f.disabled)];
}

/** `Converter._get_supported_formats` for a label config (reference §5c) */
export function supportedExportFormats(labelConfig: string): string[] {
  const schema = parseLabelConfig(labelConfig);
  const infos = [...schema.values()];
  const supportsDoclang = infos.some((i) => ['TextArea', 'ReactCode', 'CustomInterface'].includes(i.type));
  if (dataKeys(schema).length > 1) return ['JSON', 'JSON_MIN', 'CSV', 'TSV', ...(supportsDoclang ? ['DOCLANG'] : [])];
  const out = new Set(infos.map((i) => i.type));
  const inp = new Set(infos.flatMap((i) => i.inputs.map((x) => x.type)));
  const formats = new Set(ENUM_FORMATS);
  const drop = (...names: string[]): void => names.forEach((n) => formats.delete(n));
  if (!supportsDoclang) drop('DOCLANG');
  if (out.has('KeyPointLabels') && !out.has('RectangleLabels')) drop('COCO', 'COCO_WITH_IMAGES', 'YOLO', 'YOLO_WITH_IMAGES');
  if (!(inp.has('Text') && out.has('Labels'))) drop('CONLL2003');
  if (!(inp.has('Image') && (out.has('RectangleLabels') || (out.has('Rectangle') && out.has('Labels'))))) drop('VOC');
  const geometry =
    (inp.has('Image') && (out.has('RectangleLabels') || out.has('PolygonLabels') || out.has('KeyPointLabels'))) ||
    (out.has('Rectangle') && out.has('Labels')) ||
    (out.has('PolygonLabels') && out.has('Labels')) ||
    (out.has('KeyPointLabels') && out.has('Labels'));
  if (!geometry) drop('COCO', 'COCO_WITH_IMAGES', 'YOLO', 'YOLO_WITH_IMAGES', 'YOLO_OBB', 'YOLO_OBB_WITH_IMAGES');
  if (!(inp.has('Image') && (out.has('BrushLabels') || out.has('brushlabels') || (out.has('Brush') && out.has('Labels'))))) drop('BRUSH_TO_NUMPY', 'BRUSH_TO_PNG', 'BRUSH_TO_COCO');
  if (!((inp.has('Audio') || inp.has('AudioPlus')) && out.has('TextArea'))) drop('ASR_MANIFEST');
  if (inp.has('Video') && out.has('TimelineLabels')) drop('YOLO_OBB', 'YOLO_OBB_WITH_IMAGES');
  return ENUM_FORMATS.filter((f) => formats.has(f));
}

// ------------------------------------------------------------------------------------------------ export: label config

export interface ConfigTag {
  /** the control tag, e.g. `RectangleLabels` */
  type: string;
  to_name: string[];
  /** the object tags it points at that exist, with `value` stripped of its leading `$` */
  inputs: { type: string; value: string }[];
  /** `<Label>` / `<Choice>` values (or aliases) inside it, in document order */
  labels: string[];
  labels_attrs: Map<string, Record<string, string>>;
}

/**
 * The converter's `parse_config`: control tags (with `name` and `toName`, not `Filter`) by name, in document
 * order, each with its object tags and labels. A small XML scanner, enough for label configs.
 */
export function parseLabelConfig(labelConfig: string): Map<string, ConfigTag> {
  const schema = new Map<string, ConfigTag>();
  if (!labelConfig) return schema;
  const text = labelConfig
    .replace(/<!--[\s\S]*?-->/g, '')
    .replace(/<!\[CDATA\[[\s\S]*?\]\]>/g, '')
    .replace(/<\?[\s\S]*?\?>/g, '')
    .replace(/<!DOCTYPE[^>]*>/gi, '');
  interface El {
    tag: string;
    attrs: Record<string, string>;
    parent: El | undefined;
  }
  const outputs = new Map<string, { type: string; to_name: string[] }>();
  const inputs = new Map<string, { type: string; value: string }>();
  const labels = new Map<string, Map<string, Record<string, string>>>();
  let open: El | undefined;
  for (const m of text.matchAll(/<(\/?)([A-Za-z_][\w:.-]*)((?:[^>"']|"[^"]*"|'[^']*')*)>/g)) {
    const tag = m[2]!;
    if (m[1] === '/') {
      let el = open;
      while (el && el.tag !== tag) el = el.parent;
      open = el ? el.parent : open;
      continue;
    }
    let rest = m[3]!.trimEnd();
    const selfClosing = rest.endsWith('/');
    if (selfClosing) rest = rest.slice(0, -1);
    const attrs: Record<string, string> = {};
    for (const a of rest.matchAll(/([^\s=]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)) attrs[a[1]!] = xmlUnescape(a[2] ?? a[3] ?? '');
    const el: El = { tag, attrs, parent: open };
    if (attrs.name && attrs.toName && tag !== 'Filter') outputs.set(attrs.name, { type: tag, to_name: attrs.toName.split(',') });
    else if (attrs.name && attrs.value) inputs.set(attrs.name, { type: tag, value: attrs.value.replace(/^\$+/, '') });
    if (tag === 'Label' || tag === 'Choice') {
      let p = el.parent;
      while (p && !(p.attrs.name && outputs.has(p.attrs.name))) p = p.parent;
      const value = attrs.alias || attrs.value;
      if (p && value) {
        const own = labels.get(p.attrs.name!) ?? new Map<string, Record<string, string>>();
        own.set(value, attrs);
        labels.set(p.attrs.name!, own);
      }
    }
    if (!selfClosing) open = el;
  }
  for (const [name, info] of outputs) {
    const attrs = labels.get(name) ?? new Map<string, Record<string, string>>();
    schema.set(name, {
      type: info.type,
      to_name: info.to_name,
      inputs: info.to_name.filter((n) => inputs.has(n)).map((n) => inputs.get(n)!),
      labels: [...attrs.keys()],
      labels_attrs: attrs,
    });
  }
  return schema;
}

function xmlUnescape(s: string): string {
  return s.replace(/&(lt|gt|amp|quot|apos|#\d+|#x[0-9a-fA-F]+);/g, (_, e: string) => {
    if (e === 'lt') return '<';
    if (e === 'gt') return '>';
    if (e === 'amp') return '&';
    if (e === 'quot') return '"';
    if (e === 'apos') return "'";
    return String.fromCodePoint(e[1] === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
  });
}

/** the task data keys the control tags' object tags read (the converter's `_data_keys`) */
function dataKeys(schema: Map<string, ConfigTag>): string[] {
  return [...new Set([...schema.values()].flatMap((i) => i.inputs.map((x) => x.value)))];
}

// ------------------------------------------------------------------------------------------------ export: converter

/** Python truthiness */
function pyTruthy(v: unknown): boolean {
  if (v === null || v === undefined || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v).length > 0;
  return true;
}

/** Python `round()` to an int: halves go to the even neighbour */
function pyRound(x: number): number {
  if (Math.abs(x % 1) === 0.5) return 2 * Math.round(x / 2);
  return Math.round(x);
}

/** Python `int(str)`: undefined where it raises */
function pyInt(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? Math.trunc(v) : undefined;
  if (typeof v === 'string' && /^\s*[+-]?\d+(?:_\d+)*\s*$/.test(v)) return parseInt(v.replace(/_/g, ''), 10);
  return undefined;
}

interface ConverterItem {
  id: unknown;
  input: Record<string, unknown>;
  /** `from_name` → the result values of that control tag, each with `type` (the tag type) and the image size */
  output: Map<string, Record<string, unknown>[]>;
  completed_by: unknown;
  annotation_id: unknown;
  created_at: unknown;
  updated_at: unknown;
  lead_time: unknown;
  agreement?: unknown;
}

/**
 * `Converter.annotation_result_from_task` over tasks: a task without annotations yields one empty item;
 * cancelled (skipped) annotations are dropped; the others yield one item each, newest `created_at` first.
 * Only results whose `from_name` is a control tag of the config are kept.
 */
function* converterItems(tasks: unknown[], schema: Map<string, ConfigTag>): Generator<ConverterItem> {
  for (const task of tasks) {
    if (!isObject(task)) throw new ConversionError(`TypeError: a task must be a dict, not ${pyTypeName(task)}`);
    if (!('annotations' in task) && !('completions' in task)) continue; // logged and skipped
    if (!('id' in task)) throw new ConversionError("KeyError: 'id'");
    if (!('data' in task)) throw new ConversionError("KeyError: 'data'");
    const annotations = 'annotations' in task ? task.annotations : task.completions;
    if (!pyTruthy(annotations)) yield itemOf(task, new Map(), {});
    if (!Array.isArray(annotations)) continue;
    const kept = annotations.filter((a): a is Record<string, unknown> => isObject(a) && !(pyTruthy(a.skipped) || pyTruthy(a.was_cancelled)));
    // sorted(key=created_at, reverse=True) is stable: equal keys keep their order
    kept.sort((a, b) => pyCompare(b.created_at ?? 0, a.created_at ?? 0));
    for (const annotation of kept) {
      const output = new Map<string, Record<string, unknown>[]>();
      const result = pyTruthy(annotation.result) && Array.isArray(annotation.result) ? (annotation.result as unknown[]) : [];
      for (const r of result) {
        if (!isObject(r)) continue;
        const fromName = r.from_name;
        if (typeof fromName === 'string' && fromName !== '' && schema.has(fromName)) {
          if (!isObject(r.value)) throw new ConversionError(`KeyError: 'value' (a "${fromName}" result without a value dict)`);
          const v: Record<string, unknown> = { ...(JSON.parse(JSON.stringify(r.value)) as Record<string, unknown>), type: schema.get(fromName)!.type };
          if ('original_width' in r) v.original_width = r.original_width;
          if ('original_height' in r) v.original_height = r.original_height;
          output.set(fromName, [...(output.get(fromName) ?? []), v]);
        } else if (pyTruthy(fromName) && r.type === 'chatmessage') {
          const v: Record<string, unknown> = { ...(isObject(r.value) ? r.value : {}), type: 'chatmessage' };
          output.set(String(fromName), [...(output.get(String(fromName)) ?? []), v]);
        }
      }
      const item = itemOf(task, output, annotation);
      if ('agreement' in task) item.agreement = task.agreement;
      yield item;
    }
  }
}

function itemOf(task: Record<string, unknown>, output: Map<string, Record<string, unknown>[]>, annotation: Record<string, unknown>): ConverterItem {
  return {
    id: task.id,
    input: (isObject(task.data) ? task.data : {}) as Record<string, unknown>,
    output,
    completed_by: 'completed_by' in annotation ? annotation.completed_by : {},
    annotation_id: annotation.id ?? null,
    created_at: annotation.created_at ?? null,
    updated_at: annotation.updated_at ?? null,
    lead_time: annotation.lead_time ?? null,
  };
}

function pyCompare(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  const x = String(a);
  const y = String(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * The converter's `convert_to_json_min` (reference §5c): one flat record per non-cancelled annotation (and one
 * per task without annotations): the task data, `id`, one key per control tag (its result values; a single
 * choice / single textarea text collapsed to the string), `annotator`, `annotation_id`, `created_at`,
 * `updated_at`, `lead_time` (and `agreement` when the task has one). Written as the converter writes it.
 */
export function convertToJsonMin(tasks: unknown[], labelConfig: string): string {
  const schema = parseLabelConfig(labelConfig);
  const records: string[] = [];
  for (const item of converterItems(tasks, schema)) {
    const record = JSON.parse(JSON.stringify(item.input)) as Record<string, unknown>;
    if (item.id !== null && item.id !== undefined) record.id = item.id;
    for (const [name, values] of item.output) record[name] = prettifyResult(values);
    record.annotator = annotatorOf(item.completed_by);
    record.annotation_id = item.annotation_id;
    record.created_at = item.created_at;
    record.updated_at = item.updated_at;
    record.lead_time = item.lead_time;
    if ('agreement' in item) record.agreement = item.agreement;
    records.push(ujsonDumps(record, { indent: 2, ensureAscii: false }));
  }
  return `[\n${records.join(',\n')}\n]`;
}

/** `prettify_result` */
function prettifyResult(values: Record<string, unknown>[]): unknown {
  const out: unknown[] = [];
  let tagType: unknown = null;
  for (const v of values) {
    const { type, ...rest } = v;
    tagType = type;
    if (type === 'Choices' && Array.isArray(rest.choices) && rest.choices.length === 1) out.push(rest.choices[0]);
    else if (type === 'TextArea' && Array.isArray(rest.text) && rest.text.length === 1) out.push(rest.text[0]);
    else if (type === 'Chat' || type === 'chatmessage') out.push(rest.chatmessage ?? rest);
    else out.push(rest);
  }
  return (tagType === 'Choices' || tagType === 'TextArea') && out.length === 1 ? out[0] : out;
}

/** `get_annotator(item, int_id=True)`: the email of an expanded user, an int id as is, else `str()` */
function annotatorOf(completedBy: unknown): unknown {
  if (isObject(completedBy)) return completedBy.email ?? null;
  if (typeof completedBy === 'number' && Number.isInteger(completedBy)) return completedBy;
  if (typeof completedBy === 'boolean') return completedBy;
  if (completedBy === null || completedBy === undefined) return 'None';
  return String(completedBy);
}

export interface CocoImage {
  width: number | null;
  height: number | null;
  id: number;
  file_name: unknown;
}
export interface CocoCategory {
  id: number;
  name: unknown;
  supercategory?: string;
  keypoints?: string[];
  skeleton?: unknown[];
}
export interface CocoAnnotation {
  id: number;
  image_id: number;
  category_id: number;
  segmentation?: number[][];
  keypoints?: number[];
  num_keypoints?: number;
  bbox: number[];
  ignore?: number;
  iscrowd: number;
  area?: number;
}
export interface CocoDataset {
  images: CocoImage[];
  categories: CocoCategory[];
  annotations: CocoAnnotation[];
  info: { year: number; version: string; description: string; contributor: string; url: string; date_created: string };
}

/**
 * The official converter's `convert_to_coco` (label-studio-sdk @ 97fcff19; reference §8), as Label Studio runs
 * it for an export (`download_resources=False`, no hostname): one image per item (0-based ids; the task id is
 * not used), categories from the label config (explicit `category` ids, then the rest alphabetically from 0
 * skipping taken ids; keypoint labels merged into one "default" category), boxes in pixels from percent with
 * each result's `original_width`/`original_height` (rotated boxes → their enclosing box), polygons,
 * keypoints. The image files are never opened here (there are none), so an image's width/height are those of
 * the item's first labelled result, and null for an item without results; `file_name` is
 * `images/<md5(url)[:8]>__<basename>`, or the task's URL unchanged for uploads, local and cloud storage
 * (which the server cannot resolve without a hostname).
 */
export function convertToCoco(tasks: unknown[], labelConfig: string, now: Date = new Date()): CocoDataset {
  const schema = parseLabelConfig(labelConfig);
  let { categories, nameToId } = configCategories(schema);
  ({ categories, nameToId } = mergeKeypointCategories(categories, nameToId, schema));
  const dataKey = dataKeys(schema)[0];
  if (dataKey === undefined) throw new ConversionError('IndexError: list index out of range (the label config reads no task data)');
  const images: CocoImage[] = [];
  const annotations: CocoAnnotation[] = [];
  for (const item of converterItems(tasks, schema)) {
    if (!(dataKey in item.input)) throw new ConversionError(`KeyError: '${dataKey}'`);
    const fileName = cocoFileName(item.input[dataKey]);
    const imageId = images.length;
    let width: unknown = null;
    let height: unknown = null;
    const addImage = (): void => {
      images.push({ width: width as number | null, height: height as number | null, id: imageId, file_name: fileName });
    };
    if (item.output.size === 0) {
      if (!pyTruthy(width)) addImage(); // no labels and no image: width/height null
      continue;
    }
    const labels = [...item.output.values()].flat();
    const keypointLabels: Record<string, unknown>[] = [];
    for (const label of labels) {
      let categoryName: unknown;
      for (const key of ['rectanglelabels', 'polygonlabels', 'keypointlabels', 'labels']) {
        const names = label[key];
        if ((typeof names === 'string' || Array.isArray(names)) && names.length > 0) {
          categoryName = names[0];
          break;
        }
      }
      if (categoryName === undefined || categoryName === null) continue; // "Unknown label type or labels are empty"
      if (!pyTruthy(height) || !pyTruthy(width)) {
        if (!('original_width' in label) || !('original_height' in label)) continue;
        width = label.original_width;
        height = label.original_height;
        addImage();
      }
      if (!nameToId.has(categoryName)) {
        const id = categories.length; // a label missing from the config
        nameToId.set(categoryName, id);
        categories.push({ id, name: categoryName });
      }
      const categoryId = nameToId.get(categoryName)!;
      const annotationId = annotations.length;
      if ('rectanglelabels' in label || 'labels' in label) {
        const xywh = rotatedRectangle(label);
        if (!xywh) continue;
        if (!('original_width' in label)) throw new ConversionError("KeyError: 'original_width'");
        if (!('original_height' in label)) throw new ConversionError("KeyError: 'original_height'");
        const W = label.original_width as number;
        const H = label.original_height as number;
        const [x, y, w, h] = xywh;
        const bbox = [(x * W) / 100, (y * H) / 100, (w * W) / 100, (h * H) / 100];
        annotations.push({ id: annotationId, image_id: imageId, category_id: categoryId, segmentation: [], bbox, ignore: 0, iscrowd: 0, area: bbox[2]! * bbox[3]! });
      } else if ('polygonlabels' in label) {
        const points = label.points;
        if (!Array.isArray(points) || points.length === 0) throw new ConversionError('ValueError: not enough values to unpack (expected 2, got 0)');
        // the polygon uses the image size (here: of the item's first labelled result), not its own
        const abs = (points as number[][]).map(([px, py]) => [(px! / 100) * (width as number), (py! / 100) * (height as number)] as const);
        const xs = abs.map((p) => p[0]);
        const ys = abs.map((p) => p[1]);
        const [x1, y1] = [Math.min(...xs), Math.min(...ys)];
        annotations.push({
          id: annotationId,
          image_id: imageId,
          category_id: categoryId,
          segmentation: [abs.flatMap((p) => [p[0], p[1]])],
          bbox: [x1, y1, Math.max(...xs) - x1, Math.max(...ys) - y1],
          ignore: 0,
          iscrowd: 0,
          area: polygonArea(xs, ys),
        });
      } else if ('keypointlabels' in label) {
        keypointLabels.push(label);
      } else {
        throw new ConversionError('ValueError: Unknown label type');
      }
    }
    if (keypointLabels.length > 0) {
      annotations.push(keypointAnnotation(keypointLabels, keypointOrder(schema), annotations.length, imageId, nameToId));
    }
  }
  return {
    images,
    categories,
    annotations,
    info: { year: now.getUTCFullYear(), version: '1.0', description: '', contributor: 'Label Studio', url: '', date_created: pyDatetimeStr(now) },
  };
}

/** `Converter._get_labels`: every Label/Choice of every control tag; explicit `category` ids first */
function configCategories(schema: Map<string, ConfigTag>): { categories: CocoCategory[]; nameToId: Map<unknown, number> } {
  const labels = new Set<string>();
  const categories: CocoCategory[] = [];
  const nameToId = new Map<unknown, number>();
  for (const info of schema.values()) {
    info.labels.forEach((l) => labels.add(l));
    for (const [label, attrs] of info.labels_attrs) {
      if (attrs.category === undefined) continue;
      const id = pyInt(attrs.category);
      if (id === undefined) continue; // "Invalid category id ..., skipping explicit category mapping"
      categories.push({ id, name: label });
      nameToId.set(label, id);
    }
  }
  const toAdd = [...labels].filter((l) => !nameToId.has(l)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const used = new Set(nameToId.values());
  let next = 0;
  for (const label of toAdd) {
    while (used.has(next)) next++;
    categories.push({ id: next, name: label });
    nameToId.set(label, next);
    next++;
  }
  return { categories, nameToId };
}

/** `update_categories_for_keypoints`: keypoint labels leave the list, replaced by one "default" category (max id + 1) */
function mergeKeypointCategories(
  categories: CocoCategory[],
  nameToId: Map<unknown, number>,
  schema: Map<string, ConfigTag>,
): { categories: CocoCategory[]; nameToId: Map<unknown, number> } {
  const keypoints = [...new Set([...schema.values()].filter((i) => i.type === 'KeyPointLabels').flatMap((i) => i.labels))];
  if (keypoints.length === 0) return { categories, nameToId };
  const kept = categories.filter((c) => !keypoints.includes(c.name as string)).map((c) => ({ ...c }));
  const mapping = new Map<unknown, number>(kept.map((c) => [c.name, c.id]));
  const merged = kept.length > 0 ? Math.max(...kept.map((c) => c.id)) + 1 : 0;
  kept.push({ id: merged, name: 'default', supercategory: 'default', keypoints, skeleton: [] });
  for (const k of keypoints) mapping.set(k, merged);
  return { categories: kept, nameToId: mapping };
}

/** `build_kp_order`: keypoint label names ordered by their `model_index` attribute (labels without one left out) */
function keypointOrder(schema: Map<string, ConfigTag>): string[] {
  const block = new Map<string, Record<string, string>>();
  for (const info of schema.values()) if (info.type === 'KeyPointLabels') for (const [k, v] of info.labels_attrs) block.set(k, v);
  const pairs: [number, string][] = [];
  const used = new Set<number>();
  for (const [name, attrs] of block) {
    const idx = pyInt(attrs.model_index);
    if (idx === undefined || used.has(idx)) continue;
    pairs.push([idx, name]);
    used.add(idx);
  }
  return pairs.sort((a, b) => a[0] - b[0]).map(([, name]) => name);
}

/** `process_keypoints_for_coco`: the item's keypoints merged into one annotation, pixel coordinates rounded */
function keypointAnnotation(labels: Record<string, unknown>[], order: string[], id: number, imageId: number, nameToId: Map<unknown, number>): CocoAnnotation {
  if (order.length === 0) {
    throw new ConversionError("ValueError: No keypoint order found. Please ensure that KeyPointLabels in your label config have 'model_index' attributes defined.");
  }
  const keypoints = new Array<number>(order.length * 3).fill(0);
  for (const kp of labels) {
    if (!('original_width' in kp)) throw new ConversionError("KeyError: 'original_width'");
    if (!('original_height' in kp)) throw new ConversionError("KeyError: 'original_height'");
    const x = ((kp.x as number) / 100) * (kp.original_width as number);
    const y = ((kp.y as number) / 100) * (kp.original_height as number);
    const names = Array.isArray(kp.keypointlabels) ? (kp.keypointlabels as unknown[]) : [];
    const v = names.length > 0 ? 2 : 0;
    for (const name of names) {
      const idx = order.indexOf(name as string);
      if (idx < 0) continue;
      keypoints[3 * idx] = pyRound(x);
      keypoints[3 * idx + 1] = pyRound(y);
      keypoints[3 * idx + 2] = v;
    }
  }
  const visible = order.map((_, i) => i).filter((i) => keypoints[3 * i + 2]! > 0);
  let bbox = [0, 0, 0, 0];
  if (visible.length > 0) {
    const xs = visible.map((i) => keypoints[3 * i]!);
    const ys = visible.map((i) => keypoints[3 * i + 1]!);
    const [x0, y0] = [Math.min(...xs), Math.min(...ys)];
    bbox = [x0, y0, Math.max(...xs) - x0, Math.max(...ys) - y0];
  }
  return { id, image_id: imageId, category_id: nameToId.get(order[0]) ?? 0, keypoints, num_keypoints: visible.length, bbox, iscrowd: 0 };
}

/** `Converter.rotated_rectangle`: [x, y, w, h] in percent; a rotated box becomes the axis-aligned box around it */
function rotatedRectangle(label: Record<string, unknown>): [number, number, number, number] | undefined {
  if (!('x' in label && 'y' in label && 'width' in label && 'height' in label)) return undefined;
  let [x, y, w, h] = [label.x, label.y, label.width, label.height] as number[] as [number, number, number, number];
  const r = 'rotation' in label ? (label.rotation as number) : 0;
  if (Math.abs(r) > 0) {
    if (w === 0) throw new ConversionError('ZeroDivisionError: float division by zero');
    const alpha = Math.atan(h / w);
    const beta = Math.PI * (r / 180); // Label Studio measures the angle from the vertical axis
    const radius = Math.sqrt((w / 2) ** 2 + (h / 2) ** 2);
    // Label Studio stores the top-left corner after rotation
    const x0 = x - radius * (Math.cos(Math.PI - alpha - beta) - Math.cos(Math.PI - alpha)) + w / 2;
    const y0 = y + radius * (Math.sin(Math.PI - alpha - beta) - Math.sin(Math.PI - alpha)) + h / 2;
    const thetas = [alpha + beta, Math.PI - alpha + beta, Math.PI + alpha + beta, 2 * Math.PI - alpha + beta];
    const xs = thetas.map((t) => x0 + radius * Math.cos(t));
    const ys = thetas.map((t) => y0 + radius * Math.sin(t));
    x = Math.min(...xs);
    y = Math.min(...ys);
    w = Math.max(...xs) - x;
    h = Math.max(...ys) - y;
  }
  return [x, y, w, h];
}

/** `get_polygon_area` (shoelace): 0.5 · |x·roll(y, 1) − y·roll(x, 1)| */
function polygonArea(xs: number[], ys: number[]): number {
  const n = xs.length;
  let a = 0;
  let b = 0;
  for (let i = 0; i < n; i++) {
    a += xs[i]! * ys[(i - 1 + n) % n]!;
    b += ys[i]! * xs[(i - 1 + n) % n]!;
  }
  return 0.5 * Math.abs(a - b);
}

/**
 * The `file_name` of a task's image (`get_local_path` with `download_resources=False`): the cache path it
 * would download to, `images/<md5(url)[:8]>__<basename of the URL path>`; for files Label Studio would have
 * to resolve itself (uploads `/data/upload/…` or `upload/…`, local storage `/data/…?d=…`, cloud `s3:`/`gs:`/
 * `azure-blob:`, the storage proxy) the URL unchanged, as resolving them fails on a server without
 * LABEL_STUDIO_URL and the files are not on this fake's disk.
 */
function cocoFileName(url: unknown): unknown {
  if (typeof url !== 'string') return url;
  let u = url;
  if (u.startsWith('upload') || u.startsWith('/upload')) u = `/data${u.startsWith('/') ? '' : '/'}${u}`;
  const path = pyUrlPath(u);
  const needsServer =
    u.startsWith('/data/upload') ||
    (u.startsWith('/data/') && u.includes('?d=')) ||
    /^(s3:|gs:|azure-blob:)/.test(u) ||
    path.startsWith('/storage-data/uploaded') ||
    path.startsWith('storage-data/uploaded');
  if (needsServer) return url;
  return `images/${md5Hex(u).slice(0, 8)}__${path.slice(path.lastIndexOf('/') + 1)}`;
}

/** the `path` of Python's `urlparse` */
function pyUrlPath(url: string): string {
  let rest = url;
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:/.exec(rest);
  if (scheme) rest = rest.slice(scheme[0].length);
  if (rest.startsWith('//')) {
    const end = rest.slice(2).search(/[/?#]/);
    rest = end < 0 ? '' : rest.slice(2 + end);
  }
  rest = rest.split('#')[0]!.split('?')[0]!;
  const semi = rest.indexOf(';', rest.lastIndexOf('/') + 1); // ;params of the last segment
  return semi < 0 ? rest : rest.slice(0, semi);
}
