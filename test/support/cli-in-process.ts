// `lead-router <command>` run in-process, as the README runs it beside `npm start`, with the environment
// variables it reads set for the call only (undefined: unset), and its output lines collected.
import { main } from '../../src/cli/main.js';

export async function cliInProcess(
  env: Record<string, string | undefined>,
  argv: readonly string[],
): Promise<{ code: number; out: string[]; err: string[] }> {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  const set = (values: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(values))
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
  };
  set(env);
  const out: string[] = [];
  const err: string[] = [];
  try {
    const code = await main([...argv], { out: (l) => out.push(l), err: (l) => err.push(l), clock: Date.now });
    return { code, out, err };
  } finally {
    set(saved);
  }
}
