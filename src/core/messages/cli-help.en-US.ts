/** The CLI's help: commands, arguments and options, en-US. zh-CN has the same codes and placeholders. */
export const cliHelpEnUS = {} as const;
