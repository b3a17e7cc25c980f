// `sluice tokens create|list|revoke`: a token is printed once and stored only as a hash; list never shows
// a secret; revoke stops it; the audit log names each token made or revoked, never its value.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { expectExit, sluice } from '../../helpers/cli-sluice';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-tokens-'));
  writeFileSync(join(dir, 'p.yaml'), `name: shop\nsources:\n  - name: items\n    read: { driver: sqlite, url: ${join(dir, 'src.db')}, table: items, key: id }\ntenant: { value: acme }\nstaging: sqlite:${join(dir, 'staging.db')}\n`);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('create, list, revoke', async () => {
  const made = await sluice(['tokens', 'create', 'p.yaml', '--name', 'dashboard', '--tenant', 'acme', '--json'], { cwd: dir });
  expectExit(made, 0);
  const { id, token } = JSON.parse(made.stdout) as { id: string; token: string };
  expect(token).toMatch(new RegExp(`^slc_${id}_[A-Za-z0-9_-]{43}$`));
  const secret = token.slice(`slc_${id}_`.length);
  const db = new Database(join(dir, 'staging.db'), { readonly: true });
  try {
    const dump = JSON.stringify(db.prepare('SELECT * FROM sluice_api_tokens').all()) + JSON.stringify(db.prepare('SELECT * FROM sluice_audit').all());
    expect(dump).not.toContain(secret);
    expect(dump).toContain('token.created');
  } finally {
    db.close();
  }
  expect(readFileSync(join(dir, 'staging.db')).includes(Buffer.from(secret))).toBe(false);

  const list = await sluice(['tokens', 'list', 'p.yaml'], { cwd: dir });
  expect(list.stdout).toMatch(new RegExp(`${id}\\s+dashboard\\s+acme`));
  expect(list.stdout).not.toContain(secret);

  expect((await sluice(['tokens', 'create', 'p.yaml', '--name', 'x'], { cwd: dir })).code).toBe(2); // neither --tenant nor --admin
  expectExit(await sluice(['tokens', 'revoke', 'p.yaml', id], { cwd: dir }), 0);
  const again = await sluice(['tokens', 'revoke', 'p.yaml', id], { cwd: dir });
  expect(again.code).toBe(2);
  expect(again.stderr).toMatch(/no live token/);
}, 30_000);

test('errors and help in the language asked for: --lang zh-CN, or SLUICE_LANG', async () => {
  const zh = await sluice(['--lang', 'zh-CN', 'tokens', 'revoke', 'p.yaml', 'tok_000000000000'], { cwd: dir });
  expect(zh.code).toBe(2);
  expect(zh.stderr).toContain('error SLUICE_USAGE: 没有有效的令牌 tok_000000000000');
  const env = await sluice(['tokens', 'create', 'p.yaml', '--name', 'x'], { cwd: dir, env: { SLUICE_LANG: 'zh_CN.UTF-8' } });
  expect(env.stderr).toContain('请指定 --tenant T');
  const en = await sluice(['tokens', 'create', 'p.yaml', '--name', 'x'], { cwd: dir });
  expect(en.stderr).toContain('give either --tenant T');
  const help = await sluice(['--lang', 'zh-CN', 'run', '--help'], { cwd: dir });
  expect(help.stdout).toContain('从检查点读取每个数据源');
  expect(help.stdout).toContain('流水线文件（YAML）');
  expect((await sluice(['run', '--help'], { cwd: dir, env: { SLUICE_LANG: 'zh' } })).stdout).toContain('以 JSON 打印运行摘要');
}, 30_000);
