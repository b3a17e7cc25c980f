// What the CLI's commands print comes from the catalog: in zh-CN when SLUICE_LANG (or --lang, through
// SLUICE_CLI_LANG) asks for it, in en-US otherwise, with the same placeholders in both.
import { catalogs } from '../../src/core/i18n';
import { cliOutputEnUS } from '../../src/core/messages/cli-output.en-US';
import { cliOutputZhCN } from '../../src/core/messages/cli-output.zh-CN';
import { formatError, exitCodesHelp } from '../../src/cli/exit';
import { lang, say, seconds, table, cols } from '../../src/cli/format';
import { SluiceError } from '../../src/core/errors';
import { msg } from '../../src/core/i18n';

const placeholders = (text: string) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

const saved = { SLUICE_LANG: process.env.SLUICE_LANG, SLUICE_CLI_LANG: process.env.SLUICE_CLI_LANG };
const setEnv = (name: keyof typeof saved, value: string | undefined) => {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
};
afterEach(() => {
  setEnv('SLUICE_LANG', saved.SLUICE_LANG);
  setEnv('SLUICE_CLI_LANG', saved.SLUICE_CLI_LANG);
});

test('SLUICE_LANG=zh-CN: the commands say their words in zh-CN', () => {
  setEnv('SLUICE_CLI_LANG', undefined);
  setEnv('SLUICE_LANG', 'zh-CN');
  expect(lang()).toBe('zh-CN');
  expect(say('cli.quarantine.empty')).toBe('没有被隔离或处理失败的记录');
  expect(say('cli.tokens.revoked', { id: 'tok_1' })).toBe('已撤销 tok_1');
  expect(say('cli.validate.valid', { file: 'p.yaml', pipeline: 'chinook', sources: 3, exports: 2 })).toBe('p.yaml：流水线 chinook 有效（3 个数据源，2 个导出）');
  expect(seconds(1500)).toBe('1.50 秒');
  expect(cols('tenant', 'rows')).toEqual(['租户', '行数']);
  expect(exitCodesHelp()).toContain('退出码：');
});

test('--lang (SLUICE_CLI_LANG) wins over SLUICE_LANG; neither is en-US, as it always printed', () => {
  setEnv('SLUICE_LANG', 'zh-CN');
  setEnv('SLUICE_CLI_LANG', 'en-US');
  expect(lang()).toBe('en-US');
  expect(say('cli.quarantine.empty')).toBe('no quarantined or failed records');
  setEnv('SLUICE_LANG', undefined);
  setEnv('SLUICE_CLI_LANG', undefined);
  expect(lang()).toBe('en-US');
  expect(say('cli.run.succeeded', { pipeline: 'p', run: 'r', duration: seconds(12_345), staging: 'sqlite x', memory: '80 MiB' })).toBe(
    'p: run r succeeded in 12.3 s (staging: sqlite x, peak memory 80 MiB)',
  );
});

test('every code has a non-empty zh-CN translation with the same placeholders', () => {
  const codes = Object.keys(cliOutputEnUS) as (keyof typeof cliOutputEnUS)[];
  expect(Object.keys(cliOutputZhCN).sort()).toEqual([...codes].sort());
  for (const code of codes) {
    const zh = catalogs['zh-CN'][code];
    expect({ code, nonEmpty: zh.trim().length > 0 }).toEqual({ code, nonEmpty: true });
    expect({ code, placeholders: placeholders(zh) }).toEqual({ code, placeholders: placeholders(cliOutputEnUS[code]) });
  }
});

test('errors: the words around them in the language, the `error CODE:` prefix as it is', () => {
  const err = new SluiceError('SLUICE_USAGE', msg('err.cli.commands.tokens.3', { id: 'tok_1' }), { pipeline: 'p', tenant: 'USA', hint: 'run it first' });
  expect(formatError(err, false, 'en-US')).toBe('error SLUICE_USAGE: no live token tok_1\n  at pipeline p, tenant USA\n  hint: run it first');
  expect(formatError(err, false, 'zh-CN')).toBe('error SLUICE_USAGE: 没有有效的令牌 tok_1\n  位置：流水线 p，租户 USA\n  提示：run it first');
});

test('tables line up zh-CN headers by the columns they take on a terminal', () => {
  expect(table(['租户', 'rows'], [['USA', 12]])).toBe('  租户  rows\n  USA     12');
  expect(table(['tenant', 'rows'], [['USA', 1234]])).toBe('  tenant   rows\n  USA     1,234');
});
