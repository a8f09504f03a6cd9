import { runCli } from './program.ts';

const code = await runCli(process.argv.slice(2));
// Long-running verbs (start) keep the event loop alive themselves; one-shots exit now.
process.exitCode = code;
