// The webhook subscriptions the app declares in its HubSpot project: in sandbox mode the sandbox CRM
// sends exactly these (as HubSpot sends only what an app subscribed to), plus a property change for each
// field the rule set holds leads for, which an operator adds to that file for their rules.
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { HUBSPOT_PROFILE } from '../../connectors/hubspot/profile.js';
import type { WebhookSubscription } from '../../connectors/sandbox/index.js';
import type { RuleSet } from '../core/types.js';
import { crmPropertiesFor } from '../pipeline/properties.js';
import { ConfigError } from './config.js';

/**
 * The contact properties whose changes can release a held lead: exactly the fields the rule set holds
 * for (what the app's webhook subscriptions for property changes must cover).
 */
export function holdProperties(ruleSet: RuleSet): string[] {
  const fields = ruleSet.routes.flatMap((r) => (r.assign.kind === 'hold' ? r.assign.fields : []));
  return crmPropertiesFor(HUBSPOT_PROFILE.leadFieldProperties, fields);
}

export const APP_WEBHOOKS_FILE = new URL(
  '../../hubspot-app/src/app/webhooks/webhooks-hsmeta.json',
  import.meta.url,
);

const subscription = z.object({
  subscriptionType: z.string().min(1),
  objectType: z.string().optional(),
  propertyName: z.string().optional(),
  active: z.boolean().default(true),
});
const webhooksFile = z.object({
  config: z.object({
    subscriptions: z.object({
      crmObjects: z.array(subscription).default([]),
      legacyCrmObjects: z.array(subscription).default([]),
      hubEvents: z.array(subscription).default([]),
    }),
  }),
});

/** The declared subscriptions, then a `contact.propertyChange` for each held property not among them. */
export async function appWebhookSubscriptions(
  heldProperties: readonly string[],
  file: URL = APP_WEBHOOKS_FILE,
): Promise<WebhookSubscription[]> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new ConfigError(`cannot read the app's webhook subscriptions (${file.pathname}): ${String(error)}`);
  }
  const parsed = webhooksFile.safeParse(json);
  if (!parsed.success)
    throw new ConfigError(`${file.pathname} is not a webhooks definition: ${parsed.error.message}`);
  const { crmObjects, legacyCrmObjects, hubEvents } = parsed.data.config.subscriptions;
  const declared: WebhookSubscription[] = [...crmObjects, ...legacyCrmObjects, ...hubEvents];
  const watched = new Set(
    declared
      .filter((s) => s.active !== false && s.subscriptionType === 'contact.propertyChange')
      .map((s) => s.propertyName),
  );
  const held = heldProperties.filter((p) => !watched.has(p));
  return [...declared, ...held.map((p) => ({ subscriptionType: 'contact.propertyChange', propertyName: p }))];
}
