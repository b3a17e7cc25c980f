// Real ML consumers accept Sluice's exports as they are: a pipeline run (through the library API) exports
// awkward values — unicode, quotes, commas, newlines and CRLF, empty strings and NULLs, integers, floats,
// 0/1 booleans — for two tenants as JSONL, JSON, CSV (`,` and `;`) and gzip JSONL, and Debian's Python
// with pandas (`test/consumers/read_export.py`) loads every file the way training code does: it checks
// each file's bytes and sha256 against the manifest, and gives back the records as it saw them, which
// must be the rows of the source table, value for value, with `_sluice` lineage on the JSON formats.
// A JSON export over 100 MB is parsed whole by Node's JSON.parse and Python's json.load.
//
// The interpreter is /usr/bin/python3 (the `python3` on PATH may be a pyenv shim without pandas),
// or $SLUICE_TEST_PYTHON. When it or pandas is missing the tests are skipped, saying what is missing —
// unless SLUICE_REQUIRE_SERVICES=1 (CI, which installs python3-pandas), where that is a failure.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import Database from 'better-sqlite3';
import { tenantDirName } from '../../../src/core/tenant';
import type { Manifest } from '../../../src/export/manifest';
import { loadPipeline } from '../../../src/run/pipeline';
import { runPipeline, type RunSummary } from '../../../src/run/run';

const PYTHON = process.env.SLUICE_TEST_PYTHON || '/usr/bin/python3';
const CONSUMERS = join(__dirname, '..', '..', 'consumers');
const REQUIRED = process.env.SLUICE_REQUIRE_SERVICES === '1';

// ---------------------------------------------------------------------------------------------------
// Is there a Python to be a consumer?

type Need = 'python' | 'pandas';

/** What is missing for `need`, or undefined when it is there. */
function missing(need: Need): string | undefined {
  const probe = spawnSync(PYTHON, ['-c', need === 'pandas' ? 'import pandas' : 'import json, csv, gzip'], { encoding: 'utf8', timeout: 60_000 });
  if (probe.error) return `${PYTHON} cannot be run (${(probe.error as NodeJS.ErrnoException).code ?? probe.error.message})`;
  if (probe.status !== 0) {
    const last = probe.stderr.trim().split('\n').pop() ?? `exit ${probe.status}`;
    return need === 'pandas' ? `pandas is missing from ${PYTHON} (${last})` : `${PYTHON} does not work (${last})`;
  }
  return undefined;
}

/**
 * `describe` for tests that run a Python consumer: skipped with the reason when the interpreter or
 * pandas is missing, unless SLUICE_REQUIRE_SERVICES=1, when it is one failing test saying what to install.
 */
function describeWithPython(need: Need, name: string, fn: () => void): void {
  const gap = missing(need);
  if (!gap) {
    describe(name, fn);
  } else if (REQUIRED) {
    describe(name, () => {
      test(`${PYTHON} with ${need}`, () => {
        throw new Error(
          `${gap}. These tests read Sluice's exports with Debian's Python and pandas: install python3-pandas ` +
            `(apt-get install python3-pandas; CI installs it), or point SLUICE_TEST_PYTHON at a Python that has pandas.`,
        );
      });
    });
  } else {
    test.skip(`${name} [skipped: ${gap}]`, () => undefined);
    console.warn(`SKIPPED "${name}": ${gap} (install python3-pandas, or set SLUICE_TEST_PYTHON)`);
  }
}

/** Runs a consumer script and parses the JSON it prints. */
function python<T>(script: string, args: string[], timeoutMs: number): T {
  const r = spawnSync(PYTHON, [join(CONSUMERS, script), ...args], { encoding: 'utf8', maxBuffer: 512 * 1024 * 1024, timeout: timeoutMs });
  if (r.error || r.status !== 0) {
    throw new Error(`${PYTHON} ${script} failed (${r.error?.message ?? `exit ${r.status}`}):\n${r.stderr}`);
  }
  return JSON.parse(r.stdout) as T;
}

// ---------------------------------------------------------------------------------------------------
// The awkward source table

const TENANTS = ['acme', 'Zoë & Co'] as const;
const SOURCE = 'items';
const PIPELINE = 'consumers';
const ROWS = 500;

