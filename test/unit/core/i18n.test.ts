// Messages in en-US and zh-CN: every code has both, with the same placeholders; languages are picked
// from tags and Accept-Language as users send them; and the API's refusals come from the catalog only.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { catalogs, fromAcceptLanguage, langOf, pickLang, t } from '../../../src/core/i18n';

const placeholders = (text: string) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

test('every message has both languages, non-empty, with the same placeholders', () => {
  const en = catalogs['en-US'];
  const zh = catalogs['zh-CN'];
  expect(Object.keys(zh).sort()).toEqual(Object.keys(en).sort());
  for (const code of Object.keys(en) as (keyof typeof en)[]) {
    expect({ code, zh: zh[code].trim().length > 0 }).toEqual({ code, zh: true });
    expect({ code, placeholders: placeholders(zh[code]) }).toEqual({ code, placeholders: placeholders(en[code]) });
    // words outside the placeholders are translated (a message of placeholders only has nothing to translate)
    const words = (text: string) => text.replace(/\{\w+\}/g, '').replace(/[^A-Za-z]/g, '');
    if (words(en[code]).length > 0) expect({ code, translated: zh[code] !== en[code] }).toEqual({ code, translated: true });
  }
});

test('languages from tags, SLUICE_LANG-style values and Accept-Language', () => {
  expect(langOf('zh')).toBe('zh-CN');
  expect(langOf('zh_CN.UTF-8')).toBe('zh-CN');
  expect(langOf('en-GB')).toBe('en-US');
  expect(langOf('fr')).toBeUndefined();
  expect(fromAcceptLanguage('fr-FR, zh-CN;q=0.8, en;q=0.5')).toBe('zh-CN');
  expect(fromAcceptLanguage('en;q=0.9, zh;q=0.1')).toBe('en-US');
  expect(fromAcceptLanguage('zh;q=0')).toBeUndefined();
  expect(pickLang(undefined, 'zh-CN')).toBe('zh-CN');
  expect(pickLang()).toBe('en-US');
  expect(t('zh-CN', 'api.too_many_requests', { rate: 5, seconds: 2 })).toBe('每秒请求超过 5 次：请在 2 秒后重试');
});

test('every SluiceError says its message through the catalog: no message written out where it is raised', () => {
  const root = join(__dirname, '../../../src');
  const walk = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? walk(join(dir, d.name)) : d.name.endsWith('.ts') ? [join(dir, d.name)] : []));
  for (const file of walk(root)) {
    const text = readFileSync(file, 'utf8');
    // new SluiceError('CODE', <a string or template literal>: a message that bypasses the catalog
    const literal = /new SluiceError\(\s*'[A-Z_]+',\s*[`'"]/.test(text);
    expect({ file: file.slice(root.length), literal }).toEqual({ file: file.slice(root.length), literal: false });
  }
});

test('the API answers refusals only through the catalog: no reason written out in a route', () => {
  const dir = join(__dirname, '../../../src/server/api');
  for (const file of readdirSync(dir)) {
    const text = readFileSync(join(dir, file), 'utf8');
    // a literal reason (a quoted or template string right after `reason:`) would bypass the catalog
    expect({ file, literal: /reason:\s*[`'"]/.test(text) }).toEqual({ file, literal: false });
    expect({ file, badRequestLiteral: /badRequest\(reply,\s*[`'"]/.test(text) }).toEqual({ file, badRequestLiteral: false });
  }
});

/** The text parts of a file's string literals (quoted, and template literals outside their `${…}`), comments left out. */
function literalTexts(source: string): string[] {
  const out: string[] = [];
  let i = 0;
  const template = (): void => {
    let text = '';
    for (i++; i < source.length && source[i] !== '`'; i++) {
      if (source[i] === '\\') text += source[i++]! + source[i]!;
      else if (source[i] === '$' && source[i + 1] === '{') {
        out.push(text);
        text = '';
        let depth = 1;
        for (i += 2; depth > 0; i++) {
          if (source[i] === '`') template();
          else if (source[i] === '{') depth++;
          else if (source[i] === '}') depth--;
        }
        i--;
      } else text += source[i];
    }
    out.push(text);
  };
  while (i < source.length) {
    const c = source[i]!;
    if (c === '/' && source[i + 1] === '/') i = source.indexOf('\n', i);
    else if (c === '/' && source[i + 1] === '*') i = source.indexOf('*/', i) + 1;
    else if (c === "'" || c === '"') {
      const end = source.indexOf(c, i + 1);
      out.push(source.slice(i + 1, end));
      i = end;
    } else if (c === '`') template();
    if (i === -1) break;
    i++;
  }
  return out;
}

test('the CLI says nothing in words of its own: every phrase comes from the catalog', () => {
  const root = join(__dirname, '../../../src/cli');
  const walk = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? walk(join(dir, d.name)) : d.name.endsWith('.ts') ? [join(dir, d.name)] : []));
  // not messages: the JSON status of a store that is not there yet, and commander's heading it is looked up by
  const data = new Set([' (does not exist yet)', 'Global Options:']);
  const phrases = walk(root).flatMap((file) => literalTexts(readFileSync(file, 'utf8')).filter((t) => /[A-Za-z]{2,} [A-Za-z]{2,}/.test(t) && !data.has(t)).map((t) => `${file.slice(root.length)}: ${t}`));
  expect(phrases).toEqual([]);
});
