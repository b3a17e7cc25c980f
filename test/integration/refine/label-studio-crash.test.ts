// A `sluice run` killed with SIGKILL after Label Studio took its import but before the task ids were kept:
// the next run finds the tasks by their meta instead of importing them again, and a later run merges
// the annotations. The kill is timed by a proxy in front of the local Label Studio that forwards the
// import, lets it happen there, and holds the answer back until the process is dead.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { BIN, expectExit, readJsonl, sluice } from '../../helpers/cli-sluice';
import { FakeLabelStudio } from '../../servers/label-studio';

let dir: string;
let ls: FakeLabelStudio;
let proxy: Server;
let proxyUrl: string;
/** resolves when an import has reached Label Studio; its answer is held until `release` */
let imported: Promise<() => void>;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-ls-crash-'));
  ls = await FakeLabelStudio.start();
  const db = new Database(join(dir, 'src.db'));
  db.exec(`CREATE TABLE tickets (id INTEGER PRIMARY KEY, note TEXT)`);
  db.prepare(`INSERT INTO tickets VALUES (1, 'Refund please'), (2, 'Box arrived crushed'), (3, 'Invoice is wrong')`).run();
  db.close();
  writeFileSync(join(dir, 'label-config.xml'), '<View><Text name="text" value="$text"/><Choices name="team" toName="text"><Choice value="billing"/><Choice value="shipping"/></Choices></View>');
  writeFileSync(
    join(dir, 'p.yaml'),
    `name: support
sources:
  - name: tickets
    read: { driver: sqlite, url: ${join(dir, 'src.db')}, table: tickets, key: id }
tenant: { value: acme }
refine:
  - labelStudio:
      url: \${LS_URL}
      token: legacy-token
      project: { title: "Tickets", labelConfig: ${join(dir, 'label-config.xml')} }
      data: { text: note }
      retries: 0
export:
  - format: jsonl
    path: ${join(dir, 'out')}
staging: sqlite:${join(dir, 'staging.db')}
`,
  );
  let onImport!: (release: () => void) => void;
  imported = new Promise((r) => (onImport = r));
  const target = new URL(ls.url);
  proxy = createServer((req, res) => {
    const upstream = request({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (answer) => {
      const relay = () => {
        res.writeHead(answer.statusCode!, answer.headers);
        answer.pipe(res);
      };
      if (req.method === 'POST' && /\/import/.test(req.url!)) onImport(relay);
      else relay();
    });
    req.pipe(upstream);
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
});
afterEach(async () => {
  proxy.closeAllConnections();
  await new Promise((r) => proxy.close(r));
  await ls.close();
  rmSync(dir, { recursive: true, force: true });
});

test('killed between import and keeping the task ids: no task is imported twice, annotations still arrive', async () => {
  const child = spawn(process.execPath, [BIN, 'run', join(dir, 'p.yaml')], { cwd: dir, env: { ...process.env, LS_URL: proxyUrl, SLUICE_STAGING_URL: undefined }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<NodeJS.Signals | null>((r) => child.on('exit', (_code, signal) => r(signal)));
  await Promise.race([imported, exited.then(() => Promise.reject(new Error(`the run ended before its import reached Label Studio:\n${stderr}`)))]);
  expect(ls.tasks).toHaveLength(3); // Label Studio has them; the process has not heard back
  child.kill('SIGKILL');
  expect(await exited).toBe('SIGKILL');

  const env = { LS_URL: ls.url };
  const again = await sluice(['run', join(dir, 'p.yaml'), '--json'], { cwd: dir, env });
  expectExit(again, 0);
  expect(ls.tasks).toHaveLength(3);
  expect(ls.requests.filter((r) => r.method === 'POST' && /\/import/.test(r.url))).toHaveLength(1);
  expect(JSON.parse(again.stdout).refined).toEqual({ tickets: { refined: 0, filtered: 0, quarantined: 0, failed: 0, pending: 3 } });

  for (const t of ls.tasks) ls.annotate(t.id, [{ from_name: 'team', to_name: 'text', type: 'choices', value: { choices: ['billing'] } }], { annotator: 2 });
  const done = await sluice(['run', join(dir, 'p.yaml'), '--json'], { cwd: dir, env });
  expectExit(done, 0);
  const summary = JSON.parse(done.stdout) as { exports: { dir: string }[] };
  const rows = readJsonl<{ id: number; annotation: { taskId: number } }>(join(summary.exports[0]!.dir, 'tickets.jsonl'));
  expect(rows.map((r) => [r.id, r.annotation.taskId])).toEqual(ls.tasks.map((t, i) => [i + 1, t.id]));
  expect(ls.tasks).toHaveLength(3);
}, 60_000);
