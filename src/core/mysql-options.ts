/**
 * The mysql2 connection options that decide how values come back (and keep statements safe): the MySQL
 * reader and the sync table side both connect with them, so a value read by one compares equal to the
 * same value read by the other. A `?param` in a URL must not override them.
 */
import type { ConnectionOptions } from 'mysql2';

export const MYSQL_READ_OPTIONS = {
  charset: 'UTF8MB4_UNICODE_CI',
  timezone: 'Z',
  supportBigNumbers: true,
  bigNumberStrings: true,
  decimalNumbers: false,
  dateStrings: true,
  jsonStrings: true, // raw JSON text keeps big numbers and key order exact
  multipleStatements: false,
  typeCast: true,
  rowsAsArray: false,
  namedPlaceholders: false,
} satisfies ConnectionOptions;
