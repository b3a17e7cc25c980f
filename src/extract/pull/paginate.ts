/**
 * Walks an API's pages in one of four styles — a `Link: rel="next"` header (RFC 8288), a next-page token
 * in the body, page numbers, or offset and limit — and says after each page where the walk would go on,
 * so a run that stops (or dies) between pages can continue from there.
 */
import { formatJsonPath, getJsonPath, type JsonPath } from '../../core/json-path';
import { elementSpans, spanAt } from '../../core/json-text';
import { msg } from '../../core/i18n';
import { SluiceError, type ErrorContext } from '../../core/errors';
import type { Pagination } from './config';
import type { JsonResponse } from './http';

/** Where a walk goes on: the next URL, token, page number or offset. */
export type PageResume = { url: string } | { token: string } | { page: number } | { offset: number };

export interface Page {
  /** Each record parsed, and as written in the body. */
  records: { value: unknown; text: string }[];
  /** Absent on the last page. */
  next?: PageResume;
}

export interface Walk {
  /** The URL of the first page: the endpoint with its parameters (the incremental one included). */
  firstUrl: URL;
  paginate: Pagination;
  records: JsonPath;
  get(url: string): Promise<JsonResponse>;
  context: ErrorContext;
}

export async function* walkPages(w: Walk, resume?: PageResume): AsyncGenerator<Page> {
  let at = resume;
  let pages = 0;
  for (;;) {
    const url = pageUrl(w, at);
    const res = await w.get(url);
    const records = recordsIn(res, w);
    pages++;
    let next = records.length === 0 ? undefined : nextOf(w.paginate, res, records.length, at);
    if (next && 'url' in next && next.url === url) next = undefined; // a next link to itself would never end
    if (next && 'token' in next && at && 'token' in at && next.token === at.token) next = undefined;
    yield next ? { records, next } : { records };
    if (!next) return;
    at = next;
    if (w.paginate.maxPages !== undefined && pages >= w.paginate.maxPages) return;
  }
}

function pageUrl(w: Walk, at: PageResume | undefined): string {
  if (at && 'url' in at) return at.url;
  const u = new URL(w.firstUrl);
  const p = w.paginate;
  if (p.style === 'cursor' && at && 'token' in at) u.searchParams.set(p.param, at.token);
  if (p.style === 'page') u.searchParams.set(p.param, String(at && 'page' in at ? at.page : p.start));
  if (p.style === 'offset') {
    u.searchParams.set(p.param, String(at && 'offset' in at ? at.offset : 0));
    u.searchParams.set(p.limitParam, String(p.limit));
  }
  return u.toString();
}

function nextOf(p: Pagination, res: JsonResponse, count: number, at: PageResume | undefined): PageResume | undefined {
  switch (p.style) {
    case 'none':
      return undefined;
    case 'link': {
      const next = linkHeaderNext(res.headers.get('link'));
      return next === undefined ? undefined : { url: new URL(next, res.url).toString() };
    }
    case 'cursor': {
      const token = getJsonPath(res.body, p.next);
      return typeof token === 'string' && token !== '' ? { token } : typeof token === 'number' ? { token: String(token) } : undefined;
    }
    case 'page': {
      if (p.size !== undefined && count < p.size) return undefined;
      return { page: (at && 'page' in at ? at.page : p.start) + 1 };
    }
    case 'offset':
      return count < p.limit ? undefined : { offset: (at && 'offset' in at ? at.offset : 0) + count };
  }
}

function recordsIn(res: JsonResponse, w: Walk): Page['records'] {
  const records = getJsonPath(res.body, w.records);
  if (Array.isArray(records)) {
    const spans = elementSpans(res.text, spanAt(res.text, w.records)!);
    return records.map((value, i) => ({ value, text: res.text.slice(spans[i]![0], spans[i]![1]) }));
  }
  const where = w.records.length === 0 ? 'the body' : `the records path ${formatJsonPath(w.records)}`;
  throw new SluiceError('SLUICE_PULL_RESPONSE', msg('err.extract.pull.paginate.1', { url: res.url, where, value: records === undefined ? 'missing' : `not an array (${typeof records})` }),
    w.context,
  );
}

/**
 * The target of the `rel="next"` link in a Link header, per RFC 8288: links are separated by commas
 * outside `<…>`, `rel` may be quoted and may hold several space-separated relation types.
 */
export function linkHeaderNext(header: string | null): string | undefined {
  if (!header) return undefined;
  const link = /<([^>]*)>((?:\s*;\s*[^;,]+(?:=(?:"[^"]*"|[^;,]*))?)*)/g;
  for (const m of header.matchAll(link)) {
    for (const param of m[2]!.split(';')) {
      const [name, raw] = param.split('=', 2).map((s) => s?.trim());
      if (name?.toLowerCase() !== 'rel' || raw === undefined) continue;
      const rels = raw.replace(/^"|"$/g, '').toLowerCase().split(/\s+/);
      if (rels.includes('next')) return m[1];
    }
  }
  return undefined;
}
