/**
 * API tokens: `slc_<id>_<secret>`. The id finds the token; only the sha256 of the secret is stored, and
 * compared in constant time. A token is scoped to one tenant, or is an admin token (no tenant).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { StagingStore } from '../stage/store';

export interface Principal {
  /** the token id (`admin` for SLUICE_ADMIN_TOKEN), for the audit log */
  id: string;
  /** null: may see and do everything */
  tenant: string | null;
}

const digest = (secret: string) => createHash('sha256').update(secret).digest('hex');

/** `expiresInSeconds`: the token stops working that long from now (default: never). */
export async function createApiToken(
  store: StagingStore,
  o: { name: string; tenant: string | null; actor: string; expiresInSeconds?: number },
): Promise<{ id: string; token: string; expiresAt: string | null }> {
  const id = `tok_${randomBytes(6).toString('hex')}`;
  const secret = randomBytes(32).toString('base64url');
  const expiresAt = o.expiresInSeconds === undefined ? null : new Date(Date.now() + o.expiresInSeconds * 1000).toISOString();
  await store.addApiToken({ id, name: o.name, tenant: o.tenant, hash: digest(secret), expiresAt });
  await store.appendAudit({ actor: o.actor, action: 'token.created', tenant: o.tenant ?? undefined, detail: { id, name: o.name, admin: o.tenant === null, expiresAt } });
  return { id, token: `slc_${id}_${secret}`, expiresAt };
}

export async function revokeApiToken(store: StagingStore, id: string, actor: string): Promise<boolean> {
  const done = await store.revokeApiToken(id);
  if (done) await store.appendAudit({ actor, action: 'token.revoked', detail: { id } });
  return done;
}

/** Who a bearer token is, looking in each store; undefined for anything not a live token. */
export async function authenticate(stores: Iterable<StagingStore>, bearer: string): Promise<Principal | undefined> {
  const m = /^slc_(tok_[0-9a-f]{12})_([A-Za-z0-9_-]{43})$/.exec(bearer);
  if (!m) return undefined;
  const [, id, secret] = m as unknown as [string, string, string];
  for (const store of stores) {
    const t = await store.apiToken(id);
    if (!t || t.revokedAt || (t.expiresAt && Date.parse(t.expiresAt) <= Date.now())) continue;
    const [a, b] = [Buffer.from(t.hash, 'hex'), Buffer.from(digest(secret), 'hex')];
    if (a.length === b.length && timingSafeEqual(a, b)) return { id, tenant: t.tenant };
  }
  return undefined;
}
