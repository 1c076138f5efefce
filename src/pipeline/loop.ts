// The worker's loop: lanes that each run passes until stopped, sleeping when a pass found nothing to do
// and woken early when work is enqueued. A pass that throws is logged and the lane goes on: the batch's
// items stay leased and come back through the reaper.
import type { Logger } from '../log.js';
import { InternalFailure, toFailure } from './failures.js';

/** One pass of a lane; returns how many items it handled (none: the lane sleeps). */
export type Pass = (lane: number) => Promise<number>;

export interface LanesOptions {
  /** Lanes running at once. */
  concurrency: number;
  /** How long a lane sleeps after a pass that found nothing. */
  idleMs: number;
  logger: Logger;
  workerId: string;
}

export class Lanes {
  private running = false;
  private lanes: Promise<void>[] = [];
  private readonly sleepers = new Set<() => void>();

  constructor(private readonly opts: LanesOptions) {}

  /** Runs `pass` in every lane until stop(). */
  start(pass: Pass): void {
    if (this.running) return;
    this.running = true;
    this.lanes = Array.from({ length: this.opts.concurrency }, (_, i) => this.run(i, pass));
  }

  /** Cuts the idle sleep short (new work was enqueued). */
  wake(): void {
    for (const wakeUp of [...this.sleepers]) wakeUp();
  }

  /** Lets the passes in flight finish, then resolves. */
  async stop(): Promise<void> {
    this.running = false;
    this.wake();
    await Promise.all(this.lanes);
    this.lanes = [];
  }

  private async run(lane: number, pass: Pass): Promise<void> {
    while (this.running) {
      let handled = 0;
      try {
        handled = await pass(lane);
      } catch (error) {
        const failure = toFailure(error);
        this.opts.logger.error('worker iteration failed', {
          workerId: this.opts.workerId,
          kind: failure.kind,
          error: failure.message,
          stack: failure instanceof InternalFailure ? failure.original.stack : failure.stack,
        });
      }
      if (handled === 0 && this.running) await this.sleep(this.opts.idleMs);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.sleepers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.sleepers.add(done);
    });
  }
}
