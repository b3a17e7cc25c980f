/** API tokens may expire: past `expires_at` a token no longer works (null: it does not expire). */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('sluice_api_tokens', (t) => {
    t.timestamp('expires_at', { useTz: true }).nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('sluice_api_tokens', (t) => {
    t.dropColumn('expires_at');
  });
}