/** Text that trips CSV and JSON readers up. */
const TEXTS = [
  'Zoë',
  '日本語のテキスト',
  'emoji 🎉 family 👩‍👩‍👧‍👦 flag 🇯🇵',
  'say "hello"',
  '"',
  '""',
  '"starts with a quote',
  'ends with a quote"',
  "it's",
  'a,b,c',
  ',',
  'semi;colon',
  'line1\nline2',
  'crlf1\r\ncrlf2\r\n',
  'lone\rcarriage return',
  '\n',
  '\r\n',
  '',
  ' leading and trailing ',
  ' ',
  '\ttabs\t',
  'back\\slash \\n not a newline',
  'NA',
  'null',
  'NULL',
  'NaN',
  'nan',
  'None',
  '#N/A',
  'N/A',
  '-',
  '007',
  '1e5',
  '0x1F',
  'true',
  'FALSE',
  'line\u2028separator and paragraph\u2029separator',
  '\u00a0no-break space',
  'combining e\u0301 vs \u00e9',
  'RTL עברית العربية',
  'zero\u200bwidth\u200djoiner',
  '\ufeffbyte order mark',
  '{"looks": "like json"}',
  '[1, 2]',
  '=SUM(A1:A2)',
  '"quoted, with comma\nand newline"',
  `long ${'ü,"\n'.repeat(50)}end`,
];
const INTS = [0, 1, -1, 42, 2147483648, -2147483649, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, null];
// No subnormals (5e-324): pandas 1.5's read_json cannot read them — "Range error when decoding numeric as
// double" with precise_float=True, 0.0 without — though Sluice writes them as JSON.stringify does and
// json.load reads them back exactly. The smallest normal double is here instead.
const FLOATS = [0.1, -2.5, Math.PI, 1e-7, 1.5e300, -1.7976931348623157e308, 2.2250738585072014e-308, 2, 123456.789, 0.30000000000000004, null];
const BOOLS = [0, 1, null];

interface Row {
  id: number;
  tenant: string;
  name: string | null;
  note: string | null;
  qty: number | null;
  price: number | null;
  active: number | null;
}

function buildSource(file: string): void {
  const db = new Database(file);
  db.exec(`CREATE TABLE ${SOURCE} (id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, name TEXT, note TEXT, qty INTEGER, price REAL, active BOOLEAN)`);
  const insert = db.prepare(`INSERT INTO ${SOURCE} VALUES (?, ?, ?, ?, ?, ?, ?)`);
  db.transaction(() => {
    for (let i = 1; i <= ROWS; i++) {
      insert.run(
        i,
        TENANTS[Math.floor(i / 3) % 2],
        i % 13 === 0 ? null : TEXTS[i % TEXTS.length],
        i % 11 === 0 ? null : i % 17 === 0 ? '' : TEXTS[(i * 7 + 3) % TEXTS.length],
        INTS[i % INTS.length],
        FLOATS[i % FLOATS.length],
        BOOLS[i % BOOLS.length],
      );
    }
  })();
  db.close();
}

function sourceRows(file: string, tenant: string): Row[] {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare(`SELECT * FROM ${SOURCE} WHERE tenant = ? ORDER BY id`).all(tenant) as Row[];
  } finally {
    db.close();
  }
}

// ---------------------------------------------------------------------------------------------------
// What Python says

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type PyRecord = { [k: string]: Json };
interface PyFile {
  format: string;
  compression: string | null;
  rows: number;
  dtypes: Record<string, string> | null;
  /** how the file differs from what the manifest says of it (size, sha256, rawBytes) */
  integrity: string[];
  /** a reader rejected the file, or the readers disagree about it */
  problems: string[];
  records: PyRecord[];
}
interface PyDir {
  manifest: { pipeline: string; tenant: string; kind: string; run: string };
  files: Record<string, PyFile>;
}
interface PyExport {
  python: string;
  pandas: string;
  dirs: Record<string, PyDir>;
}

