/** The fake Label Studio the client tests run against: it must behave as the reference says the real one does. */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { strFromU8, unzipSync } from 'fflate';
import { convertToCoco, decodeJwt, FakeLabelStudio } from '../servers/label-studio';

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

const FIXTURES = join(__dirname, '..', '..', 'fixtures', 'label-studio');
const fixture = (...path: string[]): string => readFileSync(join(FIXTURES, ...path), 'utf8');

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

  describe('export', () => {
    const TEXT_CONFIG = `<View>
  <Text name="text" value="$text"/>
  <Choices name="sentiment" toName="text">
    <Choice value="Positive"/>
    <Choice value="Negative"/>
  </Choices>
</View>`;
    const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;
    const md5 = (s: string | Uint8Array): string => createHash('md5').update(s).digest('hex');
    /** a rectangle result as the UI saves it, on a 1000×500 image */
    const box = (x: number, y: number, width: number, height: number, label: string, rotation = 0): Record<string, unknown> => ({
      id: `r-${label}-${x}`,
      from_name: 'label',
      to_name: 'image',
      type: 'rectanglelabels',
      original_width: 1000,
      original_height: 500,
      image_rotation: 0,
      value: { x, y, width, height, rotation, rectanglelabels: [label] },
    });
    const attachment = (project: number, ext: string): RegExp =>
      new RegExp(`^attachment; filename="project-${project}-at-\\d{4}-\\d\\d-\\d\\d-\\d\\d-\\d\\d-[0-9a-f]{8}\\.${ext}"$`);
    const unzip = async (res: Response): Promise<Record<string, Uint8Array>> => unzipSync(new Uint8Array(await res.arrayBuffer()));
    /** the fields of a converter run that depend on when it ran */
    const timeless = (coco: { info: Record<string, unknown> }): unknown => ({ ...coco, info: { ...coco.info, year: 0, date_created: '' } });

    describe('formats', () => {
      it('lists every format, those the label config does not allow disabled and last', async () => {
        const boxes = await createProject();
        const res = await get(`/api/projects/${boxes}/export/formats`);
        expect(res.status).toBe(200);
        const formats = (await res.json()) as { name: string; disabled?: boolean }[];
        expect(formats).toHaveLength(17);
        const enabled = formats.filter((f) => !f.disabled).map((f) => f.name);
        expect(enabled).toEqual(['JSON', 'JSON_MIN', 'CSV', 'TSV', 'COCO', 'COCO_WITH_IMAGES', 'VOC', 'YOLO', 'YOLO_WITH_IMAGES', 'YOLO_OBB', 'YOLO_OBB_WITH_IMAGES']);
        expect(formats.slice(enabled.length).every((f) => f.disabled === true)).toBe(true);
        expect(formats[0]).toEqual({ name: 'JSON', title: 'JSON', description: expect.any(String), link: 'https://labelstud.io/guide/export.html#JSON' });

        const text = await createProject('Text', TEXT_CONFIG);
        const textFormats = (await (await get(`/api/projects/${text}/export/formats`)).json()) as { name: string; disabled?: boolean }[];
        expect(textFormats.filter((f) => !f.disabled).map((f) => f.name)).toEqual(['JSON', 'JSON_MIN', 'CSV', 'TSV']);
        expect(textFormats.find((f) => f.name === 'COCO')).toMatchObject({ title: 'COCO', tags: ['image segmentation', 'object detection', 'keypoints'], disabled: true });
      });
    });

    describe('synchronous export', () => {
      it('exports the tasks with annotations (skipped ones too) as JSON, with the server headers', async () => {
        const project = await createProject();
        const ids = await importTasks(project, [
          { data: { image: 'https://example.com/img/a.jpg' }, predictions: [{ model_version: 'm1', score: 0.5, result: [] }] },
          { image: 'b.jpg' },
          { image: 'c.jpg' },
        ]);
        const ann = ls.annotate(ids[0]!, [box(10, 10, 20, 20, 'car')]);
        const skip = ls.annotate(ids[1]!, [], { cancelled: true });

        const res = await get(`/api/projects/${project}/export?exportType=JSON`);
        expect(res.status).toBe(200);
        expect(res.headers.get('content-type')).toBe('application/.json'); // "application/" + extension with its dot
        const disposition = res.headers.get('content-disposition')!;
        expect(disposition).toMatch(attachment(project, 'json'));
        expect(res.headers.get('filename')).toBe(disposition.slice('attachment; filename="'.length, -1));
        const text = await res.text();
        expect(text).toContain('"https:\\/\\/example.com\\/img\\/a.jpg"'); // written with ujson
        const tasks = JSON.parse(text) as Record<string, unknown>[];
        expect(tasks.map((t) => t.id)).toEqual([ids[0], ids[1]]);
        expect(tasks[0]).toMatchObject({
          id: ids[0],
          project,
          data: { image: 'https://example.com/img/a.jpg' },
          annotations: [ann],
          predictions: [expect.objectContaining({ model_version: 'm1', score: 0.5, result: [], task: ids[0] })],
          drafts: [],
          total_annotations: 1,
          cancelled_annotations: 0,
          total_predictions: 1,
        });
        expect(tasks[1]!.annotations).toEqual([skip]);
      });

      it('takes download_all_tasks, ids[], and exportType over export_type', async () => {
        const project = await createProject();
        const ids = await importTasks(project, [{ image: 'a.jpg' }, { image: 'b.jpg' }, { image: 'c.jpg' }]);
        ls.annotate(ids[1]!, [box(10, 10, 20, 20, 'car')]);
        const exported = async (query: string): Promise<unknown[]> => {
          const res = await get(`/api/projects/${project}/export?${query}`);
          expect([query, res.status]).toEqual([query, 200]);
          return ((await res.json()) as { id: number }[]).map((t) => t.id);
        };
        expect(await exported('')).toEqual([ids[1]]);
        expect(await exported('download_all_tasks=true')).toEqual(ids);
        expect(await exported(`download_all_tasks=1&ids[]=${ids[2]}&ids[]=${ids[0]}`)).toEqual([ids[0], ids[2]]);
        expect(await exported(`ids[]=${ids[0]}`)).toEqual([]);

        const min = await get(`/api/projects/${project}/export?export_type=COCO&exportType=JSON_MIN`);
        expect(min.headers.get('content-type')).toBe('application/.json');
        const coco = await get(`/api/projects/${project}/export?export_type=COCO`);
        expect(coco.headers.get('content-type')).toBe('application/zip');
        expect(coco.headers.get('content-disposition')).toMatch(attachment(project, 'zip'));
      });

      it('refuses bad parameters and formats', async () => {
        const project = await createProject();
        const bad = await get(`/api/projects/${project}/export?download_all_tasks=maybe`);
        expect(bad.status).toBe(400);
        expect(await bad.json()).toEqual({ download_all_tasks: ['Must be a valid boolean.'] });
        const unknown = await get(`/api/projects/${project}/export?exportType=NOPE`);
        expect(unknown.status).toBe(400);
        expect(await unknown.json()).toEqual({ detail: 'NOPE is not supported export format' });
        const csv = await get(`/api/projects/${project}/export?exportType=CSV`);
        expect(csv.status).toBe(501); // a real format this fake does not produce
        expect(await csv.json()).toEqual({ detail: expect.stringContaining('does not implement the CSV export') });

        const text = await createProject('Text', TEXT_CONFIG);
        const coco = await get(`/api/projects/${text}/export?exportType=COCO`);
        expect(coco.status).toBe(400);
        expect(await coco.json()).toEqual({ detail: 'COCO is not supported export format for this project' });
        expect((await get(`/api/projects/${text}/export?exportType=JSON_MIN`)).status).toBe(200);
        expect((await get('/api/projects/999/export')).status).toBe(404);
      });

      it('exports JSON_MIN: one flat record per submitted annotation', async () => {
        const config = `<View>
  <Image name="image" value="$image"/>
  <RectangleLabels name="label" toName="image"><Label value="car"/></RectangleLabels>
  <Choices name="quality" toName="image"><Choice value="good"/><Choice value="bad"/></Choices>
</View>`;
        const project = await createProject('Min', config);
        const [a, b, c] = await importTasks(project, [{ image: 'a.jpg' }, { image: 'b.jpg' }, { image: 'c.jpg' }]);
        const choice = { id: 'q1', from_name: 'quality', to_name: 'image', type: 'choices', value: { choices: ['good'] } };
        const stray = { id: 's1', from_name: 'not-in-config', to_name: 'image', type: 'choices', value: { choices: ['x'] } };
        const ann = ls.annotate(a!, [box(10, 10, 20, 20, 'car'), choice, stray], { annotator: 7, leadTime: 3 });
        ls.annotate(b!, [], { cancelled: true });

        const res = await get(`/api/projects/${project}/export?exportType=JSON_MIN`);
        expect(res.headers.get('content-disposition')).toMatch(attachment(project, 'json'));
        const text = await res.text();
        expect(text.startsWith('[\n{\n  "image": "a.jpg",\n')).toBe(true);
        const record = {
          image: 'a.jpg',
          id: a,
          label: [{ x: 10, y: 10, width: 20, height: 20, rotation: 0, rectanglelabels: ['car'], original_width: 1000, original_height: 500 }],
          quality: 'good',
          annotator: 7,
          annotation_id: ann.id,
          created_at: ann.created_at,
          updated_at: ann.updated_at,
          lead_time: 3,
        };
        expect(JSON.parse(text)).toEqual([record]); // the skipped annotation of b gives no record

        const all = await (await get(`/api/projects/${project}/export?exportType=JSON_MIN&download_all_tasks=true`)).json();
        expect(all).toEqual([record, { image: 'c.jpg', id: c, annotator: null, annotation_id: null, created_at: null, updated_at: null, lead_time: null }]);
      });

      it('exports COCO as a ZIP holding result.json and an empty images/ folder', async () => {
        const project = await createProject(); // car has category="10", person none
        const [a, b] = await importTasks(project, [{ image: 'https://example.com/img/a.jpg?sig=1' }, { image: 'b.jpg' }]);
        ls.annotate(a!, [box(10, 10, 20, 20, 'car'), box(30, 30, 10, 10, 'person'), box(1, 1, 1, 1, 'bus')]);
        ls.annotate(a!, [box(50, 50, 10, 10, 'person')]); // newer: converted first

        const res = await get(`/api/projects/${project}/export?exportType=COCO&download_all_tasks=true`);
        expect(res.status).toBe(200);
        expect(res.headers.get('content-type')).toBe('application/zip');
        expect(res.headers.get('content-disposition')).toMatch(attachment(project, 'zip'));
        const files = await unzip(res);
        expect(Object.keys(files)).toEqual(['images/', 'result.json']);
        expect(files['images/']!.length).toBe(0);
        const text = strFromU8(files['result.json']!);
        expect(text).toContain('"file_name": "images\\/'); // ujson, indent 2
        const coco = JSON.parse(text) as Record<string, unknown>;
        const fileA = `images/${md5('https://example.com/img/a.jpg?sig=1').slice(0, 8)}__a.jpg`;
        expect(coco.images).toEqual([
          { width: 1000, height: 500, id: 0, file_name: fileA }, // one image per annotation, not per task
          { width: 1000, height: 500, id: 1, file_name: fileA },
          { width: null, height: null, id: 2, file_name: `images/${md5('b.jpg').slice(0, 8)}__b.jpg` },
        ]);
        // from the config: explicit ids, then the others alphabetically from 0; "bus" is not in it: id = len(categories)
        expect(coco.categories).toEqual([
          { id: 10, name: 'car' },
          { id: 0, name: 'person' },
          { id: 2, name: 'bus' },
        ]);
        const ann = (id: number, image: number, category: number, bbox: number[]): Record<string, unknown> => ({
          id,
          image_id: image,
          category_id: category,
          segmentation: [],
          bbox,
          ignore: 0,
          iscrowd: 0,
          area: bbox[2]! * bbox[3]!,
        });
        expect(coco.annotations).toEqual([
          ann(0, 0, 0, [500, 250, 100, 50]),
          ann(1, 1, 10, [100, 50, 200, 100]),
          ann(2, 1, 0, [300, 150, 100, 50]),
          ann(3, 1, 2, [10, 5, 10, 5]),
        ]);
        expect(coco.info).toEqual({
          year: new Date().getUTCFullYear(),
          version: '1.0',
          description: '',
          contributor: 'Label Studio',
          url: '',
          date_created: expect.stringMatching(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{6})?$/),
        });
        expect(coco).not.toHaveProperty('licenses');
        void b;
      });
    });

    describe('COCO conversion (reference §8)', () => {
      // The expected files are the official converter's output on the same input. Known differences, none
      // visible once parsed: Python writes integral floats as `100.0` where JSON.stringify writes `100`;
      // `info.year` / `info.date_created` are when it ran.
      it('gives the official converter output for the real export fixture, directly and through the server', async () => {
        const config = fixture('label_config.xml');
        const expected = JSON.parse(fixture('expected_coco_result.generated.json')) as { info: Record<string, unknown> };
        const tasks = JSON.parse(fixture('ls_export_tasks.json')) as unknown[];
        expect(timeless(convertToCoco(tasks, config))).toEqual(timeless(expected));

        // imported into the fake and exported back: same tasks, new ids; the converter does not use them
        const project = await createProject('Mixed', config);
        await importTasks(project, tasks);
        const files = await unzip(await get(`/api/projects/${project}/export?exportType=COCO`));
        expect(timeless(JSON.parse(strFromU8(files['result.json']!)) as { info: Record<string, unknown> })).toEqual(timeless(expected));
      });

      it('keeps explicit category ids (fixture of the converter tests)', () => {
        const expected = JSON.parse(fixture('coco-export-explicit-category', 'expected_coco_result.generated.json')) as { info: Record<string, unknown> };
        const tasks = JSON.parse(fixture('coco-export-explicit-category', 'ls_export_tasks.json')) as unknown[];
        expect(timeless(convertToCoco(tasks, fixture('coco-export-explicit-category', 'label_config.xml')))).toEqual(timeless(expected));
      });

      it('replaces a rotated box by the box around it, and names images as the converter does', () => {
        const config = `<View><Image name="image" value="$image"/><RectangleLabels name="label" toName="image"><Label value="car"/></RectangleLabels></View>`;
        const task = (id: number, image: string, result: unknown[]): unknown => ({ id, data: { image }, annotations: [{ id, result, was_cancelled: false }] });
        const rotated = { ...box(50, 50, 20, 10, 'car', 30), original_width: 640, original_height: 480 };
        const coco = convertToCoco(
          [
            task(1, 'https://h.example/p/q.png?sig=1#x', [rotated]),
            task(2, '/data/upload/3/x.jpg', []),
            task(3, 's3://bucket/dir/y.jpg', []),
            { id: 4, data: { image: 'skipped.jpg' }, annotations: [{ id: 9, result: [box(1, 1, 1, 1, 'car')], was_cancelled: true }] },
          ],
          config,
        );
        const bbox = coco.annotations[0]!.bbox;
        // values from the Python code
        [288.0, 240.0, 142.85125168440817, 89.56921938165304].forEach((v, i) => expect(bbox[i]).toBeCloseTo(v, 9));
        expect(coco.images.map((i) => i.file_name)).toEqual([
          `images/${md5('https://h.example/p/q.png?sig=1#x').slice(0, 8)}__q.png`,
          '/data/upload/3/x.jpg', // uploads and cloud files: the URL unchanged (the server cannot resolve them)
          's3://bucket/dir/y.jpg',
        ]); // a task whose only annotation was skipped yields nothing
        expect(coco.categories).toEqual([{ id: 0, name: 'car' }]);
      });
    });

    describe('snapshots', () => {
      const exportsPath = (project: number, rest = ''): string => `/api/projects/${project}/exports/${rest}`;

      it('creates a snapshot frozen at creation, completes it over polls, converts, downloads and deletes it', async () => {
        const project = await createProject('My boxes');
        const [a, b] = await importTasks(project, [{ image: 'a.jpg' }, { image: 'b.jpg' }]);
        ls.annotate(a!, [box(10, 10, 20, 20, 'car')]);

        const created = await send('POST', exportsPath(project), {});
        expect(created.status).toBe(201);
        const snap = (await created.json()) as { id: number };
        expect(snap).toEqual({
          title: expect.stringMatching(/^My-boxes-at-\d{4}-\d\d-\d\d-\d\d-\d\d$/),
          id: expect.any(Number),
          created_by: { id: 1, first_name: '', last_name: '', email: 'test@example.com', avatar: null },
          created_at: expect.stringMatching(ISO),
          finished_at: null,
          status: 'created',
          md5: '',
          counters: {},
          converted_formats: [],
          task_filter_options: null,
          annotation_filter_options: null,
          serialization_options: null,
        });
        ls.annotate(b!, [box(30, 30, 10, 10, 'car')]); // too late for the snapshot

        const early = await get(`/api/projects/${project}/exports/${snap.id}/download`);
        expect(early.status).toBe(404);
        expect(early.headers.get('content-type')).toBe('text/html; charset=utf-8');
        expect(await early.text()).toBe('Export is not completed');

        const poll = async (): Promise<Record<string, unknown>> => {
          const res = await get(`/api/projects/${project}/exports/${snap.id}`);
          expect(res.status).toBe(200);
          return (await res.json()) as Record<string, unknown>;
        };
        expect(await poll()).toMatchObject({ status: 'in_progress', finished_at: null, md5: '' });
        const done = await poll();
        expect(done).toMatchObject({ status: 'completed', counters: { task_number: 2 }, finished_at: expect.stringMatching(ISO), md5: expect.stringMatching(/^[0-9a-f]{32}$/) });
        expect(await (await get(exportsPath(project))).json()).toEqual([done]);

        const file = await get(`/api/projects/${project}/exports/${snap.id}/download`);
        expect(file.status).toBe(200);
        expect(file.headers.get('content-type')).toBe('application/json');
        const name = `project-${project}-at-\\d{4}-\\d\\d-\\d\\d-\\d\\d-\\d\\d-${String(done.md5).slice(0, 8)}\\.json`;
        expect(file.headers.get('content-disposition')).toMatch(new RegExp(`^attachment; filename="export/${project}/${name}"$`));
        expect(file.headers.get('filename')).toMatch(new RegExp(`^${name}$`));
        const text = await file.text();
        expect(md5(text)).toBe(done.md5);
        expect(text.startsWith(`[{"id": ${a}, "annotations": [{`)).toBe(true); // Python json separators
        const tasks = JSON.parse(text) as { id: number; annotations: unknown[]; predictions: unknown[] }[];
        expect(tasks.map((t) => [t.id, t.annotations.length])).toEqual([
          [a, 1],
          [b, 0],
        ]);

        const convert = await send('POST', exportsPath(project, `${snap.id}/convert`), { export_type: 'COCO', download_resources: false });
        expect(convert.status).toBe(200);
        const { converted_format } = (await convert.json()) as { converted_format: number };
        expect(converted_format).toEqual(expect.any(Number));
        const notYet = await get(`/api/projects/${project}/exports/${snap.id}/download?exportType=COCO`);
        expect(notYet.status).toBe(404);
        expect(await notYet.json()).toEqual({ detail: 'COCO format is not converted yet' });
        const twice = await send('POST', exportsPath(project, `${snap.id}/convert`), { export_type: 'COCO' });
        expect(twice.status).toBe(400);
        expect(await twice.json()).toEqual(['Conversion to COCO already started']);
        expect((await poll()).converted_formats).toEqual([{ id: converted_format, status: 'in_progress', export_type: 'COCO', traceback: null }]);
        expect((await poll()).converted_formats).toEqual([{ id: converted_format, status: 'completed', export_type: 'COCO', traceback: null }]);

        const zip = await get(`/api/projects/${project}/exports/${snap.id}/download?exportType=COCO`);
        expect(zip.status).toBe(200);
        expect(zip.headers.get('content-type')).toBe('application/zip');
        expect(zip.headers.get('content-disposition')).toMatch(new RegExp(`^attachment; filename="export/${project}/project-${project}-at-[-0-9]{16}-[0-9a-f]{8}\\.zip"$`));
        const files = await unzip(zip);
        expect(Object.keys(files)).toEqual(['images/', 'result.json']);
        const coco = JSON.parse(strFromU8(files['result.json']!)) as { images: { width: unknown }[]; annotations: unknown[] };
        expect(coco.images.map((i) => i.width)).toEqual([1000, null]); // b had no annotation when the snapshot was taken
        expect(coco.annotations).toHaveLength(1);
        // the raw snapshot stays available as JSON
        expect(md5(await (await get(`/api/projects/${project}/exports/${snap.id}/download?exportType=JSON`)).text())).toBe(done.md5);

        const deleted = await fetch(`${ls.url}${exportsPath(project, String(snap.id))}`, { method: 'DELETE', headers: legacy });
        expect(deleted.status).toBe(204);
        const gone = await get(exportsPath(project, String(snap.id)));
        expect(gone.status).toBe(404);
        expect(await gone.json()).toEqual({ detail: 'Not found.' });
        expect(await (await get(exportsPath(project))).json()).toEqual([]);
      });

      it('fails snapshots and conversions on request, and finishes at once with zero polls', async () => {
        const project = await createProject();
        const [a] = await importTasks(project, [{ image: 'a.jpg' }]);
        ls.annotate(a!, [box(10, 10, 20, 20, 'car')]);

        ls.snapshotPollsUntilDone = 1;
        ls.failNextSnapshot();
        const failing = (await (await send('POST', exportsPath(project), { title: 'doomed' })).json()) as { id: number; title: string };
        expect(failing.title).toBe('doomed');
        expect((await send('POST', exportsPath(project, `${failing.id}/convert`), { export_type: 'JSON_MIN' })).status).toBe(200);
        const failed = (await (await get(exportsPath(project, String(failing.id)))).json()) as Record<string, unknown>;
        expect(failed).toMatchObject({ status: 'failed', finished_at: expect.stringMatching(ISO), md5: '', counters: {} });
        expect(await (await get(exportsPath(project, `${failing.id}/download`))).text()).toBe('Export is not completed');
        await get(exportsPath(project, String(failing.id))); // the conversion's second poll: it finishes, failed
        const conversions = ((await (await get(exportsPath(project, String(failing.id)))).json()) as { converted_formats: { status: string; traceback: string }[] }).converted_formats;
        expect(conversions[0]).toMatchObject({ status: 'failed', traceback: expect.stringContaining('TypeError') }); // the snapshot has no file

        ls.snapshotPollsUntilDone = 0;
        ls.conversionPollsUntilDone = 0;
        const quick = (await (await send('POST', exportsPath(project), {})).json()) as { id: number; status: string; counters: unknown };
        expect(quick).toMatchObject({ status: 'completed', counters: { task_number: 1 } });
        ls.failNextConversion();
        await send('POST', exportsPath(project, `${quick.id}/convert`), { export_type: 'JSON_MIN' });
        await send('POST', exportsPath(project, `${quick.id}/convert`), { export_type: 'COCO' });
        const after = (await (await get(exportsPath(project, String(quick.id)))).json()) as { converted_formats: { export_type: string; status: string; traceback: string | null }[] };
        expect(after.converted_formats).toEqual([
          { id: expect.any(Number), export_type: 'JSON_MIN', status: 'failed', traceback: expect.stringContaining('failNextConversion') },
          { id: expect.any(Number), export_type: 'COCO', status: 'completed', traceback: null },
        ]);
        expect((await get(exportsPath(project, `${quick.id}/download?exportType=JSON_MIN`))).status).toBe(404);
        expect((await get(exportsPath(project, `${quick.id}/download?exportType=COCO`))).status).toBe(200);
        const list = (await (await get(exportsPath(project))).json()) as { id: number }[];
        expect(list.map((e) => e.id)).toEqual([quick.id, failing.id]); // newest first
      });

      it('applies task and annotation filters and serialization options', async () => {
        ls.snapshotPollsUntilDone = 0;
        const project = await createProject();
        const [a, b, c] = await importTasks(project, [
          { data: { image: 'a.jpg' }, predictions: [{ model_version: 'm1', result: [] }] },
          { image: 'b.jpg' },
          { image: 'c.jpg' },
        ]);
        const usual = ls.annotate(a!, [box(10, 10, 20, 20, 'car')], { annotator: 7 });
        const gt = (await (await send('POST', `/api/tasks/${a}/annotations/`, { result: [], ground_truth: true })).json()) as { id: number };
        ls.annotate(b!, [], { cancelled: true });

        const snapshot = async (body: unknown): Promise<{ id: number; annotations: { id: number; completed_by: unknown }[]; predictions: unknown[] }[]> => {
          const created = await send('POST', exportsPath(project), body);
          expect(created.status).toBe(201);
          const { id } = (await created.json()) as { id: number };
          return (await (await get(exportsPath(project, `${id}/download`))).json()) as never;
        };
        const ids = (tasks: { id: number }[]): number[] => tasks.map((t) => t.id);
        expect(ids(await snapshot({}))).toEqual([a, b, c]);
        expect(ids(await snapshot({ task_filter_options: { annotated: 'only' } }))).toEqual([a]);
        expect(ids(await snapshot({ task_filter_options: { skipped: 'exclude' } }))).toEqual([a, c]);
        expect(ids(await snapshot({ task_filter_options: { only_with_annotations: true } }))).toEqual([a, b]);

        const gtOnly = await snapshot({ annotation_filter_options: { usual: false, ground_truth: true } });
        expect(gtOnly.map((t) => t.annotations.map((x) => x.id))).toEqual([[gt.id], [], []]);
        const usualOnly = await snapshot({ annotation_filter_options: {}, task_filter_options: { only_with_annotations: true } }); // usual defaults to true
        expect(usualOnly.map((t) => t.annotations.map((x) => x.id))).toEqual([[usual.id]]);

        const plain = await snapshot({});
        expect(plain[0]!.predictions).toEqual([expect.any(Number)]); // ids unless asked for
        expect(plain[0]!.annotations[0]!.completed_by).toBe(7);
        const full = await snapshot({ serialization_options: { predictions: { only_id: false }, annotations__completed_by: {} } });
        expect(full[0]!.predictions).toEqual([expect.objectContaining({ model_version: 'm1', task: a })]);
        expect(full[0]!.annotations[0]!.completed_by).toEqual({ id: 7, email: 'user7@example.com', first_name: '', last_name: '' });

        const bad = await send('POST', exportsPath(project), { task_filter_options: { annotated: 'maybe' }, annotation_filter_options: 'x' });
        expect(bad.status).toBe(400);
        expect(await bad.json()).toEqual({
          task_filter_options: { annotated: ['"maybe" is not a valid choice.'] },
          annotation_filter_options: { non_field_errors: ['Invalid data. Expected a dictionary, but got str.'] },
        });
      });

      it('validates conversions', async () => {
        ls.snapshotPollsUntilDone = 0;
        const text = await createProject('Text', TEXT_CONFIG);
        const { id } = (await (await send('POST', exportsPath(text), {})).json()) as { id: number };
        const convert = (body: unknown): Promise<Response> => send('POST', exportsPath(text, `${id}/convert`), body);
        const missing = await convert({});
        expect(missing.status).toBe(400);
        expect(await missing.json()).toEqual({ export_type: ['This field is required.'] });
        const unknown = await convert({ export_type: 'NOPE' });
        expect(await unknown.json()).toEqual({ export_type: ['NOPE is not supported export format'] });
        const coco = await convert({ export_type: 'COCO' });
        expect(coco.status).toBe(400);
        expect(await coco.json()).toEqual({ export_type: ['COCO is not supported export format for this project'] });
        expect((await convert({ export_type: 'CSV' })).status).toBe(501);
        expect((await convert({ export_type: 'JSON_MIN' })).status).toBe(200);
        expect((await send('POST', exportsPath(text, '999/convert'), { export_type: 'JSON_MIN' })).status).toBe(404);
      });

      it('matches export paths exactly and checks methods', async () => {
        ls.snapshotPollsUntilDone = 0;
        const project = await createProject();
        const { id } = (await (await send('POST', exportsPath(project), {})).json()) as { id: number };
        for (const path of [
          `/api/projects/${project}/export/`,
          `/api/projects/${project}/export/formats/`,
          `/api/projects/${project}/exports`,
          `/api/projects/${project}/exports/${id}/`,
          `/api/projects/${project}/exports/${id}/download/`,
          `/api/projects/${project}/exports/${id}/convert/`,
        ]) {
          const res = await get(path);
          expect([path, res.status]).toEqual([path, 404]);
        }
        expect((await send('POST', `/api/projects/${project}/export`, {})).status).toBe(405);
        expect((await get(`/api/projects/${project}/exports/${id}/convert`)).status).toBe(405);
        expect((await get(`/api/projects/999/exports/`)).status).toBe(404);
        expect((await get(`/api/projects/${project}/export`, {})).status).toBe(401);
        const other = await createProject('other');
        expect((await get(`/api/projects/${other}/exports/${id}`)).status).toBe(404); // a snapshot of another project
        await fetch(`${ls.url}/api/projects/${project}/`, { method: 'DELETE', headers: legacy });
        expect(ls.exports).toEqual([]);
      });
    });
  });
});
