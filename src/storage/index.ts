// Opens the storage: PostgreSQL when a URL is given (DATABASE_URL), else a SQLite file (./data/ by
// default, `:memory:` for tests). The schema is migrated on open.
import { join } from 'node:path';
import type { Db } from './db.js';
import { StorageError } from './errors.js';
import type { Cipher } from './model.js';
import { openPgDb } from './pg-db.js';
import { migrate } from './schema.js';
import { openSqliteDb } from './sqlite-db.js';
import { Storage } from './storage.js';

export const DEFAULT_SQLITE_FILE = join('data', 'lead-router.sqlite');

export interface OpenStorageOptions {
  /** `postgres://…` or `postgresql://…`; takes precedence over `file`. */
  url?: string | undefined;
  /** SQLite file path or `:memory:`; default ./data/lead-router.sqlite. */
  file?: string | undefined;
  cipher?: Cipher | undefined;
  /** PostgreSQL schema (default: the connection's search_path). */
  schema?: string | undefined;
  /** Clock for the migration record only; all other operations take `now` explicitly. */
  now?: (() => number) | undefined;
}

export async function openStorage(options: OpenStorageOptions = {}): Promise<Storage> {
  let db: Db;
  if (options.url !== undefined && options.url !== '') {
    if (!/^postgres(ql)?:\/\//.test(options.url)) {
      throw new StorageError('config', 'database URL must start with postgres:// or postgresql://');
    }
    db = openPgDb(options.url, { schema: options.schema });
  } else {
    db = openSqliteDb(options.file ?? DEFAULT_SQLITE_FILE);
  }
  try {
    await migrate(db, (options.now ?? Date.now)());
  } catch (error) {
    await db.close();
    throw error;
  }
  return new Storage(db, { cipher: options.cipher });
}

export { Storage } from './storage.js';
export { StorageError } from './errors.js';
export { ReportRepository, type ReportWindow } from './reports.js';
export {
  STREAM_ERROR_MAX,
  STREAM_FAILING_GRACE_MS,
  STREAM_MISSED_RECENT_MS,
  StreamRepository,
  streamFailure,
  streamSilence,
  type PulledChannel,
  type StreamAdvance,
  type StreamCursor,
  type StreamLease,
  type StreamMissed,
  type StreamState,
  type StreamSubscription,
} from './streams.js';
export type { StorageErrorKind } from './errors.js';
export type { Db, Dialect, SqlParam } from './db.js';
export * from './model.js';
export {
  TenantConfigRepository,
  type Publication,
  type PublishInput,
  type PublishResult,
  type TeamVersion,
} from './tenant-config.js';
export {
  PublicationRequestRepository,
  type DecideResult,
  type PublicationRequest,
  type RequestState,
} from './publication-requests.js';
export {
  DecisionInputRepository,
  type DecidedLead,
  type DecisionInputs,
  type DecisionSearch,
} from './decision-inputs.js';
export { TenantHealthRepository, type FailedAction } from './tenant-health.js';
export { SUPERSEDED, type ReplayOutcome } from './inbox.js';
export {
  CrmCallRepository,
  CRM_CALL_OUTCOMES,
  MINUTE_MS,
  type CrmCallCount,
  type CrmCallOutcomeKind,
  type CrmCallTotals,
} from './crm-calls.js';
export {
  BulkJobRepository,
  bulkSubscription,
  BULK_SUBSCRIPTION_PREFIX,
  bulkParamsSchema,
  type BulkJob,
  type BulkKind,
  type BulkParams,
  type BulkProgress,
  type BulkState,
  type PreviewRow,
} from './bulk-jobs.js';
