// Pipeline files: valid ones load frozen; every problem names file:line:column, the field path and
// what was expected; ${VAR}s come from the environment; the committed JSON Schema matches the zod schema.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigErrors, SluiceError } from '../../../src/core/errors';
import { loadPipeline, pipelineJsonSchema } from '../../../src/run/pipeline';

const dir = mkdtempSync(join(tmpdir(), 'sluice-config-'));
let n = 0;

function file(text: string): string {
  const path = join(dir, `p${n++}.yaml`);
  writeFileSync(path, text);
  return path;
}

function problems(path: string, env: Record<string, string> = {}): string[] {
  try {
    loadPipeline(path, env);
  } catch (err) {
    expect(err).toBeInstanceOf(SluiceError);
    return err instanceof ConfigErrors ? err.problems.map((p) => p.message) : [(err as Error).message];
  }
  throw new Error('expected the pipeline to be rejected');
}

const VALID = `name: orders
sources:
  - name: orders
    read:
      driver: postgres
      url: \${ORDERS_DB_URL}
      table: orders
      key: id
      cursor: updated_at
      batchSize: 5000
tenant:
  column: tenant_id
export:
  - format: jsonl
    path: out
  - format: csv
    path: out
`;

test('the example from the issue loads as written, with defaults and ${VAR}s filled in, and frozen', () => {
  const p = loadPipeline(file(VALID), { ORDERS_DB_URL: 'postgres://u:secret@db:5432/app' });
  expect(p.sources[0]!.read).toMatchObject({ driver: 'postgres', url: 'postgres://u:secret@db:5432/app', key: ['id'], cursor: 'updated_at', batchSize: 5000 });
  expect(p.tenant).toEqual({ column: 'tenant_id' });
  expect(p.export.map((e) => e.format)).toEqual(['jsonl', 'csv']);
  expect(Object.isFrozen(p.sources[0]!.read)).toBe(true);
});

test('${VAR:-default} and $${ escapes', () => {
  const p = loadPipeline(file(VALID.replace('${ORDERS_DB_URL}', '${ORDERS_DB_URL:-sqlite:x.db}').replace('table: orders', () => 'query: "select \'$${literal}\' as x"')), {});
  expect(p.sources[0]!.read!.url).toBe('sqlite:x.db');
  expect(p.sources[0]!.read!.query).toBe("select '${literal}' as x");
});

test('a misspelled driver names file, line, column, path, the choices and what was given', () => {
  const path = file(VALID.replace('driver: postgres', 'driver: postgress'));
  const [message, ...more] = problems(path, { ORDERS_DB_URL: 'x' });
  expect(more).toEqual([]);
  expect(message).toMatch(new RegExp(`^${escape(path)}:5:15 sources\\[0\\]\\.read\\.driver: expected one of postgres, .*sqlite, got "postgress"$`));
});

test('a missing environment variable is an error at its line, never an empty string', () => {
  const path = file(VALID);
  expect(problems(path, {})).toEqual([`${path}:6:12 sources[0].read.url: environment variable ORDERS_DB_URL is not set`]);
});

test('unknown fields are named at their own position with the fields that exist', () => {
  const path = file(VALID.replace('      batchSize: 5000', '      batchsize: 5000'));
  const [message] = problems(path, { ORDERS_DB_URL: 'x' });
  expect(message).toMatch(new RegExp(`^${escape(path)}:10:7 sources\\[0\\]\\.read\\.batchsize: unknown field; expected one of .*batchSize`));
});

test('wrong types say what was expected and what was given', () => {
  const path = file(VALID.replace('batchSize: 5000', 'batchSize: lots').replace('key: id', 'key: 5'));
  expect(problems(path, { ORDERS_DB_URL: 'x' })).toEqual([
    `${path}:8:12 sources[0].read.key: expected string or array, got 5`,
    `${path}:10:18 sources[0].read.batchSize: expected number, got "lots"`,
  ]);
});

test('a missing required field points at its parent object', () => {
  const path = file(VALID.replace('      key: id\n', ''));
  const [message] = problems(path, { ORDERS_DB_URL: 'x' });
  expect(message).toBe(`${path}:5:7 sources[0].read.key: required field is missing (expected string or array)`);
});

test('table and query are exclusive; every source needs a tenant; names are unique', () => {
  const both = file(VALID.replace('table: orders', 'table: orders\n      query: select 1'));
  expect(problems(both, { ORDERS_DB_URL: 'x' })[0]).toContain('give exactly one of `table` or `query`');
  const noTenant = file(VALID.replace('tenant:\n  column: tenant_id\n', ''));
  expect(problems(noTenant, { ORDERS_DB_URL: 'x' })[0]).toMatch(/:3:5 sources\[0\]: no tenant/);
  const twice = file(VALID.replace('sources:\n', 'sources:\n  - name: orders\n    read: { driver: sqlite, url: a.db, table: t, key: id }\n'));
  expect(problems(twice, { ORDERS_DB_URL: 'x' })[0]).toContain('sources[1].name: another source is already named orders');
});

