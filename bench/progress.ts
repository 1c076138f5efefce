// Benchmarks show the operator commands' progress bar (TTY-aware, on stderr); stdout is left for the
// JSON result.
import { progressBar, type Progress } from '../src/cli/progress.js';

export type { Progress };

export function progress(label: string, total: number): Progress {
  return progressBar(label, total);
}
