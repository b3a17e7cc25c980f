/**
 * Data-source connections made through the API, per tenant: what is not secret in the clear, the URL
 * (which carries the credentials) sealed with AES-256-GCM (see core/secret-box).
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('sluice_connections', (t) => {
    t.text('id').primary();
    t.text('tenant').notNullable();
    t.text('name').notNullable();
    t.text('kind').notNullable().comment('postgres, mysql, sqlite or http');
    t.text('sealed_url').notNullable().comment('v1:<key id>:<iv>:<tag>:<ciphertext>');
    t.text('shown_url').notNullable().comment('the URL with its password masked: what the API shows');
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.timestamp('updated_at', { useTz: true }).notNullable();
    t.unique(['tenant', 'name']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('sluice_connections');
}
