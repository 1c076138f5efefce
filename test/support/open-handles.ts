// Jest's global teardown: after the last suite, name what still keeps the test process alive (a server,
// socket, child process or timer some suite left open). Jest waits for those before it exits, which once
// cost a CI run ten minutes with no hint of the cause; this line is the hint.
interface Described {
  constructor?: { name?: string };
  remoteAddress?: string;
  remotePort?: number;
  localPort?: number;
  spawnargs?: string[];
  address?: () => unknown;
}

function describe(handle: Described): string {
  const kind = handle.constructor?.name ?? 'unknown';
  if (handle.spawnargs !== undefined) return `${kind} ${handle.spawnargs.join(' ')}`;
  if (handle.remotePort !== undefined) return `${kind} → ${handle.remoteAddress}:${handle.remotePort}`;
  if (handle.localPort !== undefined) return `${kind} from :${handle.localPort}`;
  if (typeof handle.address === 'function') return `${kind} on ${JSON.stringify(handle.address())}`;
  return kind;
}

export default async function reportOpenHandles(): Promise<void> {
  // What a suite closed in its last moments is still closing: only what outlives a short wait counts.
  // The wait itself must hold the process: jest writes its --json results after this teardown.
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  const getHandles = (process as unknown as { _getActiveHandles?: () => Described[] })._getActiveHandles;
  const handles = (getHandles?.call(process) ?? [])
    .map(describe)
    // The terminal and jest's own pipes are not leaks.
    .filter((d) => !/^(WriteStream|ReadStream|Pipe)$/.test(d));
  const resources = process
    .getActiveResourcesInfo()
    .filter((r) => !['TTYWrap', 'PipeWrap', 'FSReqCallback'].includes(r));
  if (handles.length === 0 && resources.length === 0) return;
  const counts = new Map<string, number>();
  for (const r of resources) counts.set(r, (counts.get(r) ?? 0) + 1);
  process.stderr.write(
    `open after the last test: ${[...counts].map(([r, n]) => `${n} × ${r}`).join(', ')}` +
      (handles.length > 0 ? `; handles: ${handles.join('; ')}` : '') +
      '\n',
  );
}
