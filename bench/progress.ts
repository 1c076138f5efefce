// A progress bar for long benchmark runs: on a terminal it redraws one line on stderr; elsewhere it
// prints a line every 10% so CI logs stay short. stdout is left for the JSON result.
export interface Progress {
  tick(done: number): void;
  done(): void;
}

export function progress(label: string, total: number): Progress {
  const tty = process.stderr.isTTY;
  let lastDecile = -1;
  const started = performance.now();
  const draw = (done: number): void => {
    const ratio = total === 0 ? 1 : Math.min(1, done / total);
    if (tty) {
      const width = 30;
      const filled = Math.round(ratio * width);
      const secs = ((performance.now() - started) / 1000).toFixed(1);
      process.stderr.write(
        `\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${secs}s`,
      );
    } else {
      const decile = Math.floor(ratio * 10);
      if (decile !== lastDecile) {
        lastDecile = decile;
        process.stderr.write(`${label}: ${decile * 10}% (${done}/${total})\n`);
      }
    }
  };
  return {
    tick: draw,
    done: () => {
      draw(total);
      if (tty) process.stderr.write('\n');
    },
  };
}