/** The fields where a consumer's records differ from the source rows (at most 20), `[]` when none do. */
function differences(expected: Row[], got: PyRecord[]): unknown[] {
  const out: unknown[] = [];
  const byId = new Map(got.map((r) => [r.id, r]));
  if (byId.size !== got.length) out.push({ problem: 'duplicate ids', ids: got.length, distinct: byId.size });
  for (const row of expected) {
    const rec = byId.get(row.id);
    if (!rec) {
      out.push({ id: row.id, problem: 'missing' });
      continue;
    }
    for (const [field, want] of Object.entries(row)) {
      const have = rec[field];
      if (!Object.is(have, want)) out.push({ id: row.id, field, expected: want, consumerSaw: have === undefined ? '(no such field)' : have });
    }
    const extra = Object.keys(rec).filter((k) => !(k in row));
    if (extra.length > 0) out.push({ id: row.id, problem: 'extra fields', extra });
  }
  const known = new Set(expected.map((r) => r.id));
  for (const r of got) if (!known.has(r.id as number)) out.push({ id: r.id, problem: 'not in the source' });
  return out.slice(0, 20);
}

/** Lineage problems of JSON-format records (each must carry `_sluice` naming its own key); removes it. */
function stripLineage(records: PyRecord[], run: string): { rest: PyRecord[]; problems: unknown[] } {
  const problems: unknown[] = [];
  const rest = records.map((r) => {
    const { _sluice: lineage, ...data } = r;
    const want = { source: SOURCE, key: String(r.id), run, refinedBy: null };
    if (JSON.stringify(lineage) !== JSON.stringify(want) && problems.length < 20) problems.push({ id: r.id, lineage: lineage ?? '(missing)', expected: want });
    return data;
  });
  return { rest, problems };
}

// ---------------------------------------------------------------------------------------------------

