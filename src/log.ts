// Structured JSON logs (winston). Callers pass tenant and lead ids as fields; secrets never reach a log:
// any field whose name looks like a credential is replaced before the line is written.
import winston from 'winston';

const SECRET_KEY = /(token|secret|password|authorization|api[-_]?key|code_verifier|signature|^code$)/i;

/** Replaces credential-looking fields, at any depth, with "[redacted]". */
export function redact(value: unknown, depth = 0): unknown {
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value))
    out[k] = SECRET_KEY.test(k) ? '[redacted]' : redact(v, depth + 1);
  return out;
}

const redactFormat = winston.format((info) => {
  for (const key of Object.keys(info)) {
    if (SECRET_KEY.test(key)) info[key] = '[redacted]';
    else info[key] = redact(info[key]);
  }
  return info;
});

export type Logger = winston.Logger;

export function createLogger(
  options: { level?: string; stream?: NodeJS.WritableStream; silent?: boolean } = {},
): Logger {
  return winston.createLogger({
    level: options.level ?? process.env.LOG_LEVEL ?? 'info',
    silent: options.silent ?? false,
    format: winston.format.combine(redactFormat(), winston.format.timestamp(), winston.format.json()),
    transports: [
      options.stream === undefined
        ? new winston.transports.Stream({ stream: process.stderr })
        : new winston.transports.Stream({ stream: options.stream }),
    ],
  });
}
