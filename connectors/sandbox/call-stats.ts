// Counts the API calls each portal made, by kind, and every 429 by cause: the portal's real rate budget
// (what a router must never exceed) versus faults injected for tests. Benchmarks and the scale tests
// read it instead of guessing from the outside.

/** What a call is, by method and path shape (ids replaced). */
export function callKind(method: string, path: string): string {
  const p = path.replace(/\/\d+(?=\/|$)/g, '/:id').replace(/\/$/, '');
  return KNOWN_CALLS[`${method} ${p}`] ?? `${method} ${p}`;
}

const KNOWN_CALLS: Record<string, string> = {
  'POST /crm/v3/objects/contacts/batch/read': 'contacts.read',
  'POST /crm/v3/objects/contacts/batch/update': 'owner.batch',
  'POST /crm/v3/objects/tasks/batch/create': 'task.batch',
  'POST /crm/v3/objects/notes/batch/create': 'note.batch',
  'POST /crm/v3/objects/companies/search': 'company.search',
  'POST /automation/v4/sequences/enrollments': 'enroll',
  'GET /crm/v3/owners': 'owners',
  'GET /automation/v4/sequences': 'sequences',
};

export interface PortalCallStats {
  /** Calls let through to the API, by kind (their own answer may still be an error). */
  accepted: Record<string, number>;
  /** 429s because the portal's budget was spent, by HubSpot policy name (TEN_SECONDLY_ROLLING, …). */
  rateLimited: Record<string, number>;
  /** Faults injected by the sandbox (429, 500, timeout), by kind. */
  injected: Record<string, number>;
}

const bump = (r: Record<string, number>, key: string): void => {
  r[key] = (r[key] ?? 0) + 1;
};

export class CallStats {
  private readonly portals = new Map<number, PortalCallStats>();

  private stats(portalId: number): PortalCallStats {
    let s = this.portals.get(portalId);
    if (s === undefined) {
      s = { accepted: {}, rateLimited: {}, injected: {} };
      this.portals.set(portalId, s);
    }
    return s;
  }

  accepted(portalId: number, kind: string): void {
    bump(this.stats(portalId).accepted, kind);
  }

  rateLimited(portalId: number, policy: string): void {
    bump(this.stats(portalId).rateLimited, policy);
  }

  injected(portalId: number, fault: string): void {
    bump(this.stats(portalId).injected, fault);
  }

  /** A copy of one portal's counts (all zero when it made no call). */
  forPortal(portalId: number): PortalCallStats {
    const s = this.portals.get(portalId);
    return {
      accepted: { ...s?.accepted },
      rateLimited: { ...s?.rateLimited },
      injected: { ...s?.injected },
    };
  }

  reset(): void {
    this.portals.clear();
  }
}

export const totalCalls = (r: Record<string, number>): number => Object.values(r).reduce((a, b) => a + b, 0);
