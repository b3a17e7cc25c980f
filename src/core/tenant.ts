/**
 * Tenants name folders on disk, so their names are encoded into a safe, reversible form:
 * letters, digits, `_`, `-` and `.` stay as they are (except a leading dot), everything else is
 * percent-encoded as UTF-8. `United Kingdom` → `United%20Kingdom`, `..` → `%2E.`.
 */
export function tenantDirName(tenant: string): string {
  if (tenant === '') return '%00empty';
  const encoded = Array.from(Buffer.from(tenant, 'utf8'))
    .map((b, i) => {
      const c = String.fromCharCode(b);
      return /[A-Za-z0-9_-]/.test(c) || (c === '.' && i > 0) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
    })
    .join('');
  return encoded;
}

export function tenantFromDirName(dir: string): string {
  if (dir === '%00empty') return '';
  return Buffer.from(
    dir.replace(/%([0-9A-F]{2})|([\s\S])/g, (_, hex: string | undefined, ch: string | undefined) =>
      hex ? String.fromCharCode(parseInt(hex, 16)) : ch!,
    ),
    'latin1',
  ).toString('utf8');
}
