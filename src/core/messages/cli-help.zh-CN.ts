/** The same codes and placeholders as cli-help.en-US, in zh-CN. */
import type { cliHelpEnUS } from './cli-help.en-US';

export const cliHelpZhCN: Record<keyof typeof cliHelpEnUS, string> = {};
