/**
 * API tokens: each scoped to one tenant, or to everything (admin, `tenant` null). Only a hash of the
 * secret part is kept; the token itself is shown once, when it is made.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('sluice_api_tokens', (t) => {
    t.text('id').primary();
    t.text('name').notNullable();
    t.text('tenant').nullable().comment('null: an admin token');
    t.text('hash').notNullable().comment('sha256 of the secret part, hex');
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.timestamp('revoked_at', { useTz: true }).nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('sluice_api_tokens');
}
