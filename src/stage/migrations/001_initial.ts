/**
 * The staging store's tables. A *stream* is one source of one pipeline; records belong to a stream and
 * a tenant. `seq` grows on every change of a record and drives incremental exports.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  const pg = knex.client.config.client === 'pg';
  await knex.schema.createTable('sluice_streams', (t) => {
    t.increments('id').primary();
    t.text('pipeline').notNullable();
    t.text('source').notNullable();
    t.text('checkpoint').nullable().comment('the extractor\'s position after the last committed batch (JSON)');
    t.text('fields').nullable().comment('the fields the extractor described (JSON), for manifests');
    t.text('run_id').nullable();
    t.bigInteger('high_water').notNullable().defaultTo(0).comment('no record of this stream has a higher seq');
    t.timestamp('updated_at', { useTz: true }).nullable();
    t.unique(['pipeline', 'source']);
  });
  await knex.schema.createTable('sluice_tenants', (t) => {
    t.integer('stream_id').notNullable().references('sluice_streams.id');
    t.text('tenant').notNullable();
    t.primary(['stream_id', 'tenant']);
  });
  await knex.schema.createTable('sluice_records', (t) => {
    t.integer('stream_id').notNullable().references('sluice_streams.id');
    t.text('key').notNullable();
    t.text('tenant').notNullable();
    t.text('op').notNullable().comment('upsert, or delete when the source deleted the record');
    t.text('data').nullable().comment('the record as JSON text; NULL for a delete');
    t.text('hash').notNullable().comment('md5 of data: equal hashes mean the record did not change');
    t.text('cursor').nullable();
    t.text('run_id').notNullable().comment('the run that last changed this record');
    t.bigInteger('seq').notNullable();
    t.timestamp('staged_at', { useTz: true }).notNullable();
    t.text('moved_from').nullable().comment('within a commit only: the tenant a record just left');
    t.primary(['stream_id', 'key']);
    t.index(['stream_id', 'tenant', 'seq'], 'sluice_records_tenant_seq');
  });
  if (pg) {
    await knex.raw('CREATE SEQUENCE sluice_record_seq');
    // A first load COPYs batches straight into the table: what the COPY does not carry comes from defaults
    // (the stream and run are set per transaction with set_config), and the database hashes the data.
    await knex.raw(`ALTER TABLE sluice_records
      ALTER COLUMN stream_id SET DEFAULT current_setting('sluice.stream')::int,
      ALTER COLUMN run_id SET DEFAULT current_setting('sluice.run'),
      ALTER COLUMN seq SET DEFAULT nextval('sluice_record_seq'),
      ALTER COLUMN op SET DEFAULT 'upsert',
      ALTER COLUMN staged_at SET DEFAULT now(),
      DROP COLUMN hash,
      ADD COLUMN hash text NOT NULL GENERATED ALWAYS AS (coalesce(md5(data), '')) STORED`);
  }
  // Finds the few records that changed tenant in a commit; rows with NULL are not in it at all.
  await knex.raw('CREATE INDEX sluice_records_moved ON sluice_records (stream_id) WHERE moved_from IS NOT NULL');
  await knex.schema.createTable('sluice_tombstones', (t) => {
    t.comment('records that left a tenant for another: the next export of that tenant lists them as deleted');
    t.integer('stream_id').notNullable().references('sluice_streams.id');
    t.text('tenant').notNullable();
    t.text('key').notNullable();
    t.bigInteger('seq').notNullable();
    t.text('run_id').notNullable();
    t.timestamp('staged_at', { useTz: true }).notNullable();
    t.primary(['stream_id', 'tenant', 'key']);
    t.index(['stream_id', 'tenant', 'seq'], 'sluice_tombstones_tenant_seq');
  });
  await knex.schema.createTable('sluice_runs', (t) => {
    t.text('id').primary();
    t.text('pipeline').notNullable();
    t.text('status').notNullable().comment('running, succeeded, failed, cancelled or abandoned');
    t.timestamp('started_at', { useTz: true }).notNullable();
    t.timestamp('finished_at', { useTz: true }).nullable();
    t.bigInteger('rows_read').notNullable().defaultTo(0);
    t.bigInteger('rows_staged').notNullable().defaultTo(0);
    t.bigInteger('rows_unchanged').notNullable().defaultTo(0);
    t.bigInteger('rows_exported').notNullable().defaultTo(0);
    t.text('error_code').nullable();
    t.text('error').nullable();
    t.index(['pipeline', 'started_at']);
  });
  await knex.schema.createTable('sluice_exports', (t) => {
    t.text('id').notNullable();
    t.text('pipeline').notNullable();
    t.text('target').notNullable().comment('the export path the dataset was published under');
    t.text('tenant').notNullable();
    t.text('dir').notNullable();
    t.boolean('full').notNullable();
    t.text('seqs').notNullable().comment('JSON: per source, the change sequence this export covers up to');
    t.bigInteger('rows').notNullable();
    t.text('run_id').nullable();
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.primary(['pipeline', 'target', 'tenant', 'id']);
  });
  if (!pg) {
    await knex.schema.createTable('sluice_counters', (t) => {
      t.text('name').primary();
      t.bigInteger('value').notNullable();
    });
    await knex('sluice_counters').insert({ name: 'record_seq', value: 0 });
  }
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('sluice_exports');
  await knex.schema.dropTable('sluice_runs');
  await knex.schema.dropTable('sluice_tombstones');
  await knex.schema.dropTable('sluice_records');
  await knex.schema.dropTable('sluice_tenants');
  await knex.schema.dropTable('sluice_streams');
  await knex.raw('DROP SEQUENCE IF EXISTS sluice_record_seq').catch(() => undefined);
  await knex.schema.dropTableIfExists('sluice_counters');
}
