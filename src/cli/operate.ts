// `lead-router explain`, `dead-letters`, `tenants` and `frame-origins`: read (and for frame-origins, set)
// what the running app stored.
import { crmProfile } from '../app/crm-profiles.js';
import { explainDecision } from '../core/explain.js';
import type { Team } from '../core/types.js';
import { SUPERSEDED, type Storage } from '../storage/index.js';
import type { Tenant } from '../storage/model.js';
import { isFrameOrigin, tenantFrameOrigins } from '../settings/frame-origins.js';
import { InputError } from './records-file.js';

/** An id as the operator typed it, in the form stored for the tenant's CRM. */
const storedId = (tenant: Tenant, id: string): string => crmProfile(tenant.provider)?.storedId(id) ?? id;
/** "portal", "org": what the tenant's CRM calls it. */
const accountNoun = (tenant: Tenant): string => crmProfile(tenant.provider)?.accountNoun ?? 'account';

/** The tenant a command is about: the one named, or the only one there is. */
export async function pickTenant(storage: Storage, wanted: string | undefined): Promise<Tenant> {
  const tenants = await storage.listTenants();
  if (wanted !== undefined) {
    const tenant = tenants.find((t) => t.id === wanted || t.externalId === storedId(t, wanted));
    if (tenant === undefined)
      throw new InputError(
        `no tenant "${wanted}"; known: ${tenants.map((t) => `${t.id} (${accountNoun(t)} ${t.externalId})`).join(', ') || 'none'}`,
      );
    return tenant;
  }
  const [only, ...rest] = tenants;
  if (only === undefined)
    throw new InputError('no tenant is installed yet: run `npm start` or install the app first');
  if (rest.length > 0)
    throw new InputError(
      `several tenants are installed; name one with --tenant, by its id or its ${[...new Set(tenants.map(accountNoun))].join(' or ')} id: ${tenants
        .map(
          (t) =>
            `${t.id} (${t.provider} ${accountNoun(t)} ${t.externalId}${t.name === null ? '' : `, "${t.name}"`})`,
        )
        .join(', ')}`,
    );
  return only;
}

/** How a lead is looked up: by email, else by its CRM record id as the tenant stores it. */
const leadQuery = (tenant: Tenant, who: string) =>
  who.includes('@') ? { email: who } : { leadId: storedId(tenant, who) };

/**
 * The tenant to explain `who` in: the one named, the only one installed, or else the only one that
 * decided the lead (two demos run in one DATA_DIR, say). Several, or none, still ask for --tenant.
 */
export async function pickLeadTenant(
  storage: Storage,
  wanted: string | undefined,
  who: string,
): Promise<Tenant> {
  const tenants = wanted === undefined ? await storage.listTenants() : [];
  if (tenants.length < 2) return pickTenant(storage, wanted);
  const deciding: Tenant[] = [];
  for (const tenant of tenants)
    if ((await storage.decisionsFor(tenant.id, leadQuery(tenant, who), 1)).length > 0) deciding.push(tenant);
  if (deciding.length === 1) return deciding[0]!;
  if (deciding.length === 0)
    throw new InputError(`no decision recorded for ${who} in any of the ${tenants.length} tenants installed`);
  return pickTenant(storage, undefined);
}

/** Every stored decision for a lead (contact id or email), latest first, with holds still open. */
export async function explainLead(
  storage: Storage,
  tenant: Tenant,
  who: string,
  team: Team,
): Promise<string[]> {
  const decisions = await storage.decisionsFor(tenant.id, leadQuery(tenant, who), 20);
  if (decisions.length === 0) throw new InputError(`no decision recorded for ${who} in tenant ${tenant.id}`);
  const out: string[] = [];
  const leadId = decisions[0]?.leadId ?? who;
  const hold = await storage.activeHold(tenant.id, leadId);
  if (hold !== null) {
    out.push(
      `Held since ${new Date(hold.since).toISOString()} for ${hold.fields.join(', ')} (route "${hold.route}"); decided again when they arrive or at ${new Date(hold.until).toISOString()}`,
      '',
    );
  }
  const steps = await storage.slaTimers.stepsFor(tenant.id, leadId);
  if (steps.length > 0) {
    out.push('SLA steps:');
    for (const s of steps)
      out.push(
        `  ${new Date(s.at).toISOString()} ${s.kind}${s.owner === null ? '' : ` (owner ${s.owner})`}: ${s.detail}${s.status === 'done' ? '' : ` [${s.status}${s.error === null ? '' : `: ${s.error}`}]`}`,
      );
    out.push('');
  }
  for (const record of decisions) {
    const lead = { id: record.leadId, email: record.email ?? undefined, fields: {} };
    const decision = {
      ...record,
      leadId: record.leadId,
      sla: record.sla ?? undefined,
      stateChanges: { pools: {}, reps: {} },
    };
    out.push(explainDecision(decision, lead, team));
    const actions = await storage.actionsForDecision(tenant.id, record.decisionKey);
    for (const a of actions)
      out.push(
        `  ${a.kind}: ${a.status}${a.crmId ? ` (${a.crmId})` : ''}${a.reason ? ` — ${a.reason}` : ''}`,
      );
    out.push('');
  }
  return out;
}

