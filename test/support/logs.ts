// A logger whose JSON lines a test reads: as written (`lines`) or parsed (`records()`).
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/log.js';

export interface CapturedLogs {
  logger: Logger;
  /** Each log line as written, in order. */
  lines: string[];
  /** The lines parsed. */
  records: () => Record<string, unknown>[];
}

export function capturingLogger(level = 'info'): CapturedLogs {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _enc, done) {
      lines.push(
        ...String(chunk)
          .split('\n')
          .filter((l) => l !== ''),
      );
      done();
    },
  });
  return {
    logger: createLogger({ level, stream }),
    lines,
    records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}
