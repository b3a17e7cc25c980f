/** What the CLI's commands print (labels, statuses, summaries), en-US. zh-CN has the same codes and placeholders. */
export const cliOutputEnUS = {} as const;
