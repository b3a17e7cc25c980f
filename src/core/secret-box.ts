/**
 * Secrets at rest: AES-256-GCM with a random 96-bit IV per value and the key id in the envelope
 * (`v1:<key id>:<iv>:<tag>:<ciphertext>`, base64url), so keys can be rotated: new values are sealed with
 * the current key, old ones still open with the key they name until they are sealed again.
 *
 * Keys come from `SLUICE_SECRET_KEY`: one 32-byte key in base64 (its id is `k1`), or a list
 * `id:base64,id:base64` whose first entry is the current key.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { msg } from './i18n';
import { SluiceError } from './errors';

export class SecretBox {
  private constructor(
    private readonly keys: ReadonlyMap<string, Buffer>,
    readonly currentId: string,
  ) {}

  static fromEnv(value: string | undefined): SecretBox {
    if (!value) throw new SluiceError('SLUICE_SECRET_KEY', msg('err.core.secret-box.1'));
    const entries = value.includes(':') ? value.split(',').map((e) => e.trim().split(':') as [string, string]) : [['k1', value.trim()] as [string, string]];
    const keys = new Map<string, Buffer>();
    for (const [id, b64] of entries) {
      const key = Buffer.from(b64 ?? '', 'base64');
      if (!/^[A-Za-z0-9_-]{1,32}$/.test(id) || key.length !== 32) throw new SluiceError('SLUICE_SECRET_KEY', msg('err.core.secret-box.2', { value: JSON.stringify(id) }));
      keys.set(id, key);
    }
    return new SecretBox(keys, entries[0]![0]);
  }

  seal(plain: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.keys.get(this.currentId)!, iv);
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return ['v1', this.currentId, iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), body.toString('base64url')].join(':');
  }

  open(sealed: string): string {
    const [v, id, iv, tag, body] = sealed.split(':');
    const key = id === undefined ? undefined : this.keys.get(id);
    if (v !== 'v1' || !key || !iv || !tag || body === undefined) {
      throw new SluiceError('SLUICE_SECRET_KEY', msg('err.core.secret-box.3', { value: JSON.stringify(id) }));
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      throw new SluiceError('SLUICE_SECRET_KEY', msg('err.core.secret-box.4', { id }));
    }
  }

  /** The id of the key a sealed value names. */
  static keyOf(sealed: string): string {
    return sealed.split(':')[1] ?? '';
  }
}
