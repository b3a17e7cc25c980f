/**
 * Schedule ticks claimed: when several `sluice serve` processes share a store, the first to record a
 * tick of a schedule runs it and the others see it taken, so each tick runs once per cluster.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('sluice_ticks', (t) => {
    t.text('pipeline').notNullable();
    t.text('source').notNullable();
    t.text('tick').notNullable().comment('the scheduled time (ISO-8601), not when it fired');
    t.text('claimed_by').notNullable();
    t.timestamp('claimed_at', { useTz: true }).notNullable();
    t.primary(['pipeline', 'source', 'tick']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('sluice_ticks');
}
