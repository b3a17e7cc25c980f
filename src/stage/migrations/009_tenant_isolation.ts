/**
 * Tenant isolation in PostgreSQL itself: every read of one tenant's records runs as the role
 * `sluice_tenant_reader` with `sluice.tenant` set for its transaction, and row-level security lets that
 * role see only that tenant's rows of the record tables — so a query that forgot its tenant condition
 * still cannot return another tenant's record. The role cannot log in and holds nothing but SELECT on
 * these tables; the store's own connection (the tables' owner) is not affected. The role is shared by
 * every database of the cluster, so it is created only when missing.
 */
import type { Knex } from 'knex';

export const TENANT_READER = 'sluice_tenant_reader';
const SCOPED = ['sluice_records', 'sluice_tombstones'] as const;
const READABLE = [...SCOPED, 'sluice_streams', 'sluice_deliveries'] as const;

export async function up(knex: Knex): Promise<void> {
  if (knex.client.config.client !== 'pg') return;
  await knex.raw(`DO $$ BEGIN
      CREATE ROLE ${TENANT_READER} NOLOGIN NOINHERIT;
    EXCEPTION
      WHEN duplicate_object OR unique_violation THEN NULL; -- made meanwhile, for another database
      WHEN insufficient_privilege THEN RAISE NOTICE 'sluice: no CREATEROLE privilege; tenant reads are not isolated by row-level security';
    END $$`);
  const role = await knex.raw(`SELECT 1 FROM pg_roles WHERE rolname = ?`, [TENANT_READER]);
  if (role.rows.length === 0) return; // the store then reads without the role (see PostgresStore.tenantScoped)
  await knex.raw(`GRANT USAGE ON SCHEMA ${await schemaOf(knex)} TO ${TENANT_READER}`);
  await knex.raw(`GRANT SELECT ON ${READABLE.join(', ')} TO ${TENANT_READER}`);
  for (const table of SCOPED) {
    await knex.raw(`ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY`);
    await knex.raw(`CREATE POLICY sluice_one_tenant ON ${table} FOR SELECT TO ${TENANT_READER}
      USING (tenant = current_setting('sluice.tenant', true))`);
  }
  // the reader role must be one the connecting user may switch to
  await knex.raw(`DO $$ BEGIN
      EXECUTE format('GRANT ${TENANT_READER} TO %I', current_user);
    EXCEPTION WHEN others THEN NULL; END $$`);
}

export async function down(knex: Knex): Promise<void> {
  if (knex.client.config.client !== 'pg') return;
  for (const table of SCOPED) {
    await knex.raw(`DROP POLICY IF EXISTS sluice_one_tenant ON ${table}`);
    await knex.raw(`ALTER TABLE ${table} DISABLE ROW LEVEL SECURITY`);
  }
  await knex.raw(`REVOKE SELECT ON ${READABLE.join(', ')} FROM ${TENANT_READER}`);
}

async function schemaOf(knex: Knex): Promise<string> {
  const r = await knex.raw(`SELECT quote_ident(current_schema()) AS s`);
  return (r.rows[0] as { s: string }).s;
}
