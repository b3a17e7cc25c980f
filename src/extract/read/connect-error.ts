import { SluiceError, messageOf } from '../../core/errors';
import { msg } from '../../core/i18n';

/** `postgres://user:secret@db:5432/app` → `db:5432/app`: where, without credentials. */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname || 'localhost'}${u.port ? `:${u.port}` : ''}${u.pathname && u.pathname !== '/' ? u.pathname : ''}`;
  } catch {
    return '(unparseable URL)';
  }
}

/** A connection failure that names the driver, host and port and the reason, never the password. */
export function connectError(
  driver: string,
  url: string,
  err: unknown,
  where: { pipeline: string; source: string },
): SluiceError {
  const e = err as { code?: string };
  const message = messageOf(err).replace(/^Error: /, '');
  const reason = [e.code && !message.includes(e.code) ? e.code : '', message].filter(Boolean).join(': ');
  return new SluiceError('SLUICE_SOURCE_CONNECT', msg('err.extract.read.connect-error.1', { pipeline: where.pipeline, source: where.source, driver, where: describeUrl(url), value: reason || 'connection failed' }),
    { ...where, hint: 'check that the server is running and the URL is right' },
    { cause: err },
  );
}
