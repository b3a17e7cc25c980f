/**
 * Records sent to Label Studio: one task per record version (its content hash), so a record is never
 * imported twice for the same content, and a run that dies between import and pull finds its tasks.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('sluice_ls_tasks', (t) => {
    t.text('pipeline').notNullable();
    t.text('source').notNullable();
    t.text('key').notNullable();
    t.text('version').notNullable().comment('sha256 of the record as sent');
    t.integer('project_id').notNullable();
    t.integer('task_id').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.primary(['pipeline', 'source', 'key', 'version']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('sluice_ls_tasks');
}