const PULL = `name: issues
tenant: { column: user.login }
sources:
  - name: issues
    pull:
      url: \${API_BASE:-https://api.github.com}/repos/acme/app/issues
      params: { state: all, sort: updated, direction: asc, per_page: 100 }
      auth: { bearer: \${API_TOKEN} }
      records: $
      key: id
      cursor: { field: updated_at, param: since }
      paginate: link
      rateLimit: { perSecond: 5 }
    schedule: "*/5 * * * *"
`;

test('the pull example from the issue loads as written: ${VAR}s work inside flow mappings', () => {
  const p = loadPipeline(file(PULL), { API_TOKEN: 'tok{,}en' });
  expect(p.sources[0]!.pull).toMatchObject({
    url: 'https://api.github.com/repos/acme/app/issues',
    params: { state: 'all', sort: 'updated', direction: 'asc', per_page: '100' },
    auth: { bearer: 'tok{,}en' },
    records: [],
    key: [['id']],
    cursor: { field: ['updated_at'], param: 'since' },
    paginate: { style: 'link' },
    rateLimit: { perSecond: 5 },
    timeout: 30,
  });
  expect(p.sources[0]!.schedule).toBe('*/5 * * * *');
});

test('a missing ${VAR} inside a flow mapping still names its own line and column', () => {
  const path = file(PULL);
  expect(problems(path)).toEqual([`${path}:8:23 sources[0].pull.auth.bearer: environment variable API_TOKEN is not set`]);
});

test('a source is exactly one kind; schedules are cron expressions; paths and pagination are checked', () => {
  const both = file(PULL.replace('    schedule:', '    read: { driver: sqlite, url: x.db, table: t, key: id }\n    schedule:'));
  expect(problems(both, { API_TOKEN: 't' })).toEqual([expect.stringContaining('sources[0]: give exactly one of `read`, `pull`, `push` (got read and pull)')]);
  const cron = file(PULL.replace('*/5 * * * *', 'every five minutes'));
  expect(problems(cron, { API_TOKEN: 't' })).toEqual([expect.stringMatching(/:14:15 sources\[0\]\.schedule: expected a cron expression/)]);
  const path = file(PULL.replace('records: $', 'records: $.items[x]'));
  expect(problems(path, { API_TOKEN: 't' })).toEqual([expect.stringMatching(/:9:16 sources\[0\]\.pull\.records: expected a JSON path such as \$\.items or id/)]);
  const style = file(PULL.replace('paginate: link', 'paginate: { style: cursor, param: after }'));
  expect(problems(style, { API_TOKEN: 't' })[0]).toMatch(/sources\[0\]\.pull\.paginate/);
});

test('a push source: unsigned needs allowInsecure; a signed one needs its secret; no pipeline tenant needed with a tenant path', () => {
  const push = (body: string) => `name: hooks\nsources:\n  - name: gh\n    push:\n${body}`;
  expect(problems(file(push('      verify: none\n      tenant: $.org\n')))).toEqual([expect.stringMatching(/:5:15 sources\[0\]\.push\.verify: `verify: none` accepts anyone's deliveries/)]);
  expect(problems(file(push('      verify: github\n      tenant: $.org\n')))).toEqual([expect.stringMatching(/sources\[0\]\.push\.secret: `verify: github` needs a secret/)]);
  expect(problems(file(push('      verify: standard-webhooks\n      secret: "whsec_not base64!"\n      tenant: $.org\n')))).toEqual([
    expect.stringMatching(/sources\[0\]\.push\.secret: .*base64/),
  ]);
  // an unset variable is reported once, not also as a malformed secret
  const unset = file(push('      verify: standard-webhooks\n      secret: ${HOOK_SECRET}\n      tenant: $.org\n'));
  expect(problems(unset)).toEqual([`${unset}:6:15 sources[0].push.secret: environment variable HOOK_SECRET is not set`]);
  const ok = loadPipeline(file(push('      verify: github\n      secret: s\n      tenant: $.repository.owner.login\n      key: $.issue.id\n')), {});
  expect(ok.sources[0]!.push).toMatchObject({ verify: 'github', key: ['issue', 'id'], tenant: ['repository', 'owner', 'login'], maxBodyBytes: 1048576, tolerance: 300 });
});

test('malformed YAML names its line and column', () => {
  const path = file('name: x\nsources:\n  - name: a\n   read: {\n');
  const [message] = problems(path);
  expect(message).toMatch(new RegExp(`^${escape(path)}:\\d+:\\d+ `));
});

test('a file that does not exist is a config error naming it', () => {
  expect(problems(join(dir, 'nope.yaml'))[0]).toContain('cannot read pipeline file');
});

test('the shipped pipelines are valid', () => {
  const p = loadPipeline(join(__dirname, '..', '..', '..', 'pipelines', 'chinook.yaml'), {});
  expect(p.sources.map((s) => s.name)).toEqual(['invoices', 'invoice_lines', 'customers']);
});

test('the committed JSON Schema is the one generated from the zod schema (run `sluice schema > schema/pipeline.schema.json`)', () => {
  const committed = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'schema', 'pipeline.schema.json'), 'utf8'));
  expect(committed).toEqual(pipelineJsonSchema());
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
