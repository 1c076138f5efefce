// Effect keys: the right to act on a lead for a purpose, claimed by the first inbox row that asks, so
// a redelivered or replayed event never acts twice.
import type { Db } from './db.js';
import type { EffectClaim } from './model.js';
import { chunk, KEY_CHUNK, marks, ROW_CHUNK } from './shared.js';

export class EffectRepository {
  constructor(private readonly db: Db) {}

  /**
   * Claims the right to act on a lead for a purpose (`route`, `reroute:2`…) before acting: the first
   * inbox row wins; the same row asking again (a retry) is told `mine`; any other row is told `taken`.
   */
  async claimEffect(
    tenantId: string,
    leadId: string,
    purpose: string,
    inboxId: number,
    now: number,
  ): Promise<EffectClaim> {
    const [claim] = await this.claimEffects(tenantId, [{ leadId, purpose, inboxId }], now);
    return claim ?? 'taken';
  }

  /**
   * `claimEffect` for a batch in one transaction, answered in order. When two entries ask for the same
   * key, the first one wins.
   */
  async claimEffects(
    tenantId: string,
    claims: readonly { leadId: string; purpose: string; inboxId: number }[],
    now: number,
  ): Promise<EffectClaim[]> {
    if (claims.length === 0) return [];
    const key = (leadId: string, purpose: string): string => JSON.stringify([leadId, purpose]);
    return this.db.transaction(async (tx) => {
      const inserted = new Set<string>();
      for (const part of chunk(claims, ROW_CHUNK)) {
        const rows = await tx.all<{ lead_id: string; purpose: string }>(
          `INSERT INTO effects (tenant_id, lead_id, purpose, inbox_id, state, claimed_at)
           VALUES ${part.map(() => "(?, ?, ?, ?, 'claimed', ?)").join(', ')}
           ON CONFLICT DO NOTHING RETURNING lead_id, purpose`,
          part.flatMap((c) => [tenantId, c.leadId, c.purpose, c.inboxId, now]),
        );
        for (const r of rows) inserted.add(key(r.lead_id, r.purpose));
      }
      const holders = new Map<string, number>();
      for (const part of chunk([...new Set(claims.map((c) => c.leadId))], KEY_CHUNK)) {
        const rows = await tx.all<{ lead_id: string; purpose: string; inbox_id: number }>(
          `SELECT lead_id, purpose, inbox_id FROM effects WHERE tenant_id = ? AND lead_id IN (${marks(part.length)})`,
          [tenantId, ...part],
        );
        for (const r of rows) holders.set(key(r.lead_id, r.purpose), r.inbox_id);
      }
      return claims.map((c): EffectClaim => {
        const k = key(c.leadId, c.purpose);
        if (holders.get(k) !== c.inboxId) return 'taken';
        // Only the first entry that inserted the key is told `claimed`; a repeat of it is `mine`.
        return inserted.delete(k) ? 'claimed' : 'mine';
      });
    });
  }
}
