/**
 * Data-source connections kept for the API: the URL, which carries the credentials, is sealed at rest
 * (core/secret-box) and only ever shown with its secrets masked; testing one connects with the real
 * driver and reports the failure without the password. Every change is audited, never with a value.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { messageOf } from '../core/errors';
import { SecretBox } from '../core/secret-box';
import type { ConnectionRow, StagingStore } from '../stage/store';

export type ConnectionKind = ConnectionRow['kind'];
export const CONNECTION_KINDS = ['postgres', 'mysql', 'sqlite', 'http'] as const;

/** Connections as the API shows them: never the sealed URL. */
export const shown = ({ sealedUrl: _sealed, shownUrl, ...c }: ConnectionRow) => ({ ...c, url: shownUrl });

/** The URL with its password, and query values that look secret, masked. */
export function maskUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    for (const k of [...u.searchParams.keys()]) if (/token|key|secret|pass|auth|sig/i.test(k)) u.searchParams.set(k, '***');
    return u.toString();
  } catch {
    return url.startsWith('/') || url.startsWith('sqlite:') ? url : '(not a URL)';
  }
}

export async function saveConnection(
  store: StagingStore,
  box: SecretBox,
  c: { id?: string; tenant: string; name: string; kind: ConnectionKind; url: string },
  actor: string,
): Promise<ConnectionRow> {
  const id = c.id ?? `src_${randomBytes(6).toString('hex')}`;
  await store.saveConnection({ id, tenant: c.tenant, name: c.name, kind: c.kind, sealedUrl: box.seal(c.url), shownUrl: maskUrl(c.url) });
  await store.appendAudit({ actor, action: c.id ? 'credentials.updated' : 'credentials.created', tenant: c.tenant, detail: { id, name: c.name, kind: c.kind } });
  return (await store.connection(id, c.tenant))!;
}

/** Seals every connection not sealed with the current key again; returns how many. */
export async function rotateConnections(store: StagingStore, box: SecretBox, actor: string): Promise<number> {
  let n = 0;
  for (const c of await store.connections(null)) {
    if (SecretBox.keyOf(c.sealedUrl) === box.currentId) continue;
    await store.saveConnection({ ...c, sealedUrl: box.seal(box.open(c.sealedUrl)) });
    n++;
  }
  await store.appendAudit({ actor, action: 'credentials.rotated', detail: { resealed: n, key: box.currentId } });
  return n;
}

/** Connects (or asks, for HTTP) and says whether it worked; the reason never holds the password. */
export async function testConnection(c: ConnectionRow, box: SecretBox): Promise<{ ok: boolean; ms: number; error?: string }> {
  const url = box.open(c.sealedUrl);
  const started = Date.now();
  const secrets = secretsIn(url);
  const clean = (text: string) => secrets.reduce((t, s) => t.split(s).join('***'), text);
  try {
    switch (c.kind) {
      case 'postgres': {
        // drivers load when a connection of their kind is tested
        const { Client } = require('pg') as typeof import('pg');
        const client = new Client({ connectionString: url, connectionTimeoutMillis: 5000 });
        try {
          await client.connect();
          await client.query('SELECT 1');
        } finally {
          await client.end().catch(() => undefined);
        }
        break;
      }
      case 'mysql': {
        const mysql = require('mysql2/promise') as typeof import('mysql2/promise');
        const conn = await mysql.createConnection({ uri: url, connectTimeout: 5000 });
        try {
          await conn.ping();
        } finally {
          await conn.end().catch(() => undefined);
        }
        break;
      }
      case 'sqlite': {
        const path = url.replace(/^sqlite:/, '');
        if (!existsSync(path)) throw new Error(`no file ${path}`);
        const Database = require('better-sqlite3') as typeof import('better-sqlite3');
        new Database(path, { readonly: true, fileMustExist: true }).close();
        break;
      }
      case 'http': {
        const res = await fetch(url, { method: 'GET', signal: AbortSignal.timeout(5000) });
        await res.arrayBuffer().catch(() => undefined);
        if (res.status >= 400) throw new Error(`answered ${res.status}`);
        break;
      }
    }
    return { ok: true, ms: Date.now() - started };
  } catch (err) {
    return { ok: false, ms: Date.now() - started, error: clean(messageOf(err)) };
  }
}

function secretsIn(url: string): string[] {
  try {
    const u = new URL(url);
    const values = [u.password, decodeURIComponent(u.password), ...[...u.searchParams.entries()].filter(([k]) => /token|key|secret|pass|auth|sig/i.test(k)).map(([, v]) => v)];
    return values.filter((v) => v.length >= 3);
  } catch {
    return [];
  }
}
