/**
 * Messages in the user's language: en-US or zh-CN, picked from `--lang`, `SLUICE_LANG` or an HTTP
 * `Accept-Language` header (the first one given wins; anything else is en-US). Messages come from one
 * catalog by stable code (core/messages), with `{name}` placeholders filled in.
 */
import { enUS, type ApiMessageCode } from './messages/en-US';
import { cliHelpEnUS } from './messages/cli-help.en-US';
import { cliHelpZhCN } from './messages/cli-help.zh-CN';
import { cliOutputEnUS } from './messages/cli-output.en-US';
import { cliOutputZhCN } from './messages/cli-output.zh-CN';
import { errorsEnUS } from './messages/errors.en-US';
import { errorsZhCN } from './messages/errors.zh-CN';
import { zhCN } from './messages/zh-CN';

export type MessageCode = ApiMessageCode | keyof typeof errorsEnUS | keyof typeof cliOutputEnUS | keyof typeof cliHelpEnUS;
export const LANGS = ['en-US', 'zh-CN'] as const;
export type Lang = (typeof LANGS)[number];

const CATALOGS: Record<Lang, Record<MessageCode, string>> = {
  'en-US': { ...enUS, ...errorsEnUS, ...cliOutputEnUS, ...cliHelpEnUS },
  'zh-CN': { ...zhCN, ...errorsZhCN, ...cliOutputZhCN, ...cliHelpZhCN },
};

/** A message not yet put in words: its code and what fills its placeholders, rendered in any language. */
export interface Msg {
  key: MessageCode;
  params: Record<string, string | number>;
}

export function msg(key: MessageCode, params: Record<string, string | number | null | undefined> = {}): Msg {
  return { key, params: Object.fromEntries(Object.entries(params).map(([k, v]) => [k, v ?? ''])) as Record<string, string | number> };
}

/** A language tag (`zh`, `zh-Hans-CN`, `en_GB.UTF-8`) as one of ours, or undefined. */
export function langOf(tag: string | undefined): Lang | undefined {
  const t = tag?.trim().toLowerCase().replace('_', '-');
  if (!t) return undefined;
  if (t.startsWith('zh')) return 'zh-CN';
  if (t.startsWith('en')) return 'en-US';
  return undefined;
}

/** The best of ours in an `Accept-Language` header, by its q-values. */
export function fromAcceptLanguage(header: string | undefined): Lang | undefined {
  if (!header) return undefined;
  const ranked = header
    .split(',')
    .map((part) => {
      const [tag, ...params] = part.trim().split(';');
      const q = Number(params.find((p) => p.trim().startsWith('q='))?.trim().slice(2) ?? 1);
      return { lang: langOf(tag), q: Number.isFinite(q) ? q : 0 };
    })
    .filter((x) => x.lang && x.q > 0)
    .sort((a, b) => b.q - a.q);
  return ranked[0]?.lang;
}

export function pickLang(...candidates: (Lang | undefined)[]): Lang {
  return candidates.find((c) => c !== undefined) ?? 'en-US';
}

export function t(lang: Lang, code: MessageCode, params: Record<string, string | number> = {}): string {
  return CATALOGS[lang][code].replace(/\{(\w+)\}/g, (m, name: string) => (name in params ? String(params[name]) : m));
}

export const catalogs = CATALOGS;
