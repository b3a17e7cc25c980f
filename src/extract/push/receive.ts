/**
 * Turns one webhook request into a delivery to stage, or a refusal with its HTTP status and reason. It
 * checks, in order: the content type, the signature (over the raw bytes, before anything parses them),
 * that the body is UTF-8 JSON holding an object, and that its key and tenant are where the file says.
 * It writes nothing: a refused request leaves no trace in the store.
 *
 * The record is the body's own text, not the parsed body written again: a number keeps every digit
 * (JSON.parse rounds integers past 2^53, and a 64-bit id would be staged as another one; a key or
 * tenant that is such a number is taken from the text too). Only its line breaks become spaces.
 */
import { createHash } from 'node:crypto';
import { getJsonPath, formatJsonPath, parseJsonPath, type JsonPath } from '../../core/json-path';
import { oneLine, scalarText } from '../../core/json-text';
import type { SourceRecord } from '../../core/record';
import type { TenantRule } from '../../config/parts';
import { verifyOptions, type PushConfig } from './config';
import { createVerifier, type WebhookHeaders } from './verify';

export interface PushDelivery {
  id: string;
  record: SourceRecord;
}

export interface Refusal {
  status: 400 | 401 | 413 | 415 | 422;
  reason: string;
}

export type Received = { ok: true; delivery: PushDelivery } | { ok: false; refusal: Refusal };

const DELIVERY_ID_HEADER: Partial<Record<PushConfig['verify'], string>> = {
  'standard-webhooks': 'webhook-id',
  github: 'x-github-delivery',
};

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function pushReceiver(config: PushConfig, tenantRule: TenantRule | undefined): (headers: WebhookHeaders, body: Buffer) => Received {
  const verify = createVerifier(verifyOptions(config));
  const tenantPath: JsonPath | undefined = config.tenant ?? (tenantRule && 'column' in tenantRule ? parseJsonPath(tenantRule.column) : undefined);
  const fixedTenant = tenantRule && 'value' in tenantRule ? tenantRule.value : undefined;
  const refuse = (status: Refusal['status'], reason: string): Received => ({ ok: false, refusal: { status, reason } });

  return (headers, body) => {
    const type = headerText(headers['content-type']);
    if (!isJson(type)) return refuse(415, `expected Content-Type application/json, got ${type ? JSON.stringify(type.slice(0, 100)) : 'none'}`);
    const signed = verify(headers, body);
    if (!signed.ok) return refuse(401, signed.reason);
    let text: string;
    try {
      text = utf8.decode(body);
    } catch {
      return refuse(400, 'the body is not valid UTF-8');
    }
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (err) {
      return refuse(400, `the body is not JSON: ${(err as Error).message.slice(0, 200)}`);
    }
    if (data === null || typeof data !== 'object' || Array.isArray(data)) return refuse(400, 'expected a JSON object as the body');

    const id = deliveryId(config, headers, data, text, body);
    if (id === undefined || id.length > 512) return refuse(400, `no usable delivery id in the ${config.idHeader ?? DELIVERY_ID_HEADER[config.verify] ?? 'body'}`);
    const key = config.key ? scalarAt(data, text, config.key) : id;
    if (key === undefined) return refuse(422, `the body has no key at ${formatJsonPath(config.key!)}`);
    const tenant = fixedTenant ?? (tenantPath ? scalarAt(data, text, tenantPath) : undefined);
    if (tenant === undefined) return refuse(422, `the body has no tenant at ${tenantPath ? formatJsonPath(tenantPath) : '(none configured)'}`);
    // Identifiers are text columns in the store; PostgreSQL text cannot hold U+0000 (in the data it is
    // written as the escape \u0000, which is fine).
    if (key.includes('\u0000') || tenant.includes('\u0000') || id.includes('\u0000')) return refuse(422, 'a key, tenant or delivery id holds the character U+0000');
    // JSON.parse takes nesting that the exporters' JSON.stringify cannot write back: refused here, once
    if (mayNestDeeply(body) && !canWriteBack(data)) return refuse(400, 'the body nests too deeply to be stored');
    const json = oneLine(text.trim());
    return { ok: true, delivery: { id, record: { tenant, key, op: 'upsert', cursor: null, json } } };
  };
}

function deliveryId(config: PushConfig, headers: WebhookHeaders, data: object, text: string, body: Buffer): string | undefined {
  const header = config.idHeader ?? DELIVERY_ID_HEADER[config.verify];
  if (header) return headerText(headers[header.toLowerCase()]) || undefined;
  if (config.verify === 'stripe') return scalarAt(data, text, ['id']);
  return `sha256:${createHash('sha256').update(body).digest('hex')}`;
}

/** A key, tenant or id: a non-empty string, a number (every digit, from the text) or a boolean. */
function scalarAt(data: unknown, text: string, path: JsonPath): string | undefined {
  const v = scalarText(getJsonPath(data, path), text, path);
  return v === '' ? undefined : v;
}

/** At least 1,000 opening brackets: only then can the body nest beyond what JSON.stringify writes. */
function mayNestDeeply(body: Buffer): boolean {
  let opens = 0;
  for (let i = 0; i < body.length; i++) if ((body[i] === 0x5b || body[i] === 0x7b) && ++opens >= 1000) return true;
  return false;
}

function canWriteBack(data: unknown): boolean {
  try {
    JSON.stringify(data);
    return true;
  } catch {
    return false;
  }
}

function headerText(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function isJson(type: string | undefined): boolean {
  const mime = type?.split(';')[0]!.trim().toLowerCase();
  return mime === 'application/json' || (mime !== undefined && /^application\/[\w.+-]+\+json$/.test(mime));
}
