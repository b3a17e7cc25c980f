import { SluiceError } from '../../core/errors';
import { duration } from '../../config/parts';
import { msg } from '../../core/i18n';
import { createApiToken, revokeApiToken } from '../../run/api-tokens';
import { loadPipeline } from '../../run/pipeline';
import { stagingUrl } from '../../run/staging';
import { openStore } from '../../stage/open';
import type { StagingStore } from '../../stage/store';
import { cols, say, table } from '../format';

interface Flags {
  staging?: string;
  json?: boolean;
}

async function withStore<T>(file: string, flags: Flags, fn: (store: StagingStore) => Promise<T>): Promise<T> {
  const store = openStore(stagingUrl(loadPipeline(file), { stagingUrl: flags.staging }));
  try {
    await store.migrate();
    return await fn(store);
  } finally {
    await store.close();
  }
}

/** `sluice tokens create FILE --name N (--tenant T | --admin)`: the token is shown this once. */
export async function tokensCreate(file: string, flags: Flags & { name: string; tenant?: string; admin?: boolean; expires?: string }): Promise<void> {
  if (Boolean(flags.tenant) === Boolean(flags.admin)) throw new SluiceError('SLUICE_USAGE', msg('err.cli.commands.tokens.1'));
  const expires = flags.expires === undefined ? undefined : duration.safeParse(flags.expires);
  if (expires && !expires.success) throw new SluiceError('SLUICE_USAGE', msg('err.cli.commands.tokens.2', { expires: flags.expires }));
  const made = await withStore(file, flags, (store) => createApiToken(store, { name: flags.name, tenant: flags.tenant ?? null, actor: 'cli', expiresInSeconds: expires?.data }));
  if (flags.json) return void process.stdout.write(`${JSON.stringify(made)}\n`);
  process.stdout.write(`${made.token}\n`);
  const scope = flags.admin ? say('cli.tokens.scope_admin') : say('cli.tokens.scope_tenant', { tenant: flags.tenant! });
  process.stderr.write(`${say('cli.tokens.created', { id: made.id, scope })}\n`);
}

export async function tokensList(file: string, flags: Flags): Promise<void> {
  const tokens = await withStore(file, flags, (store) => store.apiTokens());
  if (flags.json) return void process.stdout.write(`${JSON.stringify(tokens, null, 2)}\n`);
  if (tokens.length === 0) return void process.stdout.write(`${say('cli.tokens.none')}\n`);
  process.stdout.write(`${table(cols('id', 'name', 'tenant', 'created', 'expires', 'revoked'), tokens.map((t) => [t.id, t.name, t.tenant ?? say('cli.tokens.admin_tenant'), t.createdAt, t.expiresAt ?? '', t.revokedAt ?? '']))}\n`);
}

export async function tokensRevoke(file: string, id: string, flags: Flags): Promise<void> {
  const done = await withStore(file, flags, (store) => revokeApiToken(store, id, 'cli'));
  if (!done) throw new SluiceError('SLUICE_USAGE', msg('err.cli.commands.tokens.3', { id }));
  process.stdout.write(flags.json ? `${JSON.stringify({ revoked: id })}\n` : `${say('cli.tokens.revoked', { id })}\n`);
}
