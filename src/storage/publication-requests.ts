// Publications waiting for a second admin. A tenant that requires approval does not publish at once: the
// request stores the versions it would make active (as drafts) and the versions its author saw. Another
// admin approves it — the publication then happens in the same transaction, recorded with both names —
// or rejects it. A publication in between makes it stale: approving it would undo someone else's work.
import type { Db } from './db.js';
import { StorageError } from './errors.js';
import {
  storeVersions,
  TenantConfigRepository,
  type Publication,
  type PublishInput,
} from './tenant-config.js';

export type RequestState = 'pending' | 'approved' | 'rejected' | 'stale';

export interface PublicationRequest {
  id: number;
  tenantId: string;
  rulesetVersion: string;
  teamVersion: string | null;
  requestedBy: string;
  requestedAt: number;
  note: string;
  state: RequestState;
  decidedBy: string | null;
  decidedAt: number | null;
  publicationId: number | null;
}

interface RequestRow {
  id: number | string;
  tenant_id: string;
  ruleset_version: string;
  team_version: string | null;
  based_on_ruleset: string | null;
  based_on_team: string | null;
  requested_by: string;
  requested_at: number | string;
  note: string;
  state: RequestState;
  decided_by: string | null;
  decided_at: number | string | null;
  publication_id: number | string | null;
}

const toRequest = (r: RequestRow): PublicationRequest => ({
  id: Number(r.id),
  tenantId: r.tenant_id,
  rulesetVersion: r.ruleset_version,
  teamVersion: r.team_version,
  requestedBy: r.requested_by,
  requestedAt: Number(r.requested_at),
  note: r.note,
  state: r.state,
  decidedBy: r.decided_by,
  decidedAt: r.decided_at === null ? null : Number(r.decided_at),
  publicationId: r.publication_id === null ? null : Number(r.publication_id),
});

export type DecideResult =
  | { status: 'approved'; request: PublicationRequest; publication: Publication }
  | { status: 'rejected'; request: PublicationRequest }
  /** Another publication came in between: the request is marked stale, nothing is published. */
  | { status: 'stale'; request: PublicationRequest }
  | { status: 'not_pending'; request: PublicationRequest }
  | { status: 'own_request'; request: PublicationRequest }
  | { status: 'not_found' };

/** One user named two ways (`Ada@Acme.io`, `ada@acme.io`) is still one user. */
const sameUser = (a: string, b: string): boolean => a.trim().toLowerCase() === b.trim().toLowerCase();

export class PublicationRequestRepository {
  constructor(private readonly db: Db) {}

  /**
   * Stores the versions and a pending request to make them active. `basedOn` and `basedOnTeam` are the
   * active versions the author saw.
   */
  async request(
    tenantId: string,
    input: PublishInput & { basedOn: string | null; basedOnTeam: string | null },
    now: number,
  ): Promise<PublicationRequest> {
    if (input.publishedBy === '') throw new StorageError('invalid', 'a request names who made it');
    return this.db.transaction(async (tx) => {
      await storeVersions(tx, tenantId, input, now);
      const row = await tx.get<RequestRow>(
        `INSERT INTO publication_requests (tenant_id, ruleset_version, team_version, based_on_ruleset,
           based_on_team, requested_by, requested_at, note, state)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending') RETURNING *`,
        [
          tenantId,
          input.rules.version,
          input.team?.version ?? null,
          input.basedOn,
          input.basedOnTeam,
          input.publishedBy,
          now,
          input.note,
        ],
      );
      if (row === undefined) throw new StorageError('corrupt', 'a publication request was not recorded');
      return toRequest(row);
    });
  }

  /** Latest first. */
  async list(tenantId: string, limit = 50): Promise<PublicationRequest[]> {
    return (
      await this.db.all<RequestRow>(
        'SELECT * FROM publication_requests WHERE tenant_id = ? ORDER BY id DESC LIMIT ?',
        [tenantId, limit],
      )
    ).map(toRequest);
  }

  async get(tenantId: string, id: number): Promise<PublicationRequest | null> {
    const row = await this.db.get<RequestRow>(
      'SELECT * FROM publication_requests WHERE tenant_id = ? AND id = ?',
      [tenantId, id],
    );
    return row === undefined ? null : toRequest(row);
  }

  /**
   * Approves (publishing in the same transaction) or rejects a pending request. The author cannot decide
   * their own request; a request that is no longer pending is left as it is (compare-and-set on state).
   */
  async decide(
    tenantId: string,
    id: number,
    decision: 'approve' | 'reject',
    by: string,
    now: number,
  ): Promise<DecideResult> {
    return this.db.transaction(async (tx): Promise<DecideResult> => {
      const row = await tx.get<RequestRow>(
        `SELECT * FROM publication_requests WHERE tenant_id = ? AND id = ?${tx.dialect.rowLock}`,
        [tenantId, id],
      );
      if (row === undefined) return { status: 'not_found' };
      const request = toRequest(row);
      if (request.state !== 'pending') return { status: 'not_pending', request };
      if (decision === 'approve' && sameUser(request.requestedBy, by))
        return { status: 'own_request', request };
      const settle = async (state: RequestState, publicationId: number | null) => {
        const updated = await tx.get<RequestRow>(
          `UPDATE publication_requests SET state = ?, decided_by = ?, decided_at = ?, publication_id = ?
           WHERE tenant_id = ? AND id = ? AND state = 'pending' RETURNING *`,
          [state, by, now, publicationId, tenantId, id],
        );
        if (updated === undefined)
          throw new StorageError('corrupt', `request ${id} changed under its row lock`);
        return toRequest(updated);
      };
      if (decision === 'reject') return { status: 'rejected', request: await settle('rejected', null) };

      const published = await new TenantConfigRepository(tx).publish(
        tenantId,
        {
          rules: { version: row.ruleset_version },
          ...(row.team_version === null ? {} : { team: { version: row.team_version } }),
          publishedBy: row.requested_by,
          approvedBy: by,
          note: row.note,
          basedOn: row.based_on_ruleset,
          basedOnTeam: row.based_on_team,
        },
        now,
      );
      switch (published.status) {
        case 'published':
          return {
            status: 'approved',
            request: await settle('approved', published.publication.id),
            publication: published.publication,
          };
        case 'conflict':
          return { status: 'stale', request: await settle('stale', null) };
        case 'unknown_version':
          throw new StorageError(
            'corrupt',
            `request ${id} names ${published.what} version ${published.version}, which is not stored`,
          );
        default: {
          const never: never = published;
          throw new Error(`unexpected publish result ${String(never)}`);
        }
      }
    });
  }
}
