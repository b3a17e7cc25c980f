/** The same codes and placeholders as cli-help.en-US, in zh-CN. */
import type { cli_helpEnUS } from './cli-help.en-US';

export const cli_helpZhCN: Record<keyof typeof cli_helpEnUS, string> = {};