export async function listDeadLetters(storage: Storage, tenant: Tenant): Promise<string[]> {
  const items = await storage.deadLetters(tenant.id);
  if (items.length === 0) return [`no dead letters for tenant ${tenant.id}`];
  return items.map(
    (item) =>
      `#${item.id} ${new Date(item.updatedAt).toISOString()} ${item.event.subscription} object ${item.event.objectId}: ${item.lastError ?? 'no reason recorded'}`,
  );
}

/**
 * Puts dead letters back in the inbox; the worker routes each lead once, repeating only unfinished
 * actions. Ids that are not dead letters of the tenant, and dead letters whose lead was routed again
 * since (a replay would undo that), are answered in `refused`, each with the reason.
 */
export async function replayDeadLetters(
  storage: Storage,
  tenant: Tenant,
  ids: number[],
  now: number,
): Promise<{ queued: string[]; refused: string[] }> {
  const targets = ids.length > 0 ? ids : (await storage.deadLetters(tenant.id)).map((i) => i.id);
  const queued: string[] = [];
  const refused: string[] = [];
  for (const id of targets) {
    const outcome = await storage.replay(tenant.id, id, now);
    if (outcome.status === 'replayed') queued.push(`#${id} queued again`);
    else if (outcome.status === 'superseded')
      refused.push(
        `#${id} not replayed: lead ${outcome.leadId} was ${outcome.reason.slice(SUPERSEDED.length)}; a replay would write the older decision over it`,
      );
    else
      refused.push(
        `#${id} is not a dead letter of tenant ${tenant.id} (see \`lead-router dead-letters list\`)`,
      );
  }
  if (targets.length === 0) queued.push('nothing to replay');
  return { queued, refused };
}

/**
 * One line per tenant: installed, paused and why, or since when uninstalled; its rules, its waiting work.
 */
export async function listTenants(storage: Storage): Promise<string[]> {
  const tenants = await storage.listTenants();
  if (tenants.length === 0) return ['no tenant is installed yet'];
  const lines: string[] = [];
  const at = (ms: number) => new Date(ms).toISOString();
  for (const t of tenants) {
    const state =
      t.uninstalledAt !== null
        ? `uninstalled since ${at(t.uninstalledAt)} (tokens deleted, work paused)`
        : t.pause !== null
          ? `installed, routing paused since ${at(t.pause.since)} (${t.pause.reason}; credentials tried again at ${at(t.pause.checkAt)})`
          : t.hasToken
            ? 'installed'
            : 'not connected (no token)';
    const inbox = await storage.inboxStats(t.id);
    lines.push(
      `${t.id} ${t.provider} ${accountNoun(t)} ${t.externalId}: ${state}; rules ${t.activeRulesetVersion ?? 'none'}; ${inbox.pending} pending, ${inbox.failed} dead letters`,
    );
  }
  return lines;
}

/**
 * The tenant's own framing origins: listed, or replaced by `origins` (`[]` clears them). A value that is
 * not an https origin is refused with its position, and nothing is changed.
 */
export async function frameOrigins(
  storage: Storage,
  tenant: Tenant,
  change: { set: readonly string[] } | null,
  now: number,
): Promise<string[]> {
  if (change !== null) {
    const bad = change.set.findIndex((o) => !isFrameOrigin(o));
    if (bad >= 0)
      throw new InputError(
        `origin ${bad + 1} "${change.set[bad]}" is not an https origin (https://host[:port], no path; e.g. https://acme.lightning.force.com)`,
      );
    const origins = [...new Set(change.set)];
    await storage.updateTenantSettings(tenant.id, { ...tenant.settings, frameOrigins: origins }, now);
    tenant = { ...tenant, settings: { ...tenant.settings, frameOrigins: origins } };
  }
  const origins = tenantFrameOrigins(tenant);
  return origins.length === 0
    ? [`tenant ${tenant.id} has no framing origins of its own (only the deployment's)`]
    : origins;
}
