#!/usr/bin/env node
// The CLI runs the TypeScript sources through tsx, so a clone needs no build step.
import { register } from 'tsx/esm/api';

// A reader that stops early (`lead-router explain … | head`) closes the pipe: end quietly, as other
// command-line tools do, instead of with a stack. Any other output error is still an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
