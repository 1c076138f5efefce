// Injected latency and failures, decided per API call from the seeded PRNG (or queued for a test), and
// the two that act on the connection itself. Each CRM flavour words its own 429 and 5xx bodies.
import type { Request, Response } from 'express';
import { z } from 'zod';
import type { Prng } from './clock.js';

/** `lost`: the call is applied but its answer is lost (queued with failNext only). */
export type FaultKind = '429' | '500' | 'timeout' | 'lost';

export interface FaultOptions {
  latencyMs: number;
  rate429: number;
  rate500: number;
  rateTimeout: number;
  /** How long a "timeout" fault holds the request before dropping the connection. */
  timeoutHangMs: number;
  /** `Retry-After` (whole seconds) sent with an injected 429; none by default, as HubSpot's is unconfirmed. */
  retryAfterSec?: number | undefined;
  /** Only calls whose path starts with this are affected (default: every API call). */
  pathPrefix?: string | undefined;
}

export const DEFAULT_FAULTS: FaultOptions = {
  latencyMs: 0,
  rate429: 0,
  rate500: 0,
  rateTimeout: 0,
  timeoutHangMs: 10_000,
};

export class FaultInjector {
  private options: FaultOptions;
  private queued: { kind: FaultKind; pathPrefix?: string | undefined }[] = [];

  constructor(
    private readonly initial: FaultOptions,
    private readonly prng: Prng,
  ) {
    this.options = { ...initial };
  }

  configure(options: Partial<FaultOptions>): FaultOptions {
    this.options = { ...this.options, ...options };
    return this.options;
  }

  /** The next `count` matching calls fail with `kind`, before any random fault: deterministic tests. */
  failNext(kind: FaultKind, count = 1, pathPrefix?: string): void {
    for (let i = 0; i < count; i++) this.queued.push({ kind, pathPrefix });
  }

  reset(): void {
    this.options = { ...this.initial };
    this.queued = [];
  }

  get current(): FaultOptions {
    return this.options;
  }

  decide(path: string): FaultKind | undefined {
    const idx = this.queued.findIndex((q) => q.pathPrefix === undefined || path.startsWith(q.pathPrefix));
    if (idx >= 0) {
      const [q] = this.queued.splice(idx, 1);
      return q?.kind;
    }
    const o = this.options;
    if (o.pathPrefix !== undefined && !path.startsWith(o.pathPrefix)) return undefined;
    if (o.rate429 + o.rate500 + o.rateTimeout === 0) return undefined;
    const roll = this.prng.next();
    if (roll < o.rate429) return '429';
    if (roll < o.rate429 + o.rate500) return '500';
    if (roll < o.rate429 + o.rate500 + o.rateTimeout) return 'timeout';
    return undefined;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A `timeout` fault: hold the request, then drop the connection without an answer. */
export async function hangUp(req: Request, holdMs: number): Promise<void> {
  await sleep(holdMs);
  req.socket.destroy();
}

/** A `lost` fault: the call is applied; its answer never reaches the caller (a timeout after the CRM wrote). */
export function loseAnswer(req: Request, res: Response): void {
  res.end = (() => {
    req.socket.destroy();
    return res;
  }) as typeof res.end;
}

/** The admin API's `POST /_sandbox/faults` body, the same for every CRM flavour. */
export const faultsBody = z.object({
  latencyMs: z.number().min(0).optional(),
  rate429: z.number().min(0).max(1).optional(),
  rate500: z.number().min(0).max(1).optional(),
  rateTimeout: z.number().min(0).max(1).optional(),
  timeoutHangMs: z.number().min(0).optional(),
  retryAfterSec: z.number().int().min(0).optional(),
  pathPrefix: z.string().optional(),
  failNext: z
    .object({
      kind: z.enum(['429', '500', 'timeout', 'lost']),
      count: z.number().int().min(1).default(1),
      pathPrefix: z.string().optional(),
    })
    .optional(),
});

/** Applies a parsed faults body: the options given, and the queued failures. */
export function applyFaults(faults: FaultInjector, body: z.infer<typeof faultsBody>): FaultOptions {
  const { failNext, ...rest } = body;
  const options = faults.configure(
    Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined)),
  );
  if (failNext !== undefined) faults.failNext(failNext.kind, failNext.count, failNext.pathPrefix);
  return options;
}
