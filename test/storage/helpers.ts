// Shared factories and engines for the storage tests. PostgreSQL tests run against the local server
// (TEST_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test) in a fresh schema each; when it
// cannot be reached they are skipped with a printed reason, or fail under CI (test/support/services.ts).
import { randomBytes } from 'node:crypto';
import type { CrmEvent } from '../../connectors/connector.js';
import { Keyring } from '../../connectors/shared/crypto.js';
import type { Action, Decision, RoutingState } from '../../src/core/types.js';
import { openStorage, type Cipher, type Db, type NewTenant, type Storage } from '../../src/storage/index.js';
import { openPgDb } from '../../src/storage/pg-db.js';
import { openSqliteDb } from '../../src/storage/sqlite-db.js';
import { createPgSchema, describeNeeding, PG_URL, type SuiteFn } from '../support/services.js';

export { createPgSchema, describeNeeding, PG_URL, type PgSchema } from '../support/services.js';

export const T0 = Date.UTC(2026, 0, 5, 9, 0, 0);

/** The real keyring, under a key of the test run's own. */
export const testCipher: Cipher = new Keyring(randomBytes(32));

export interface Engine {
  name: 'sqlite' | 'postgres';
  /** Opens a fresh, empty storage; `close` closes it and removes what it created. */
  open(): Promise<{ storage: Storage; close(): Promise<void> }>;
  /** Opens a fresh, empty database without migrating it. */
  openDb(): Promise<{ db: Db; close(): Promise<void> }>;
}

export const sqliteMemory: Engine = {
  name: 'sqlite',
  open: async () => {
    const storage = await openStorage({ file: ':memory:', cipher: testCipher, now: () => T0 });
    return { storage, close: () => storage.close() };
  },
  openDb: () => {
    const db = openSqliteDb(':memory:');
    return Promise.resolve({ db, close: () => db.close() });
  },
};

export const postgres: Engine = {
  name: 'postgres',
  open: async () => {
    const schema = await createPgSchema();
    const storage = await openStorage({
      url: PG_URL,
      schema: schema.name,
      cipher: testCipher,
      now: () => T0,
    });
    return {
      storage,
      close: async () => {
        await storage.close();
        await schema.drop();
      },
    };
  },
  openDb: async () => {
    const schema = await createPgSchema();
    const db = openPgDb(PG_URL, { schema: schema.name });
    return {
      db,
      close: async () => {
        await db.close();
        await schema.drop();
      },
    };
  },
};

/** The engines to run the contract suite on, each with the `describe` its services allow. */
export const ENGINES: [string, Engine, SuiteFn][] = [
  ['sqlite', sqliteMemory, describe],
  ['postgres', postgres, describeNeeding(['postgres'])],
];

let seq = 0;
export function makeEvent(overrides: Partial<CrmEvent> = {}): CrmEvent {
  seq += 1;
  return {
    eventId: `evt-${seq}`,
    subscription: 'contact.creation',
    kind: 'created',
    objectId: `lead-${seq}`,
    occurredAt: T0,
    ...overrides,
  };
}

export function makeState(turn = 1): RoutingState {
  return {
    pools: { 'emea-ae': { turn, lastTurn: { 'ada@acme.io': turn } } },
    reps: {
      'ada@acme.io': {
        dayKey: '2026-01-05',
        day: turn,
        weekKey: '2026-W02',
        week: turn,
        recent: [T0],
        open: 1,
      },
    },
  };
}

export const ownerAction: Action = { kind: 'set_owner', email: 'ada@acme.io' };
export const taskAction: Action = {
  kind: 'create_task',
  subject: 'Demo request from Acme',
  body: 'rule 2 matched',
  dueAt: T0 + 15 * 60_000,
  priority: 'high',
  assignee: 'ada@acme.io',
};

export function makeDecision(overrides: Partial<Decision> = {}): Decision {
  return {
    leadId: 'lead-1',
    ruleSet: { name: 'saas-inbound', version: 'v1hash' },
    decidedAt: T0,
    route: { index: 1, name: 'Enterprise demo requests in DACH' },
    destination: { kind: 'rep', email: 'ada@acme.io' },
    actions: [ownerAction, taskAction],
    sla: { firstTouchBy: T0 + 10 * 60_000, onBreach: { kind: 'reroute' } },
    trace: { routes: [], assignments: [], steps: ['pool emea-ae → ada@acme.io'] },
    stateChanges: makeState(1),
    ...overrides,
  };
}

export async function addTenant(
  storage: Storage,
  id: string,
  provider: NewTenant['provider'] = 'sandbox',
): Promise<void> {
  await storage.createTenant({ id, provider, externalId: `portal-${id}`, name: `Tenant ${id}` }, T0);
}
