/**
 * Imports to Label Studio that were started but not yet known to have finished: written before the
 * import request, removed with the task ids. A run that finds one left over (it died between Label
 * Studio taking the tasks and the ids being kept) looks the tasks up by their meta instead of
 * importing them twice.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('sluice_ls_imports', (t) => {
    t.text('pipeline').notNullable();
    t.text('source').notNullable();
    t.text('key').notNullable();
    t.text('version').notNullable();
    t.integer('project_id').notNullable();
    t.timestamp('started_at', { useTz: true }).notNullable();
    t.primary(['pipeline', 'source', 'key', 'version']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('sluice_ls_imports');
}
