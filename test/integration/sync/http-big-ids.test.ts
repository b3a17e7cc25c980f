// An API whose ids are past 2^53 (64-bit ids, as many APIs hand out) synced with a SQLite table. JSON.parse
// would read such an id as a neighbouring number: the record created on the API would be linked under an
// id that is not its own, found missing on the next run and deleted on the other side, and created again.
// Here every id keeps its digits: the second run writes nothing, and a big number in a field reaches the
// table exactly. The API is a small local server that writes its ids and numbers as digits.
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPipeline } from '../../../src/run/pipeline';
import { runSync } from '../../../src/run/sync';
import { LocalServer, readBody } from '../../servers/local-server';

/** An account as the API keeps it: its id and `ext` as digits, written into the JSON as numbers. */
interface Account {
  id: string;
  name: string;
  ext: string | null;
  updated_at: string;
}

const FIRST_ID = 9007199254740993n; // 2^53 + 1: the first integer JSON.parse cannot hold
const json = (a: Account) => `{"id": ${a.id}, "name": ${JSON.stringify(a.name)}, "ext": ${a.ext ?? 'null'}, "updated_at": "${a.updated_at}"}`;

class AccountsApi {
  readonly accounts = new Map<string, Account>();
  private next = FIRST_ID;
  private clock = 0;
  readonly server = new LocalServer((req, res) => {
    void readBody(req).then((body) => {
      const url = new URL(req.url ?? '/', this.server.origin);
      const item = /^\/accounts\/(\d+)$/.exec(url.pathname);
      const send = (status: number, text: string) => res.writeHead(status, { 'content-type': 'application/json' }).end(text);
      if (req.method === 'GET' && url.pathname === '/accounts') {
        const since = url.searchParams.get('since') ?? '';
        const list = [...this.accounts.values()].filter((a) => a.updated_at > since).sort((x, y) => x.updated_at.localeCompare(y.updated_at));
        return send(200, `[${list.map(json).join(', ')}]`);
      }
      if (req.method === 'POST' && url.pathname === '/accounts') return send(201, json(this.put(String(this.next++), JSON.parse(body) as Partial<Account>)));
      const found = item ? this.accounts.get(item[1]!) : undefined;
      if (!found) return send(404, '{"message": "Not Found"}');
      if (req.method === 'GET') return send(200, json(found));
      if (req.method === 'PATCH') return send(200, json(this.put(found.id, { ...found, ...(JSON.parse(body) as Partial<Account>) })));
      return send(405, '{"message": "Method Not Allowed"}');
    });
  });

  /** Stores an account; `ext` may come as a number or its digits. */
  put(id: string, v: Partial<Account> | { ext?: unknown }): Account {
    const a = v as Partial<Account> & { ext?: unknown };
    const account = { id, name: String(a.name ?? ''), ext: a.ext === null || a.ext === undefined ? null : String(a.ext), updated_at: this.tick() };
    this.accounts.set(id, account);
    return account;
  }

  private tick(): string {
    return new Date((this.clock = Math.max(this.clock + 1, Date.now()))).toISOString();
  }
}

describe('an API with ids past 2^53 ↔ a SQLite table', () => {
  let api: AccountsApi;
  let dir: string;
  let db: Database.Database;

  beforeEach(async () => {
    api = new AccountsApi();
    await api.server.listen();
    dir = mkdtempSync(join(tmpdir(), 'sluice-big-ids-'));
    db = new Database(join(dir, 'crm.db'));
    db.exec('CREATE TABLE accounts (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT, ext TEXT, updated_at TEXT NOT NULL)');
  });
  afterEach(async () => {
    db.close();
    await api.server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('every record keeps its id: nothing is created twice or deleted, and a big number arrives whole', async () => {
    db.prepare('INSERT INTO accounts (name, ext, updated_at) VALUES (?, ?, ?)').run('Ann', null, new Date().toISOString());
    const bob = api.put('9007199254740995', { name: 'Bob', ext: '12345678901234567' });
    const file = join(dir, 'accounts.yaml');
    writeFileSync(
      file,
      `name: accounts-sync
sync:
  a:
    name: crm
    read: { driver: sqlite, url: ${join(dir, 'crm.db')}, table: accounts, key: id, cursor: updated_at }
    write: { table: accounts, touch: updated_at }
  b:
    name: api
    pull: { url: "${api.server.origin}/accounts", records: $, key: id, cursor: { field: updated_at, param: since }, paginate: none, retries: 0 }
    write: { item: "${api.server.origin}/accounts/{key}", update: PATCH, delete: true }
  fields:
    - { a: name, b: name }
    - { a: ext, b: ext }
  conflicts: merge
  deletes: propagate
`,
    );
    const staging = `sqlite:${join(dir, 'staging.db')}`;
    const pipeline = loadPipeline(file);

    const first = await runSync(pipeline, { stagingUrl: staging });
    expect(first.sides.a.created + first.sides.b.created).toBe(2);
    const annOnApi = [...api.accounts.values()].find((a) => a.name === 'Ann')!;
    expect(annOnApi.id).toBe(FIRST_ID.toString());

    const second = await runSync(pipeline, { stagingUrl: staging });
    for (const side of ['a', 'b'] as const) expect(second.sides[side]).toMatchObject({ created: 0, updated: 0, deleted: 0, conflicts: 0 });
    expect(second.links).toBe(2);
    expect(db.prepare('SELECT name, ext FROM accounts ORDER BY name').all()).toEqual([
      { name: 'Ann', ext: null },
      { name: 'Bob', ext: bob.ext },
    ]);
    expect([...api.accounts.keys()].sort()).toEqual([FIRST_ID.toString(), bob.id]);
  });
});
