// A progress bar with an ETA for long operator commands (backfill, reassign) and the benches: on a
// terminal it redraws one line; elsewhere (a log, CI) it prints a plain line every 10% so logs stay
// short. It writes to the stream it is given (stderr), leaving stdout for results.
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean | undefined;
}

export interface Progress {
  /** `total` may grow while the work is still being listed; while it is 0, nothing is drawn. */
  tick(done: number, total?: number): void;
  done(): void;
}

/** Seconds left at the pace so far; undefined before there is a pace to judge by. */
export function etaSeconds(done: number, total: number, elapsedMs: number): number | undefined {
  if (done <= 0 || elapsedMs <= 0 || total <= done) return total <= done ? 0 : undefined;
  return ((total - done) / done) * (elapsedMs / 1000);
}

export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export function progressBar(
  label: string,
  initialTotal: number,
  stream: ProgressStream = process.stderr,
  now: () => number = () => performance.now(),
): Progress {
  const tty = stream.isTTY === true;
  const started = now();
  let total = initialTotal;
  let last = 0;
  let lastDecile = -1;
  const draw = (done: number): void => {
    last = done;
    // Nothing counted yet (the work is still being listed), or nothing to do: no share of it is done,
    // and a bar would say 100% of 0. The command's result line says what there was.
    if (total === 0) return;
    const ratio = Math.min(1, done / total);
    const elapsed = now() - started;
    const eta = etaSeconds(done, total, elapsed);
    const etaText = eta === undefined ? 'ETA --' : `ETA ${formatDuration(eta)}`;
    if (tty) {
      const width = 30;
      const filled = Math.round(ratio * width);
      stream.write(
        `\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${formatDuration(elapsed / 1000)} ${etaText} `,
      );
    } else {
      const decile = Math.floor(ratio * 10);
      if (decile !== lastDecile) {
        lastDecile = decile;
        stream.write(`${label}: ${decile * 10}% (${done}/${total}) ${etaText}\n`);
      }
    }
  };
  return {
    tick: (done, newTotal) => {
      if (newTotal !== undefined) total = newTotal;
      draw(done);
    },
    done: () => {
      draw(Math.max(last, total));
      if (tty && total > 0) stream.write('\n');
    },
  };
}
