// An append-only log of every change a sandbox CRM applies, so tests and benchmarks can assert "exactly
// once" (one owner set, one task...). Each CRM flavour states its own record shape.

export interface LogRecord {
  seq: number;
}

/** Scalar fields of a record that `list` can filter on by equality. */
export type LogFilter<R> = { [K in keyof R]?: R[K] extends string | number ? R[K] | undefined : never };

export class WriteLog<R extends LogRecord> {
  private records: R[] = [];
  /** Told every record appended and every clear, when the sandbox keeps its data in a file. */
  journal: ((change: { record: R } | { cleared: true }) => void) | undefined;

  append(record: Omit<R, 'seq'>): R {
    // The spread of Omit<R, 'seq'> plus seq is R; TypeScript cannot see it through the generic.
    const full = { seq: this.records.length + 1, ...record } as unknown as R;
    this.records.push(full);
    this.journal?.({ record: full });
    return full;
  }

  /** Records kept from an earlier run (in order); no journal entries. */
  restore(records: readonly R[]): void {
    this.records.push(...records);
  }

  list(filter: LogFilter<R> = {}): R[] {
    const wanted = Object.entries(filter).filter(([, v]) => v !== undefined);
    if (wanted.length === 0) return [...this.records];
    return this.records.filter((r) => wanted.every(([k, v]) => (r as Record<string, unknown>)[k] === v));
  }

  clear(): void {
    this.records = [];
    this.journal?.({ cleared: true });
  }
}
