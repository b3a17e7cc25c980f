#!/usr/bin/env node
'use strict';
// The compiled CLI; `npm ci` builds it (the `prepare` script).
const { main } = require('../dist/src/cli/main.js');
main(process.argv).then((code) => {
  process.exitCode = code;
});
