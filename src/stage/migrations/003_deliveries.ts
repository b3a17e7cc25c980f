/**
 * Pushed deliveries: each delivery id a push source has staged, written in the same transaction as its
 * record, so a repeated delivery (senders retry) is recognised and changes nothing.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('sluice_deliveries', (t) => {
    t.integer('stream_id').notNullable();
    t.text('delivery_id').notNullable().comment('the sender\'s delivery id (webhook-id, X-GitHub-Delivery, …) or the body\'s hash');
    t.text('key').notNullable().comment('the key of the record the delivery staged');
    t.text('run_id').notNullable();
    t.timestamp('received_at', { useTz: true }).notNullable();
    t.primary(['stream_id', 'delivery_id']);
    t.index(['stream_id', 'received_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('sluice_deliveries');
}
