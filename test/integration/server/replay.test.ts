// `sluice replay`: the records of deliveries received since a time are written again per tenant, from
// the store as staged (nothing is staged again), as a dataset of their own that neither moves `latest`
// nor changes what the next regular export holds.
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signGithub } from '../../../src/extract/push/verify';
import { parseSince } from '../../../src/cli/commands/replay';
import { loadPipeline, type Pipeline } from '../../../src/run/pipeline';
import { replayPipeline } from '../../../src/run/replay';
import { runPipeline } from '../../../src/run/run';
import { Service } from '../../../src/run/serve';
import { openStore } from '../../../src/stage/open';

const SECRET = 'replay-secret';
let dir: string;
let pipeline: Pipeline;
let staging: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-replay-'));
  staging = `sqlite:${join(dir, 'staging.db')}`;
  const file = join(dir, 'hooks.yaml');
  writeFileSync(
    file,
    `name: hooks
sources:
  - name: events
    push: { verify: github, secret: \${SECRET}, key: $.id, tenant: $.org }
export:
  - format: jsonl
    path: ${join(dir, 'out')}
`,
  );
  pipeline = loadPipeline(file, { SECRET });
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function deliver(service: Service, id: string, org: string): Promise<void> {
  const body = Buffer.from(JSON.stringify({ id, org, v: 1 }));
  const answer = await service.receive('hooks', 'events', { 'content-type': 'application/json', 'x-github-delivery': `d-${id}`, 'x-hub-signature-256': signGithub(SECRET, body) }, body);
  expect(answer.status).toBe(200);
}

const lines = (file: string) => readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { id: string });

test('replays exactly the deliveries received since the time, per tenant, and leaves the export sequence alone', async () => {
  const service = await Service.open([pipeline], { stagingUrl: staging });
  let since: Date;
  try {
    await deliver(service, 'a1', 'acme');
    await deliver(service, 'g1', 'globex');
    await new Promise((r) => setTimeout(r, 20));
    since = new Date();
    await new Promise((r) => setTimeout(r, 20));
    await deliver(service, 'a2', 'acme');
    await deliver(service, 'a3', 'acme');
  } finally {
    await service.close();
  }
  const first = await runPipeline(pipeline, { stagingUrl: staging, env: {} });
  expect(first.exports.map((e) => [e.tenant, e.rows]).sort()).toEqual([
    ['acme', 3],
    ['globex', 1],
  ]);
  const acmeLatest = readlinkSync(join(dir, 'out', 'hooks', 'acme', 'latest'));

  const replay = await replayPipeline(pipeline, { source: 'events', since, stagingUrl: staging });
  expect(replay.exports).toHaveLength(1); // globex had nothing since then
  const [acme] = replay.exports;
  expect(acme).toMatchObject({ tenant: 'acme', kind: 'replay', rows: 2 });
  expect(lines(join(acme!.dir, 'events.jsonl')).map((r) => r.id).sort()).toEqual(['a2', 'a3']);
  expect(JSON.parse(readFileSync(join(acme!.dir, 'manifest.json'), 'utf8'))).toMatchObject({ kind: 'replay', tenant: 'acme' });
  expect(readlinkSync(join(dir, 'out', 'hooks', 'acme', 'latest'))).toBe(acmeLatest);

  // nothing was staged again, and the next regular export has nothing new to say
  const store = openStore(staging);
  try {
    const runs = await store.runs('hooks', 10);
    expect(runs.reduce((n, r) => n + r.staged, 0)).toBe(0);
  } finally {
    await store.close();
  }
  const next = await runPipeline(pipeline, { stagingUrl: staging, env: {} });
  expect(next.exports).toEqual([]);
});

test('replay refuses a source that is not pushed, and --from takes a time or a duration back', async () => {
  await expect(replayPipeline(pipeline, { source: 'nope', since: new Date(), stagingUrl: staging })).rejects.toMatchObject({ code: 'SLUICE_USAGE' });
  expect(parseSince('2026-12-01T09:00:00Z').toISOString()).toBe('2026-12-01T09:00:00.000Z');
  expect(parseSince('2h', Date.parse('2026-12-01T09:00:00Z')).toISOString()).toBe('2026-12-01T07:00:00.000Z');
  expect(() => parseSince('yesterday')).toThrow(/--from must be a time/);
  expect(existsSync(join(dir, 'staging.db'))).toBe(false); // an unknown source opened nothing
});
