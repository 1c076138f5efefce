// Every change the sandbox applies, so tests can assert "exactly once" (one owner set, one task...).

export type WriteKind =
  | 'contact.created'
  | 'contact.updated'
  | 'owner.set'
  | 'company.created'
  | 'company.updated'
  | 'task.created'
  | 'note.created'
  | 'association.created'
  | 'enrollment.created';

/** Who caused the write: the app through the API, a seeded import, the contact generator, the admin API. */
export type WriteSource = 'api' | 'import' | 'generator' | 'admin';

export interface WriteRecord {
  seq: number;
  portalId: number;
  kind: WriteKind;
  objectId: string;
  at: number;
  source: WriteSource;
  details: Record<string, string>;
}

export interface WriteFilter {
  portalId?: number | undefined;
  kind?: WriteKind | undefined;
  objectId?: string | undefined;
  source?: WriteSource | undefined;
}

export class WriteLog {
  private records: WriteRecord[] = [];

  append(record: Omit<WriteRecord, 'seq'>): WriteRecord {
    const full = { seq: this.records.length + 1, ...record };
    this.records.push(full);
    return full;
  }

  list(filter: WriteFilter = {}): WriteRecord[] {
    return this.records.filter(
      (r) =>
        (filter.portalId === undefined || r.portalId === filter.portalId) &&
        (filter.kind === undefined || r.kind === filter.kind) &&
        (filter.objectId === undefined || r.objectId === filter.objectId) &&
        (filter.source === undefined || r.source === filter.source),
    );
  }

  clear(): void {
    this.records = [];
  }
}
