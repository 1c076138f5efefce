// Rejected requests are logged in aggregate: anonymous traffic must not be able to flood the log (1,000
// junk requests were 1,000 lines). Per reason, the first few of a window are logged in full; the rest
// are counted and logged as one summary line per reason when the window closes.
import type { Logger } from '../log.js';

/** Rejections per reason logged in full in each window. */
export const FULL_PER_WINDOW = 5;
/** How long a window lasts before its summary is logged. */
export const WINDOW_MS = 60_000;

export class RejectionLog {
  private readonly counts = new Map<string, { logged: number; more: number }>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly options: { fullPerWindow?: number; windowMs?: number } = {},
  ) {}

  /** One rejected request: logged in full while its reason is under the window's allowance. */
  reject(message: string, reason: string, fields: Record<string, unknown> = {}): void {
    const key = `${message}\u0000${reason}`;
    const seen = this.counts.get(key) ?? { logged: 0, more: 0 };
    this.counts.set(key, seen);
    if (seen.logged < (this.options.fullPerWindow ?? FULL_PER_WINDOW)) {
      seen.logged += 1;
      this.logger.warn(message, { reason, ...fields });
    } else {
      seen.more += 1;
    }
    // The window starts with its first rejection; an idle server keeps no timer.
    if (this.timer === undefined) {
      this.timer = setTimeout(() => this.flush(), this.options.windowMs ?? WINDOW_MS);
      this.timer.unref();
    }
  }

  /** Logs one summary line per reason with rejections beyond the allowance, and starts a new window. */
  flush(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    for (const [key, { more }] of this.counts) {
      if (more === 0) continue;
      const [message = '', reason = ''] = key.split('\u0000');
      this.logger.warn(`${message} (summary)`, {
        reason,
        notLoggedInFull: more,
        windowMs: this.options.windowMs ?? WINDOW_MS,
      });
    }
    this.counts.clear();
  }
}
