/** The same codes and placeholders as cli-output.en-US, in zh-CN. */
import type { cli_outputEnUS } from './cli-output.en-US';

export const cli_outputZhCN: Record<keyof typeof cli_outputEnUS, string> = {};
