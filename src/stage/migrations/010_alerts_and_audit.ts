/**
 * Alert states, so that `sluice serve` (any number of processes, restarts included) fires an alert once
 * per breach: a state changes only from the version it was read at. And the audit log: append-only,
 * what happened and who did it.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('sluice_alert_states', (t) => {
    t.text('pipeline').notNullable();
    t.text('alert').notNullable();
    t.text('instance').notNullable().comment("'' for a pipeline-wide alert, else e.g. the source");
    t.text('state').notNullable().comment('inactive, pending or firing');
    t.bigInteger('since_ms').nullable().comment('when the condition started to hold');
    t.bigInteger('fired_ms').nullable();
    t.bigInteger('notified_ms').nullable();
    t.double('value').nullable();
    t.integer('version').notNullable();
    t.primary(['pipeline', 'alert', 'instance']);
  });
  await knex.schema.createTable('sluice_audit', (t) => {
    t.increments('id').primary();
    t.timestamp('at', { useTz: true }).notNullable();
    t.text('actor').notNullable().comment('who: a token id, "cli", or "sluice" for the system itself');
    t.text('action').notNullable().comment('e.g. run.succeeded, alert.firing, checkpoint.reset');
    t.text('pipeline').nullable();
    t.text('tenant').nullable();
    t.text('detail').notNullable().comment('JSON; never a secret');
    t.index(['at'], 'sluice_audit_at');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('sluice_audit');
  await knex.schema.dropTable('sluice_alert_states');
}
