/** The fake Label Studio the client tests run against: it must behave as the reference says the real one does. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeJwt, FakeLabelStudio } from '../servers/label-studio';

const BOX_CONFIG = `<View>
  <Image name="image" value="$image"/>
  <RectangleLabels name="label" toName="image">
    <Label value="car" category="10"/>
    <Label value="person"/>
  </RectangleLabels>
</View>`;

/** real export data (fixtures/label-studio/README.md): the results of one annotation */
const EXPORT = JSON.parse(readFileSync(join(__dirname, '..', '..', 'fixtures', 'label-studio', 'ls_export_tasks.json'), 'utf8')) as {
  annotations: { result: unknown[] }[];
}[];
const REAL_RESULT = EXPORT[0]!.annotations[0]!.result;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('FakeLabelStudio', () => {
  let ls: FakeLabelStudio;
  beforeEach(async () => {
    ls = await FakeLabelStudio.start();
  });
  afterEach(() => ls.close());

  const legacy = { authorization: 'Token legacy-token' };
  const get = (path: string, headers: Record<string, string> = legacy): Promise<Response> => fetch(`${ls.url}${path}`, { headers });
  const send = (method: string, path: string, body: unknown, headers: Record<string, string> = legacy): Promise<Response> =>
    fetch(`${ls.url}${path}`, { method, headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const refresh = (path = '/api/token/refresh'): Promise<Response> => send('POST', path, { refresh: ls.pat }, {});

  async function createProject(title = 'Boxes', labelConfig = BOX_CONFIG): Promise<number> {
    const res = await send('POST', '/api/projects/', { title, label_config: labelConfig });
    expect(res.status).toBe(201);
    return ((await res.json()) as { id: number }).id;
  }

  async function importTasks(project: number, tasks: unknown[]): Promise<number[]> {
    const res = await send('POST', `/api/projects/${project}/import?return_task_ids=true`, tasks);
    expect(res.status).toBe(201);
    return ((await res.json()) as { task_ids: number[] }).task_ids;
  }

  describe('authentication', () => {
    it('accepts the legacy token, with the scheme in any case', async () => {
      const res = await get('/api/version/');
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/json');
      expect(await res.json()).toEqual({ release: '1.13.1', edition: 'Community' });
      expect((await get('/api/version/', { authorization: 'token legacy-token' })).status).toBe(200);
    });

    it('refuses missing and wrong credentials with DRF bodies', async () => {
      const none = await get('/api/version/', {});
      expect(none.status).toBe(401);
      expect(await none.json()).toEqual({ detail: 'Authentication credentials were not provided.' });
      const wrong = await get('/api/version/', { authorization: 'Token nope' });
      expect(wrong.status).toBe(401);
      expect(await wrong.json()).toEqual({ detail: 'Invalid token.' });
    });

    it('builds a PAT that is a refresh JWT expiring in a day', () => {
      const claims = decodeJwt(ls.pat)!;
      expect(ls.pat.split('.')).toHaveLength(3);
      expect(claims.token_type).toBe('refresh');
      expect(claims.exp).toBeGreaterThan(Date.now() / 1000 + 86000);
    });

    it.each(['/api/token/refresh', '/api/token/refresh/'])('exchanges the PAT at %s for a Bearer access token', async (path) => {
      const res = await refresh(path);
      expect(res.status).toBe(200);
      const { access } = (await res.json()) as { access: string };
      expect(decodeJwt(access)).toMatchObject({ token_type: 'access', exp: expect.any(Number) });
      expect((await get('/api/version/', { authorization: `Bearer ${access}` })).status).toBe(200);
    });

    it('refuses an invalid refresh token, and a missing one', async () => {
      const res = await send('POST', '/api/token/refresh', { refresh: 'a.b.c' }, {});
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ detail: 'Token is invalid or expired', code: 'token_not_valid' });
      expect((await send('POST', '/api/token/refresh/', {}, {})).status).toBe(400);
    });

    it('refuses the PAT itself as a Bearer', async () => {
      const res = await get('/api/version/', { authorization: `Bearer ${ls.pat}` });
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ detail: 'Given token not valid for any token type', code: 'token_not_valid' });
    });

    it('refuses an expired access token; a fresh refresh works again', async () => {
      ls.accessTokenTtlMs = 50;
      const { access } = (await (await refresh()).json()) as { access: string };
      expect((await get('/api/version/', { authorization: `Bearer ${access}` })).status).toBe(200);
      await sleep(80);
      const expired = await get('/api/version/', { authorization: `Bearer ${access}` });
      expect(expired.status).toBe(401);
      expect(await expired.json()).toEqual({ detail: 'Given token not valid for any token type', code: 'token_not_valid' });
      const { access: again } = (await (await refresh()).json()) as { access: string };
      expect((await get('/api/version/', { authorization: `Bearer ${again}` })).status).toBe(200);
    });

    it('takes a given legacy token and PAT; an expired PAT cannot be refreshed', async () => {
      const exp = Math.floor(Date.now() / 1000) - 10;
      const stale = ['{"alg":"HS256","typ":"JWT"}', JSON.stringify({ token_type: 'refresh', exp })].map((s) => Buffer.from(s).toString('base64url')).join('.') + '.sig';
      const other = await FakeLabelStudio.start({ legacyToken: 'abc', pat: stale });
      try {
        expect(other.pat).toBe(stale);
        expect((await fetch(`${other.url}/api/version/`, { headers: { authorization: 'Token abc' } })).status).toBe(200);
        const res = await fetch(`${other.url}/api/token/refresh/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refresh: stale }) });
        expect(res.status).toBe(401);
      } finally {
        await other.close();
      }
    });
  });

  describe('projects', () => {
    it('creates, lists by page with absolute next/previous, gets, patches and deletes', async () => {
      const ids: number[] = [];
      for (let i = 1; i <= 5; i++) ids.push(await createProject(`P${i}`));
      expect(new Set(ids).size).toBe(5);
      expect(ids.every(Number.isInteger)).toBe(true);

      const page1 = (await (await get('/api/projects/?page=1&page_size=2')).json()) as Record<string, unknown>;
      expect(page1.count).toBe(5);
      expect(page1.previous).toBeNull();
      expect(page1.next).toBe(`${ls.url}/api/projects/?page=2&page_size=2`);
      expect((page1.results as { title: string }[]).map((p) => p.title)).toEqual(['P1', 'P2']);

      const page3 = (await (await fetch(`${ls.url}/api/projects/?page=3&page_size=2`, { headers: legacy })).json()) as Record<string, unknown>;
      expect(page3.next).toBeNull();
      expect(page3.previous).toBe(`${ls.url}/api/projects/?page=2&page_size=2`);
      expect((page3.results as unknown[]).length).toBe(1);
      expect((await get('/api/projects/?page=4&page_size=2')).status).toBe(404);

      const one = await get(`/api/projects/${ids[1]}/`);
      expect(one.status).toBe(200);
      expect(await one.json()).toMatchObject({ id: ids[1], title: 'P2', label_config: BOX_CONFIG, task_number: 0 });

      const patched = await send('PATCH', `/api/projects/${ids[1]}/`, { title: 'renamed' });
      expect(patched.status).toBe(200);
      expect(await patched.json()).toMatchObject({ id: ids[1], title: 'renamed', label_config: BOX_CONFIG });

      const deleted = await fetch(`${ls.url}/api/projects/${ids[1]}/`, { method: 'DELETE', headers: legacy });
      expect(deleted.status).toBe(204);
      const gone = await get(`/api/projects/${ids[1]}/`);
      expect(gone.status).toBe(404);
      expect(await gone.json()).toEqual({ detail: 'Not found.' });
    });

    it('refuses a label_config that is not a <View> string', async () => {
      for (const label_config of [undefined, 42, '<Image/>']) {
        const res = await send('POST', '/api/projects/', { title: 'x', label_config });
        expect(res.status).toBe(400);
        expect(await res.json()).toEqual({ label_config: [expect.any(String)] });
      }
    });
  });

  describe('import', () => {
    it('imports plain data dicts and full task objects, with task ids when asked', async () => {
      const project = await createProject();
      const res = await send('POST', `/api/projects/${project}/import?return_task_ids=true`, [
        { image: 'https://example.com/1.jpg' },
        {
          data: { image: 'https://example.com/2.jpg', extra: 1 },
          meta: { source: 'test' },
          annotations: [{ result: REAL_RESULT, was_cancelled: false, ground_truth: true }],
          predictions: [{ model_version: 'm1', score: 0.9, result: [] }],
        },
      ]);
      expect(res.status).toBe(201);
      const body = (await res.json()) as Record<string, unknown>;
      expect(body).toEqual({
        task_count: 2,
        annotation_count: 1,
        prediction_count: 1,
        duration: expect.any(Number),
        file_upload_ids: [],
        could_be_tasks_list: false,
        found_formats: [],
        data_columns: ['extra', 'image'],
        task_ids: [expect.any(Number), expect.any(Number)],
      });
      const [, second] = body.task_ids as number[];
      const task = (await (await get(`/api/tasks/${second}/`)).json()) as Record<string, unknown>;
      expect(task).toMatchObject({ id: second, project, data: { image: 'https://example.com/2.jpg', extra: 1 }, meta: { source: 'test' } });
      expect(task.annotations).toEqual([expect.objectContaining({ result: REAL_RESULT, ground_truth: true, task: second, project })]);

      const without = await send('POST', `/api/projects/${project}/import`, [{ image: 'x' }]);
      expect(without.status).toBe(201);
      expect(await without.json()).not.toHaveProperty('task_ids');
    });

    it('refuses tasks missing a $variable of the label config, and bodies that are not arrays', async () => {
      const project = await createProject();
      const res = await send('POST', `/api/projects/${project}/import`, [{ image: 'a.jpg' }, { picture: 'b.jpg' }]);
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({
        detail: 'Validation error',
        validation_errors: { non_field_errors: ['Task 1: data is missing "image", used by the label config as $image'] },
      });
      expect(ls.tasks).toHaveLength(0); // nothing of a refused import is kept

      const notArray = await send('POST', `/api/projects/${project}/import`, { image: 'a.jpg' });
      expect(notArray.status).toBe(400);
    });

    it('has no trailing slash: the slashed variant is a 404', async () => {
      const project = await createProject();
      const res = await send('POST', `/api/projects/${project}/import/`, [{ image: 'a.jpg' }]);
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual({ detail: 'Not found.' });
      expect((await send('POST', '/api/projects/999/import', [{ image: 'a.jpg' }])).status).toBe(404);
    });
  });

  describe('tasks and annotations', () => {
    it('pages tasks by id with totals, and answers a page past the end with 404', async () => {
      const project = await createProject();
      const ids = await importTasks(project, Array.from({ length: 5 }, (_, i) => ({ image: `${i}.jpg` })));
      const other = await createProject('other');
      await importTasks(other, [{ image: 'other.jpg' }]);

      const seen: number[] = [];
      for (let page = 1; ; page++) {
        const res = await get(`/api/tasks/?project=${project}&page=${page}&page_size=2`);
        expect(res.status).toBe(200);
        const body = (await res.json()) as { tasks: Record<string, unknown>[]; total: number; total_annotations: number; total_predictions: number };
        expect(body).toMatchObject({ total: 5, total_annotations: 0, total_predictions: 0 });
        expect(body.tasks[0]).not.toHaveProperty('annotations');
        seen.push(...body.tasks.map((t) => t.id as number));
        if (seen.length >= body.total) break;
      }
      expect(seen).toEqual(ids);

      const past = await get(`/api/tasks/?project=${project}&page=4&page_size=2`);
      expect(past.status).toBe(404);
      expect(await past.json()).toEqual({ detail: 'Invalid page.' });
    });

    it('shows annotate() with fields=all, on the task, and in /annotations/', async () => {
      const project = await createProject();
      const [a, b] = await importTasks(project, [{ image: 'a.jpg' }, { image: 'b.jpg' }]);
      const before = ls.tasks.find((t) => t.id === a)!.updated_at;
      const ann = ls.annotate(a!, REAL_RESULT, { annotator: 7, leadTime: 18.158 });
      const skip = ls.annotate(b!, [], { cancelled: true });
      expect(ls.tasks.find((t) => t.id === a)!.updated_at > before).toBe(true);
      expect(ann).toMatchObject({ result: REAL_RESULT, was_cancelled: false, ground_truth: false, lead_time: 18.158, completed_by: 7, task: a, project });
      expect(ann.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
      expect(skip).toMatchObject({ was_cancelled: true, result: [] });

      const list = (await (await get(`/api/tasks/?project=${project}&page=1&page_size=10&fields=all`)).json()) as {
        tasks: { id: number; annotations: unknown[]; predictions: unknown[]; updated_at: string }[];
        total_annotations: number;
      };
      expect(list.total_annotations).toBe(1); // the skipped one is not counted
      expect(list.tasks[0]!.annotations).toEqual([ann]);
      expect(list.tasks[0]!.updated_at).toBe(ann.updated_at);
      expect(list.tasks[1]!.annotations).toEqual([skip]);

      const anns = await get(`/api/tasks/${a}/annotations/`);
      expect(anns.status).toBe(200);
      expect(await anns.json()).toEqual([ann]);
      expect(((await (await get(`/api/tasks/${a}/`)).json()) as { annotations: unknown[] }).annotations).toEqual([ann]);
    });

    it('matches paths exactly, trailing slashes included', async () => {
      const project = await createProject();
      const [task] = await importTasks(project, [{ image: 'a.jpg' }]);
      for (const path of ['/api/version', `/api/projects/${project}`, `/api/tasks/${task}`, `/api/tasks/${task}/annotations`, '/api/projects', '/nope/']) {
        const res = await get(path);
        expect([path, res.status]).toEqual([path, 404]);
        expect(await res.json()).toEqual({ detail: 'Not found.' });
      }
      expect((await get(`/api/tasks/?project=${project}`)).status).toBe(200);
      expect((await get(`/api/tasks/${task}/annotations/`)).status).toBe(200);
      expect((await get('/api/tasks/99/')).status).toBe(404);
    });
  });

  describe('faults, delay and records', () => {
    it('serves queued faults after auth, and records every request', async () => {
      ls.failNext(1, { status: 503, headers: { 'retry-after': '1' } });
      expect((await get('/api/version/', {})).status).toBe(401); // auth first: the fault stays queued
      expect((await refresh()).status).toBe(200); // the refresh does not take faults
      const res = await get('/api/version/');
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('1');
      expect(await res.json()).toEqual({ detail: 'Service Unavailable' });
      expect((await get('/api/version/')).status).toBe(200);
      expect(ls.requests.map((r) => [r.method, r.url, r.status])).toEqual([
        ['GET', '/api/version/', 401],
        ['POST', '/api/token/refresh', 200],
        ['GET', '/api/version/', 503],
        ['GET', '/api/version/', 200],
      ]);
      expect(ls.requests[1]!.body).toEqual({ refresh: ls.pat });
    });

    it('delays answers by delayMs', async () => {
      ls.delayMs = 100;
      const started = Date.now();
      await get('/api/version/');
      expect(Date.now() - started).toBeGreaterThanOrEqual(90);
    });
  });
});
