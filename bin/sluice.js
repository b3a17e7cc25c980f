#!/usr/bin/env node
'use strict';
// The compiled CLI; `npm ci` builds it (the `prepare` script).
const { main } = require('../dist/src/cli/main.js');
// `sluice ... | head` closes the pipe early: that is the reader being done, not an error
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});
main(process.argv).then((code) => {
  process.exitCode = code;
});
