/**
 * A local HTTP server that behaves like a Label Studio (Community 1.13) instance, for the tests of the Label
 * Studio client. It follows /work/shared/reference/label-studio.md §1–4 and §6: both kinds of API key
 * (legacy `Token`, and a Personal Access Token exchanged at `/api/token/refresh` for short-lived `Bearer`
 * access tokens), projects, the synchronous JSON import, the paginated task list and annotations.
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
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
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

export interface FakeLabelStudioOptions {
  /** the legacy API key (`Authorization: Token <it>`); default 'legacy-token' */
  legacyToken?: string;
  /** the Personal Access Token (a refresh JWT) the server accepts at /api/token/refresh; default: one it builds */
  pat?: string;
}

const JSON_TYPE = 'application/json';
const USER_ID = 1;
const PROJECT_PAGE_SIZE = 30;
const TASK_PAGE_SIZE = 100;
const NOT_FOUND = { detail: 'Not found.' };
const TOKEN_NOT_VALID = { detail: 'Given token not valid for any token type', code: 'token_not_valid' };

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(`HTTP ${status}`);
  }
}

type Handler = (ctx: Ctx) => { status: number; body?: unknown };
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

  private readonly legacyToken: string;
  private readonly secret = randomBytes(32);
  /** jti of each issued access token → when it stops being valid (ms) */
  private readonly accessTokens = new Map<string, number>();
  private readonly faultQueue: Fault[] = [];
  private readonly http: LocalServer;
  private readonly routes: Route[];
  private lastMicros = 0;
  private nextIds = { project: 1, task: 1, annotation: 1, prediction: 1 };

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
      this.send(res, record, out.status, out.body);
    } catch (err) {
      if (err instanceof HttpError) return this.send(res, record, err.status, err.body);
      this.send(res, record, 500, { detail: `FakeLabelStudio bug: ${err instanceof Error ? err.stack : String(err)}` });
    }
  }

  private send(res: ServerResponse, record: RecordedRequest, status: number, body: unknown): void {
    this.sendRaw(res, record, status, body === undefined ? '' : JSON.stringify(body));
  }

  private sendRaw(res: ServerResponse, record: RecordedRequest, status: number, body: string, extra: Record<string, string> = {}): void {
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
      created_by: { id: USER_ID, first_name: '', last_name: '', email: 'test@example.com', avatar: null },
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
