// Rotation state: one row per pool and per rep, each with its own version (optimistic concurrency).
import type { PoolState, RepCounters, RoutingState, RoutingStateChanges } from '../core/types.js';
import type { Db } from './db.js';
import {
  poolStateSchema,
  repCountersSchema,
  routingStateSchema,
  type StateVersions,
  type VersionedState,
} from './model.js';
import { casTransaction, readJson, Rollback, validate } from './shared.js';

/** A rotation entry: one row of `rotation_state`. */
type EntryKind = 'pool' | 'rep';
interface Entry {
  key: string;
  kind: EntryKind;
  name: string;
  value: PoolState | RepCounters;
}

const entryKey = (kind: EntryKind, name: string): string => `${kind}:${name}`;

function entriesOf(changes: RoutingStateChanges): Entry[] {
  return [
    ...Object.entries(changes.pools).map(([name, value]): Entry => ({
      key: entryKey('pool', name),
      kind: 'pool',
      name,
      value,
    })),
    ...Object.entries(changes.reps).map(([name, value]): Entry => ({
      key: entryKey('rep', name),
      kind: 'rep',
      name,
      value,
    })),
  ];
}

/** The version an entry had when the caller loaded the state; 0 when it was not stored yet. */
function expectedVersion(expected: StateVersions, e: Entry): number {
  const versions = e.kind === 'pool' ? expected.pools : expected.reps;
  return Object.hasOwn(versions, e.name) ? (versions[e.name] ?? 0) : 0;
}

export class RotationRepository {
  constructor(private readonly db: Db) {}

  /** The tenant's rotation and each entry's version; read once per batch of decisions. */
  async loadRoutingState(tenantId: string): Promise<VersionedState> {
    const rows = await this.db.all<{ kind: EntryKind; name: string; state: string; version: number }>(
      'SELECT kind, name, state, version FROM rotation_state WHERE tenant_id = ?',
      [tenantId],
    );
    const state: RoutingState = { pools: {}, reps: {} };
    const versions: StateVersions = { pools: {}, reps: {} };
    for (const r of rows) {
      const column = `rotation_state.state of ${r.kind} ${r.name} (tenant ${tenantId})`;
      if (r.kind === 'pool') {
        state.pools[r.name] = readJson(r.state, column, poolStateSchema);
        versions.pools[r.name] = r.version;
      } else {
        state.reps[r.name] = readJson(r.state, column, repCountersSchema);
        versions.reps[r.name] = r.version;
      }
    }
    return { state, versions };
  }

  /**
   * Writes the given entries (each replaces the stored one; entries not named are left alone) if none of
   * them moved since `expected` was loaded. False means nothing was written: load again and re-decide.
   */
  async saveRoutingState(
    tenantId: string,
    changes: RoutingState,
    expected: StateVersions,
    now: number,
  ): Promise<boolean> {
    const valid = validate(routingStateSchema, changes, 'routing state');
    return casTransaction(
      this.db,
      async (tx) => (await this.applyWith(tx, tenantId, [valid], expected, now)) === 1,
      () => false,
    );
  }

  /**
   * Applies rotation change sets in order inside `tx` (the caller's transaction), each a compare-and-set of the entries it names
   * against the versions the caller decided from (`expected`; a set later in the list was decided on top
   * of the earlier ones, so an entry an earlier set wrote is checked against that). Stops at the first
   * set that finds an entry moved, and returns how many sets it applied. Checking only the entries a
   * decision changed is enough: a decision always writes the pool whose turn it took and the rep it
   * chose, and the entries it only read (other reps' counters) can only have grown meanwhile, which
   * leaves its choice standing (a rep at its cap stays there; a less loaded rep stays less loaded).
   * The entries are read first in one statement, in key order and (PostgreSQL) locked, so concurrent
   * commits queue on the entries they share instead of deadlocking; then each entry is written once,
   * with its last value.
   */
  async applyWith(
    tx: Db,
    tenantId: string,
    sets: readonly RoutingStateChanges[],
    expected: StateVersions,
    now: number,
  ): Promise<number> {
    const named = new Map<string, Entry>();
    for (const set of sets) for (const e of entriesOf(set)) named.set(e.key, e);
    if (named.size === 0) return sets.length;
    const list = [...named.values()];
    const rows = await tx.all<{ kind: EntryKind; name: string; version: number }>(
      `SELECT kind, name, version FROM rotation_state
       WHERE tenant_id = ? AND (${list.map(() => '(kind = ? AND name = ?)').join(' OR ')})
       ORDER BY kind, name${tx.dialect.rowLock}`,
      [tenantId, ...list.flatMap((e) => [e.kind, e.name])],
    );
    const stored = new Map(rows.map((r) => [entryKey(r.kind, r.name), r.version]));
    const writes = new Map<string, { entry: Entry; from: number; to: number }>();
    let applied = 0;
    for (const set of sets) {
      const entries = entriesOf(set);
      const moved = entries.some(
        (e) => !writes.has(e.key) && (stored.get(e.key) ?? 0) !== expectedVersion(expected, e),
      );
      if (moved) break;
      for (const e of entries) {
        const from = stored.get(e.key) ?? 0;
        const w = writes.get(e.key) ?? { entry: e, from, to: from };
        w.entry = e;
        w.to += 1;
        writes.set(e.key, w);
      }
      applied += 1;
    }
    // One statement for the new entries and one for the stored ones (a commit names a pool and a rep
    // per decision: one statement each was a round trip each on PostgreSQL).
    const all = [...writes.values()];
    const inserts = all.filter((w) => w.from === 0);
    const updates = all.filter((w) => w.from !== 0);
    if (inserts.length > 0) {
      const r = await tx.run(
        `INSERT INTO rotation_state (tenant_id, kind, name, state, version, updated_at)
         VALUES ${inserts.map(() => '(?, ?, ?, ?, ?, ?)').join(', ')} ON CONFLICT DO NOTHING`,
        inserts.flatMap(({ entry, to }) => [
          tenantId,
          entry.kind,
          entry.name,
          JSON.stringify(entry.value),
          to,
          now,
        ]),
      );
      // Another commit inserted one of them since our read.
      if (r.changes !== inserts.length) throw new Rollback();
    }
    if (updates.length > 0) {
      // Typed in every row: PostgreSQL infers a VALUES list's column types from untyped parameters.
      const r = await tx.run(
        `WITH written (kind, name, state, version_from, version_to) AS (
           VALUES ${updates.map(() => '(CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS BIGINT))').join(', ')})
         UPDATE rotation_state SET state = written.state, version = written.version_to, updated_at = ?
         FROM written
         WHERE rotation_state.tenant_id = ? AND rotation_state.kind = written.kind
           AND rotation_state.name = written.name AND rotation_state.version = written.version_from`,
        [
          ...updates.flatMap(({ entry, from, to }) => [
            entry.kind,
            entry.name,
            JSON.stringify(entry.value),
            from,
            to,
          ]),
          now,
          tenantId,
        ],
      );
      // Held by the read above (locked on PostgreSQL, one writer on SQLite): each stored entry moves.
      if (r.changes !== updates.length) throw new Rollback();
    }
    return applied;
  }
}
