/** The same codes and placeholders as cli-output.en-US, in zh-CN. */
import type { cliOutputEnUS } from './cli-output.en-US';

export const cliOutputZhCN: Record<keyof typeof cliOutputEnUS, string> = {};
