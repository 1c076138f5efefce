// Jest's global teardown: after the last suite, name what still keeps the test process alive (a server,
// socket, child process or timer some suite left open). Jest waits for those before it exits, which once
// cost a CI run ten minutes with no hint of the cause; this line is the hint, naming each timer that
// holds the process by its delay and the start of its callback.
import { Session } from 'node:inspector/promises';
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
  // The process's own stdio is not a leak: a Socket, not a WriteStream, when it is piped (`| tail`, CI).
  const stdio = new Set<unknown>([process.stdin, process.stdout, process.stderr]);
  const handles = (getHandles?.call(process) ?? [])
    .filter((h) => !stdio.has(h))
    .map(describe)
    // The terminal and jest's own pipes are not leaks.
    .filter((d) => !/^(WriteStream|ReadStream|Pipe)$/.test(d));
  const resources = process
    .getActiveResourcesInfo()
    .filter((r) => !['TTYWrap', 'PipeWrap', 'FSReqCallback'].includes(r));
  if (handles.length === 0 && resources.length === 0) return;
  const counts = new Map<string, number>();
  for (const r of resources) counts.set(r, (counts.get(r) ?? 0) + 1);
  const timers = counts.has('Timeout') ? await heldTimers() : [];
  process.stderr.write(
    `open after the last test: ${[...counts].map(([r, n]) => `${n} × ${r}`).join(', ')}` +
      (handles.length > 0 ? `; handles: ${handles.join('; ')}` : '') +
      (timers.length > 0 ? `; timers holding the process: ${timers.join('; ')}` : '') +
      '\n',
  );
}

/**
 * The timers that keep this process alive (suites run in band share it), found through the inspector:
 * every live Timeout object, by the prototype they share. Empty when the inspector cannot tell.
 */
async function heldTimers(): Promise<string[]> {
  const session = new Session();
  session.connect();
  try {
    const proto = await session.post('Runtime.evaluate', {
      expression:
        '(() => { const t = setTimeout(() => {}, 1); clearTimeout(t); return Object.getPrototypeOf(t); })()',
    });
    const { objects } = await session.post('Runtime.queryObjects', {
      prototypeObjectId: proto.result.objectId!,
    });
    const described = await session.post('Runtime.callFunctionOn', {
      objectId: objects.objectId!,
      functionDeclaration: `function () {
        return this.filter((t) => !t._destroyed && t.hasRef())
          .map((t) => t._idleTimeout + ' ms: ' + String(t._onTimeout).replace(/\\s+/g, ' ').slice(0, 160));
      }`,
      returnByValue: true,
    });
    return (described.result.value as string[] | undefined) ?? [];
  } catch {
    return [];
  } finally {
    session.disconnect();
  }
}
