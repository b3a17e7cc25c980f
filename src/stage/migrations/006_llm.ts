/**
 * The LLM step's cache (answers by model, step version and prompt as rendered, so unchanged input is
 * never sent twice) and its token usage and cost per run and tenant.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('sluice_llm_cache', (t) => {
    t.text('key').primary().comment('sha256 of model, step version and the messages sent');
    t.text('answer').notNullable().comment('the answer as the model gave it (JSON text that matched the schema)');
    t.timestamp('created_at', { useTz: true }).notNullable();
  });
  await knex.schema.createTable('sluice_llm_usage', (t) => {
    t.text('run_id').notNullable();
    t.text('pipeline').notNullable();
    t.text('tenant').notNullable();
    t.text('model').notNullable();
    t.bigInteger('prompt_tokens').notNullable();
    t.bigInteger('completion_tokens').notNullable();
    t.integer('calls').notNullable();
    t.integer('cached').notNullable().comment('answers taken from the cache');
    t.double('cost').nullable().comment('in the currency of the configured price');
    t.primary(['run_id', 'tenant', 'model']);
    t.index(['pipeline']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('sluice_llm_usage');
  await knex.schema.dropTable('sluice_llm_cache');
}
