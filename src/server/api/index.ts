/**
 * The REST API under `/api/v1`: every request carries a bearer token — an admin token
 * (`SLUICE_ADMIN_TOKEN`, or one made with `--admin`) or a token for one tenant — and every answer is
 * filtered to what the token may see. Another tenant's things answer 404, as if they did not exist.
 */
import type { FastifyInstance } from 'fastify';
import { VERSION } from '../../core/version';
import type { Service } from '../../run/serve';
import { registerAuth } from './auth';
import { openApiDocument } from './openapi';
import { registerRunRoutes } from './run-routes';
import { registerSourceRoutes } from './source-routes';
import { registerSyncRoutes } from './sync-routes';
import { registerTenantRoutes } from './tenant-routes';

export function registerApi(app: FastifyInstance, service: Service): void {
  app.decorateRequest('principal', undefined);
  // every API route as registered (method and OpenAPI-style path), so a test can hold the document to them
  const registered: string[] = [];
  app.decorate('apiRoutes', registered);
  app.addHook('onRoute', (r) => {
    for (const method of [r.method].flat()) {
      if (method !== 'HEAD' && r.url.startsWith('/api/v1/') && r.url !== '/api/v1/openapi.json') registered.push(`${method} ${r.url.replace(/:(\w+)/g, '{$1}')}`);
    }
  });
  app.get('/api/v1/openapi.json', async () => openApiDocument(VERSION));
  registerAuth(app, service);
  registerTenantRoutes(app, service);
  registerRunRoutes(app, service);
  registerSourceRoutes(app, service);
  registerSyncRoutes(app, service);
}
