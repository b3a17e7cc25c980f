/**
 * Migrations are listed here rather than found on disk, so they run the same from `src/` under ts-jest
 * and from `dist/`. Add a new one at the end; never edit one that has shipped.
 */
import type { Knex } from 'knex';
import * as m001 from './001_initial';
import * as m002 from './002_faster_loads';
import * as m003 from './003_deliveries';
import * as m004 from './004_schedule_ticks';
import * as m005 from './005_refined';
import * as m006 from './006_llm';
import * as m007 from './007_label_studio';
import * as m008 from './008_label_studio_imports';
import * as m009 from './009_tenant_isolation';
import * as m010 from './010_alerts_and_audit';
import * as m011 from './011_api_tokens';
import * as m012 from './012_connections';
import * as m013 from './013_token_expiry';
import * as m014 from './014_sync';
import * as m015 from './015_sync_link_state';
import * as m016 from './016_sync_link_room';
import * as m017 from './017_moved_from_kept';
import * as m018 from './018_sync_link_counts';

const MIGRATIONS: Record<string, Knex.Migration> = {
  '001_initial': m001,
  '002_faster_loads': m002,
  '003_deliveries': m003,
  '004_schedule_ticks': m004,
  '005_refined': m005,
  '006_llm': m006,
  '007_label_studio': m007,
  '008_label_studio_imports': m008,
  '009_tenant_isolation': m009,
  '010_alerts_and_audit': m010,
  '011_api_tokens': m011,
  '012_connections': m012,
  '013_token_expiry': m013,
  '014_sync': m014,
  '015_sync_link_state': m015,
  '016_sync_link_room': m016,
  '017_moved_from_kept': m017,
  '018_sync_link_counts': m018,
};

export const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: async () => Object.keys(MIGRATIONS),
  getMigrationName: (name) => name,
  getMigration: async (name) => MIGRATIONS[name]!,
};

export const MIGRATION_TABLE = 'sluice_migrations';
