// Storage failures, classified once. Expected outcomes of a compare-and-set (someone else moved the
// row first) are NOT errors: those methods return false / a result union instead.

export type StorageErrorKind =
  /** The caller passed something the storage refuses (bad JSON shape, unknown tenant). */
  | 'invalid'
  /** A required configuration is missing (no cipher for tokens, unreachable database). */
  | 'config'
  /** The database stayed locked by another writer longer than we are willing to wait. */
  | 'busy'
  /** A stored value does not parse back: the database was edited by hand or by a newer version. */
  | 'corrupt';

export class StorageError extends Error {
  override readonly name = 'StorageError';
  constructor(
    readonly kind: StorageErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
