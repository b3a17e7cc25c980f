import { SluiceError, messageOf } from '../../core/errors';
import { loadPipeline } from '../../run/pipeline';
import { msg } from '../../core/i18n';
import { Service, type ServeEvent } from '../../run/serve';
import { buildServer } from '../../server/app';
import { lang, say } from '../format';

export interface ServeFlags {
  port?: number;
  host: string;
  staging?: string;
  json?: boolean;
}

/**
 * Serves the pipelines' webhook routes, schedules and `/health` until SIGINT or SIGTERM, then stops
 * taking requests, lets deliveries and runs under way finish, and exits 0.
 */
export async function serveCommand(files: string[], flags: ServeFlags): Promise<void> {
  const pipelines = files.map((f) => loadPipeline(f));
  const port = flags.port ?? portFromEnv() ?? 8080;
  // a line in the CLI's language, or (--json) one JSON object whose words stay as they are
  const log = (line: string, data: Record<string, unknown>) =>
    process.stdout.write(flags.json ? `${JSON.stringify({ time: new Date().toISOString(), ...data })}\n` : `${line}\n`);
  const service = await Service.open(pipelines, { stagingUrl: flags.staging, log: (e) => log(describe(e), eventData(e)) });
  const app = buildServer(service);
  try {
    await app.listen({ port, host: flags.host });
  } catch (err) {
    await service.close();
    throw new SluiceError('SLUICE_SERVE_LISTEN', msg('err.cli.commands.serve.1', { host: flags.host, port, reason: messageOf(err) }));
  }
  service.startSchedules();
  await service.startListeners();
  const address = app.server.address();
  const url = typeof address === 'object' && address ? `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}` : String(address);
  const routes = pipelines.flatMap((p) => p.sources.filter((s) => s.push).map((s) => `POST /hooks/${p.name}/${s.name}`));
  const scheduled = pipelines.flatMap((p) => [
    ...p.sources.filter((s) => s.schedule).map((s) => `${p.name}/${s.name} "${s.schedule}"`),
    ...(p.sync?.schedule ? [`${p.name}/sync "${p.sync.schedule}"`] : []),
  ]);
  log(say('cli.serve.listening', { url, routes: routes.length, schedules: scheduled.length }), { event: 'listening', url, routes, schedules: scheduled });

  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  log(say('cli.serve.stopping'), { event: 'stopping' });
  await app.close();
  await service.close();
  log(say('cli.serve.stopped'), { event: 'stopped' });
}

function portFromEnv(): number | undefined {
  const raw = process.env.PORT;
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new SluiceError('SLUICE_USAGE', msg('err.cli.commands.serve.2', { raw }));
  return n;
}

function describe(e: ServeEvent): string {
  const at = { pipeline: e.pipeline, source: e.source, tick: e.tick };
  switch (e.type) {
    case 'run':
      return say('cli.serve.run', {
        ...at,
        run: e.summary.run,
        read: e.summary.sources.reduce((n, s) => n + s.read, 0),
        exported: e.summary.exports.reduce((n, x) => n + x.rows, 0),
        seconds: (e.summary.durationMs / 1000).toFixed(1),
      });
    case 'run-failed':
      // the line says the error in the CLI's language; the JSON log keeps its en-US message
      return say('cli.serve.run_failed', { ...at, error: e.error instanceof SluiceError ? e.error.localized(lang()) : e.error.message });
    case 'sync': {
      const c = e.summary.sides;
      const carried = (['a', 'b'] as const).reduce((n, id) => n + c[id].created + c[id].updated + c[id].deleted, 0);
      return say('cli.serve.sync', { pipeline: e.pipeline, run: e.summary.run, written: carried, queued: e.summary.queued, seconds: (e.summary.durationMs / 1000).toFixed(2) });
    }
    case 'tick-skipped':
      return say('cli.serve.tick_skipped', { ...at, reason: e.reason });
  }
}

function eventData(e: ServeEvent): Record<string, unknown> {
  const base = { event: e.type, pipeline: e.pipeline, source: e.source, tick: e.tick };
  if (e.type === 'run') return { ...base, run: e.summary.run, sources: e.summary.sources, exported: e.summary.exports.reduce((n, x) => n + x.rows, 0) };
  if (e.type === 'run-failed') return { ...base, error: e.error.message, code: e.error instanceof SluiceError ? e.error.code : undefined };
  if (e.type === 'sync') return { ...base, run: e.summary.run, sides: e.summary.sides, queued: e.summary.queued };
  return { ...base, reason: e.reason };
}
