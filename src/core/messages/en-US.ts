/**
 * The message catalog, en-US: the API's refusals, by a stable code (errors are in errors.en-US).
 * Placeholders are `{name}`; zh-CN must have the same codes and the same placeholders (a test checks).
 */
export const enUS = {
  'api.unauthorized': 'a valid bearer token is needed',
  'api.forbidden.admin': 'this needs an admin token',
  'api.too_many_requests': 'more than {rate} requests a second: try again in {seconds} s',
  'api.not_found': 'no {what}',
  'api.not_found.route': 'no route {method} {path}',
  'api.tenant_needed': 'tenant: an admin token names the tenant (?tenant=…)',
  'api.tenant_needed.body': 'tenant: an admin token names the tenant the connection is for',
  'api.limit': 'limit: expected a whole number from 1 to 1000',
  'api.since': 'since: expected an ISO-8601 time',
  'api.body_not_json': 'the body is not JSON: {reason}',
  'api.invalid_field': '{field}: {reason}',
  'api.body_too_large': 'the body is larger than the limit of {limit} bytes',
  'api.run_not_running': 'run {run} is {status}, not running here',
  'api.run_under_way': 'a run of {pipeline} is under way',
  'api.connection_exists': 'tenant {tenant} already has a connection named {name}',
  'api.secrets_unavailable': 'credentials are unavailable: {reason}',
  'what.pipeline': 'pipeline {name}',
  'what.export': 'export {id}',
  'what.sync_pipeline': 'sync pipeline {name}',
  'what.conflict': 'conflict {id} in {pipeline}',
  'api.conflict_status': 'status: expected some of {statuses}, separated by commas',
  'what.run': 'run {id}',
  'what.source': 'source {id}',
  'what.pipeline_source': 'source {source} in pipeline {pipeline}',
} as const;

export type ApiMessageCode = keyof typeof enUS;