describeWithPython('pandas', 'ML consumers read every format, value for value', () => {
  let dir: string;
  let db: string;
  let summary: RunSummary;
  let seen: PyExport;
  const out = (name: string) => join(dir, 'out', name);
  const latest = (path: string, tenant: string) => join(out(path), PIPELINE, tenantDirName(tenant), 'latest');
  const timings: Record<string, number> = {};

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sluice-consumers-'));
    db = join(dir, 'src.db');
    buildSource(db);
    const file = join(dir, 'p.yaml');
    writeFileSync(
      file,
      `name: ${PIPELINE}
sources:
  - name: ${SOURCE}
    read: { driver: sqlite, url: ${JSON.stringify(db)}, table: ${SOURCE}, key: id }
tenant: { column: tenant }
export:
  - { format: jsonl, path: ${JSON.stringify(out('main'))} }
  - { format: json, path: ${JSON.stringify(out('main'))} }
  - { format: csv, path: ${JSON.stringify(out('main'))} }
  - { format: csv, path: ${JSON.stringify(out('semicolon'))}, delimiter: ";" }
  - { format: jsonl, path: ${JSON.stringify(out('gzip'))}, compress: gzip }
`,
    );
    let t = Date.now();
    summary = await runPipeline(loadPipeline(file, {}), { stagingUrl: `sqlite:${join(dir, 'staging.db')}`, env: {} });
    timings.runMs = Date.now() - t;
    t = Date.now();
    const dirs = TENANTS.flatMap((tenant) => [
      { dir: latest('main', tenant), csvDelimiter: ',' },
      { dir: latest('semicolon', tenant), csvDelimiter: ';' },
      { dir: latest('gzip', tenant) },
    ]);
    seen = python<PyExport>('read_export.py', [JSON.stringify({ dirs })], 120_000);
    timings.pythonMs = Date.now() - t;
  }, 180_000);
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    console.log(`consumers: run ${timings.runMs} ms; python ${seen?.python} + pandas ${seen?.pandas} read ${Object.keys(seen?.dirs ?? {}).length} folders in ${timings.pythonMs} ms`);
  });

  test('every tenant has a snapshot in each export path, and the files verify against the manifest', () => {
    expect(summary.exports.map((e) => `${basename(e.target)}/${e.tenant}:${e.kind}:${e.rows}`).sort()).toEqual(
      ['main', 'semicolon', 'gzip'].flatMap((p) => TENANTS.map((t) => `${p}/${t}:snapshot:${sourceRows(db, t).length}`)).sort(),
    );
    for (const tenant of TENANTS) {
      const files = (path: string) => Object.keys(seen.dirs[latest(path, tenant)]!.files).sort();
      expect(files('main')).toEqual([`${SOURCE}.csv`, `${SOURCE}.json`, `${SOURCE}.jsonl`]);
      expect(files('semicolon')).toEqual([`${SOURCE}.csv`]);
      expect(files('gzip')).toEqual([`${SOURCE}.jsonl.gz`]);
      for (const path of ['main', 'semicolon', 'gzip']) {
        const d = seen.dirs[latest(path, tenant)]!;
        for (const [file, f] of Object.entries(d.files)) expect({ path, tenant, file, integrity: f.integrity }).toEqual({ path, tenant, file, integrity: [] });
        expect(d.manifest).toMatchObject({ pipeline: PIPELINE, tenant, kind: 'snapshot', run: summary.run });
      }
    }
  });

  test('the source has the awkward values in both tenants', () => {
    for (const tenant of TENANTS) {
      const rows = sourceRows(db, tenant);
      expect(rows.length).toBeGreaterThan(200);
      const names = new Set(rows.map((r) => r.name));
      for (const v of [null, '', 'Zoë', '日本語のテキスト', 'say "hello"', 'a,b,c', 'semi;colon', 'line1\nline2', 'crlf1\r\ncrlf2\r\n', 'lone\rcarriage return', '\n', 'NA']) {
        expect(names).toContain(v);
      }
      expect(new Set(rows.map((r) => r.note))).toContain(null);
      expect(new Set(rows.map((r) => r.note))).toContain('');
      expect(new Set(rows.map((r) => r.active))).toEqual(new Set([0, 1, null]));
    }
  });

  const formats: [label: string, path: string, file: string, lineage: boolean][] = [
    ['JSONL via pandas.read_json(lines=True)', 'main', `${SOURCE}.jsonl`, true],
    ['gzip JSONL via pandas.read_json(lines=True, compression="gzip")', 'gzip', `${SOURCE}.jsonl.gz`, true],
    ['JSON via json.load', 'main', `${SOURCE}.json`, true],
    ['CSV via pandas.read_csv (+ csv module, + quoting for NULL vs "")', 'main', `${SOURCE}.csv`, false],
    ['";" CSV via pandas.read_csv(sep=";")', 'semicolon', `${SOURCE}.csv`, false],
  ];
  describe.each(TENANTS)('tenant %s', (tenant) => {
    test.each(formats)('%s: the source rows, value for value', (_label, path, file, lineage) => {
      const got = seen.dirs[latest(path, tenant)]!.files[file]!;
      const expected = sourceRows(db, tenant);
      expect(got.problems).toEqual([]);
      expect(got.rows).toBe(expected.length);
      let records = got.records;
      if (lineage) {
        const { rest, problems } = stripLineage(records, summary.run);
        expect(problems).toEqual([]);
        records = rest;
      } else {
        expect(records.some((r) => '_sluice' in r || '_sluice.key' in r)).toBe(false);
      }
      expect(differences(expected, records)).toEqual([]);
    });

    test.each([
      ['main', ','],
      ['semicolon', ';'],
    ])('%s CSV: every cell holding a line break (CR, LF or CRLF) is quoted, as RFC 4180 says', (path, d) => {
      const csv = readFileSync(join(latest(path, tenant), `${SOURCE}.csv`), 'utf8');
      const rows = sourceRows(db, tenant);
      const held = new Set(rows.flatMap((r) => [r.name, r.note]).filter((v): v is string => typeof v === 'string' && /[\r\n]/.test(v)));
      expect(held.size).toBeGreaterThan(5);
      // name and note are inner columns: a cell is between two delimiters, quoted with its quotes doubled
      const unquoted = [...held].filter((v) => !csv.includes(`${d}"${v.replace(/"/g, '""')}"${d}`));
      expect(unquoted.map((v) => `${JSON.stringify(v)} is written unquoted`)).toEqual([]);
    });

    test('the CSV manifest declares each column with its type and encoding', () => {
      const manifest = JSON.parse(readFileSync(join(latest('main', tenant), 'manifest.json'), 'utf8')) as Manifest;
      const csv = manifest.files.find((f) => f.format === 'csv')!;
      expect(csv.columns!.map(({ name, type, encoding }) => ({ name, type, encoding }))).toEqual([
        { name: 'id', type: 'integer', encoding: 'plain' },
        { name: 'tenant', type: 'string', encoding: 'plain' },
        { name: 'name', type: 'string', encoding: 'plain' },
        { name: 'note', type: 'string', encoding: 'plain' },
        { name: 'qty', type: 'integer', encoding: 'plain' },
        { name: 'price', type: 'number', encoding: 'plain' },
        { name: 'active', type: 'integer', encoding: 'plain' },
      ]);
    });
  });
});

