// What each decision was decided on: the normalized lead and the account it matched, kept beside the
// decision (and deleted with it), so a past lead can be decided again under another rule set or team,
// and the activity view can find leads by email, name or company.
import { z } from 'zod';
import type { Account, Lead } from '../core/types.js';
import type { Db } from './db.js';
import { StorageError } from './errors.js';

export interface DecisionInputs {
  decisionKey: string;
  lead: Lead;
  account: Account | null;
}

/** A decided lead found by the activity search. */
export interface DecidedLead extends DecisionInputs {
  leadId: string;
  decidedAt: number;
}

export interface DecisionSearch {
  /** Matched against email, first and last name, company (substring, any case) and the exact CRM id. */
  text?: string | undefined;
  /** Route name, exactly. */
  route?: string | undefined;
  /** Rep email, exactly. */
  owner?: string | undefined;
  from?: number | undefined;
  to?: number | undefined;
  limit: number;
}

// A multi-value field (its connector gave an array) is kept as its list of values.
const fieldValueSchema = z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(z.string())]);

/** A stored lead as the core's `Lead`: every named field optional, the rest in `fields`. */
export const leadSchema = z.object({
  id: z.string(),
  email: z.string().optional(),
  emailDomain: z.string().optional(),
  firstName: z.string().optional(),
  lastName: z.string().optional(),
  title: z.string().optional(),
  company: z.string().optional(),
  websiteDomain: z.string().optional(),
  country: z.string().optional(),
  state: z.string().optional(),
  postalCode: z.string().optional(),
  city: z.string().optional(),
  employees: z.number().optional(),
  annualRevenue: z.number().optional(),
  industry: z.string().optional(),
  leadSource: z.string().optional(),
  form: z.string().optional(),
  productInterest: z.string().optional(),
  demoRequested: z.boolean().optional(),
  score: z.number().optional(),
  owner: z.string().optional(),
  createdAt: z.number().optional(),
  convertedFrom: z.string().optional(),
  fields: z.record(fieldValueSchema),
}) satisfies z.ZodType<Lead>;

export const accountSchema = z.object({
  id: z.string(),
  name: z.string(),
  domains: z.array(z.string()),
  owner: z.string().optional(),
  type: z.enum(['customer', 'partner', 'prospect', 'other']).optional(),
  contacts: z.number().optional(),
}) satisfies z.ZodType<Account>;

/** The lower-cased text the activity search looks in. */
function searchText(lead: Lead): string {
  return [lead.email, lead.firstName, lead.lastName, lead.company]
    .filter((v) => v !== undefined && v !== '')
    .join(' ')
    .toLowerCase();
}

function parseJson<T>(schema: z.ZodType<T, z.ZodTypeDef, unknown>, text: string, what: string): T {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new StorageError('corrupt', `${what} holds invalid JSON`, { cause: error });
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new StorageError('corrupt', `${what}: ${parsed.error.message}`);
  return parsed.data;
}

interface InputRow {
  decision_key: string;
  lead_id: string;
  decided_at: number | string;
  lead: string;
  account: string | null;
}

const toDecidedLead = (tenantId: string, r: InputRow): DecidedLead => ({
  decisionKey: r.decision_key,
  leadId: r.lead_id,
  decidedAt: Number(r.decided_at),
  lead: parseJson(leadSchema, r.lead, `decision_inputs ${tenantId}/${r.decision_key} lead`),
  account:
    r.account === null
      ? null
      : parseJson(accountSchema, r.account, `decision_inputs ${tenantId}/${r.decision_key} account`),
});

/** Rows per INSERT: far below both engines' bound-parameter limits. */
const ROW_CHUNK = 200;

/**
 * Records what decisions were decided on, in the transaction that commits them (`tx`); the decisions
 * must be written first.
 */
export async function insertDecisionInputsWith(
  tx: Db,
  tenantId: string,
  inputs: readonly DecisionInputs[],
): Promise<void> {
  for (let i = 0; i < inputs.length; i += ROW_CHUNK) {
    const part = inputs.slice(i, i + ROW_CHUNK);
    await tx.run(
      `INSERT INTO decision_inputs (tenant_id, decision_key, lead, account, search)
       VALUES ${part.map(() => '(?, ?, ?, ?, ?)').join(', ')} ON CONFLICT DO NOTHING`,
      part.flatMap((input) => [
        tenantId,
        input.decisionKey,
        JSON.stringify(input.lead),
        input.account === null ? null : JSON.stringify(input.account),
        searchText(input.lead),
      ]),
    );
  }
}

/** Escapes LIKE wildcards so a search for `50%_off` matches those characters. */
function likePattern(text: string): string {
  return `%${text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

export class DecisionInputRepository {
  constructor(private readonly db: Db) {}

  /** The tenant's last `limit` decided leads (first decisions of routing and re-routing), latest first. */
  async recent(tenantId: string, limit: number): Promise<DecidedLead[]> {
    return this.search(tenantId, { limit });
  }

  async search(tenantId: string, query: DecisionSearch): Promise<DecidedLead[]> {
    const where = ['d.tenant_id = ?'];
    const params: (string | number)[] = [tenantId];
    if (query.text !== undefined && query.text.trim() !== '') {
      const text = query.text.trim();
      where.push(`(i.search LIKE ? ESCAPE '\\' OR d.lead_id = ?)`);
      params.push(likePattern(text), text);
    }
    if (query.route !== undefined) {
      where.push('d.route_name = ?');
      params.push(query.route);
    }
    if (query.owner !== undefined) {
      where.push('d.owner = ?');
      params.push(query.owner.toLowerCase());
    }
    if (query.from !== undefined) {
      where.push('d.decided_at >= ?');
      params.push(query.from);
    }
    if (query.to !== undefined) {
      where.push('d.decided_at < ?');
      params.push(query.to);
    }
    const rows = await this.db.all<InputRow>(
      `SELECT d.decision_key, d.lead_id, d.decided_at, i.lead, i.account
       FROM decisions d JOIN decision_inputs i ON i.tenant_id = d.tenant_id AND i.decision_key = d.decision_key
       WHERE ${where.join(' AND ')} ORDER BY d.decided_at DESC, d.id DESC LIMIT ?`,
      [...params, query.limit],
    );
    return rows.map((r) => toDecidedLead(tenantId, r));
  }
}
