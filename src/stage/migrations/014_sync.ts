/**
 * Two-way sync's state (see src/sync): the link between the two sides' keys with the last synced
 * version of each record (the base of the three-way merge), each side's checkpoint and breaker, the
 * conflict queue, the append-only audit events and each run's counts.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('sluice_sync_links', (t) => {
    t.increments('id').primary();
    t.text('pipeline').notNullable();
    t.text('a_key').nullable().comment('null while a create on side a is under way');
    t.text('b_key').nullable().comment('null while a create on side b is under way');
    t.text('base_a').nullable().comment('the mapped fields of side a at the last sync (JSON)');
    t.text('base_b').nullable().comment('the mapped fields of side b at the last sync (JSON)');
    t.text('state').notNullable().comment('linked, or creating_a / creating_b: a create was sent and its key is not known yet');
    t.text('intent').nullable().comment('while creating: the values sent (JSON), to recognise the created record');
    t.timestamp('updated_at', { useTz: true }).notNullable();
    t.unique(['pipeline', 'a_key']);
    t.unique(['pipeline', 'b_key']);
  });
  await knex.schema.createTable('sluice_sync_sides', (t) => {
    t.text('pipeline').notNullable();
    t.text('side').notNullable().comment('a or b');
    t.text('checkpoint').nullable().comment('the side\'s change feed position after the last synced batch (JSON)');
    t.integer('failures').notNullable().defaultTo(0).comment('runs in a row that failed on this side');
    t.timestamp('open_until', { useTz: true }).nullable().comment('the circuit breaker is open (the side is left alone) until then');
    t.text('last_error').nullable();
    t.primary(['pipeline', 'side']);
  });
  await knex.schema.createTable('sluice_sync_conflicts', (t) => {
    t.increments('id').primary();
    t.text('pipeline').notNullable();
    t.integer('link_id').nullable();
    t.text('a_key').nullable();
    t.text('b_key').nullable();
    t.text('reason').notNullable().comment('conflict, delete_edit, transform, write, custom');
    t.text('fields').notNullable().comment('the conflicting fields (JSON list of a-side names)');
    t.text('values').notNullable().comment('base, a and b values of the mapped fields (JSON)');
    t.text('detail').nullable();
    t.text('status').notNullable().comment('open, resolved (waits for the next run), applied or obsolete');
    t.text('resolution').nullable().comment('what a person decided (JSON)');
    t.text('resolved_by').nullable();
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.timestamp('updated_at', { useTz: true }).notNullable();
    t.index(['pipeline', 'status']);
    t.index(['pipeline', 'link_id']);
  });
  await knex.schema.createTable('sluice_sync_events', (t) => {
    t.comment('append-only: what each sync run saw and did, field by field');
    t.bigIncrements('id').primary();
    t.text('pipeline').notNullable();
    t.text('run_id').notNullable();
    t.timestamp('at', { useTz: true }).notNullable();
    t.integer('link_id').nullable();
    t.text('a_key').nullable();
    t.text('b_key').nullable();
    t.text('side').notNullable().comment('the side the event happened on: a or b');
    t.text('action').notNullable().comment('changed (seen on the side), create, update, delete, archive, link, queue, resolve');
    t.text('changes').notNullable().comment('{ field: [old, new] } (JSON), by the side\'s own field names');
    t.text('decided_by').nullable().comment('the policy, or the person, that decided');
    t.index(['pipeline', 'link_id']);
  });
  await knex.schema.createTable('sluice_sync_runs', (t) => {
    t.text('run_id').primary();
    t.text('pipeline').notNullable();
    t.text('stats').notNullable().comment('per side: created, updated, deleted, conflicts, queued, skipped, failed (JSON)');
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['sluice_sync_runs', 'sluice_sync_events', 'sluice_sync_conflicts', 'sluice_sync_sides', 'sluice_sync_links']) await knex.schema.dropTable(table);
}