// ---------------------------------------------------------------------------------------------------

describeWithPython('python', 'a JSON export over 100 MB', () => {
  const BIG_ROWS = 220_000;
  const BODY = 400;
  const MIN_BYTES = 100 * 1024 * 1024;
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sluice-bigjson-'));
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('parses whole with JSON.parse in Node and json.load in Python', async () => {
    const t0 = Date.now();
    const db = join(dir, 'big.db');
    const src = new Database(db);
    src.exec(`CREATE TABLE big (id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, body TEXT NOT NULL)`);
    const insert = src.prepare(`INSERT INTO big VALUES (?, 'bulk', ?)`);
    // a ~400-character text with some escaping and multi-byte characters, varied per row
    const filler = `Zoë says "hi", 日本語, tab\t, newline\n; ${'lorem ipsum dolor sit amet '.repeat(20)}`;
    src.transaction(() => {
      for (let i = 1; i <= BIG_ROWS; i++) insert.run(i, `${i}:${filler.slice(0, BODY - String(i).length - 1)}`);
    })();
    src.close();
    const tSource = Date.now();

    const file = join(dir, 'p.yaml');
    writeFileSync(
      file,
      `name: big
sources:
  - name: big
    read: { driver: sqlite, url: ${JSON.stringify(db)}, table: big, key: id, batchSize: 50000 }
tenant: { column: tenant }
export:
  - { format: json, path: ${JSON.stringify(join(dir, 'out'))} }
`,
    );
    const summary = await runPipeline(loadPipeline(file, {}), { stagingUrl: `sqlite:${join(dir, 'staging.db')}`, env: {} });
    const tRun = Date.now();
    const folder = join(dir, 'out', 'big', 'bulk', 'latest');
    const path = join(folder, 'big.json');
    const size = statSync(path).size;
    const mb = (size / 1024 / 1024).toFixed(1);
    expect(size >= MIN_BYTES ? 'at least 100 MB' : `only ${size} bytes (${mb} MB)`).toBe('at least 100 MB');
    const manifest = JSON.parse(readFileSync(join(folder, 'manifest.json'), 'utf8')) as Manifest;
    const entry = manifest.files.find((f) => f.path === 'big.json')!;
    expect({ rows: entry.rows, bytes: entry.bytes }).toEqual({ rows: BIG_ROWS, bytes: size });
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
    expect(hash.digest('hex')).toBe(entry.sha256);

    // Node: the whole file as one string, one JSON.parse
    let records: { id: number; body: string; _sluice: { key: string } }[] | undefined = JSON.parse(readFileSync(path, 'utf8'));
    expect(Array.isArray(records)).toBe(true);
    expect({ file: `${mb} MB`, rows: records!.length, first: records![0]!.id, last: records!.at(-1)!.id, lastKey: records!.at(-1)!._sluice.key }).toEqual({
      file: `${mb} MB`,
      rows: BIG_ROWS,
      first: 1,
      last: BIG_ROWS,
      lastKey: String(BIG_ROWS),
    });
    expect(records!.at(-1)!.body).toBe(`${BIG_ROWS}:${filler.slice(0, BODY - String(BIG_ROWS).length - 1)}`);
    records = undefined;
    const tNode = Date.now();

    // Python: json.load on the file
    const py = python<{ rows: number; firstId: number; lastId: number; lastBodyLength: number; lastLineage: unknown; seconds: number }>('json_load.py', [path], 180_000);
    expect({ file: `${mb} MB`, rows: py.rows, first: py.firstId, last: py.lastId, lastBodyLength: py.lastBodyLength, lineage: py.lastLineage }).toEqual({
      file: `${mb} MB`,
      rows: BIG_ROWS,
      first: 1,
      last: BIG_ROWS,
      lastBodyLength: BODY,
      lineage: { source: 'big', key: String(BIG_ROWS), run: summary.run, refinedBy: null },
    });
    const tPy = Date.now();
    console.log(
      `big JSON: ${mb} MB, ${BIG_ROWS} rows; source ${tSource - t0} ms, sluice run ${tRun - tSource} ms, ` +
        `Node JSON.parse ${tNode - tRun} ms, Python json.load ${tPy - tNode} ms (load alone ${py.seconds} s)`,
    );
  }, 240_000);
});
