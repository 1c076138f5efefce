// Validates hubspot-app/ (developer platform 2025.2 project; hubspot.md §1.1, §8.4, §9.1).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { OPTIONAL_SCOPES, REQUIRED_SCOPES } from '../../../connectors/hubspot/oauth.js';
import { appWebhookSubscriptions } from '../../../src/app/webhook-subscriptions.js';

const root = join(process.cwd(), 'hubspot-app');
const read = (path: string): unknown => JSON.parse(readFileSync(join(root, path), 'utf8'));

const url = z.string().url();
const projectSchema = z
  .object({
    name: z.string().min(1),
    srcDir: z.literal('src'),
    platformVersion: z.enum(['2025.2', '2026.03']),
  })
  .strict();
const appSchema = z.object({
  uid: z.string().regex(/^[a-z0-9_-]+$/),
  type: z.literal('app'),
  config: z.object({
    name: z.string().min(1),
    description: z.string().min(1),
    distribution: z.literal('marketplace'),
    auth: z.object({
      type: z.literal('oauth'),
      redirectUrls: z.array(url).min(1),
      requiredScopes: z.array(z.string()).min(1),
      optionalScopes: z.array(z.string()),
      conditionallyRequiredScopes: z.array(z.string()),
    }),
    permittedUrls: z.object({ fetch: z.array(url), iframe: z.array(url), img: z.array(url) }),
    support: z.object({ supportEmail: z.string().email(), documentationUrl: url, supportUrl: url }),
  }),
});
const subscription = z.object({
  subscriptionType: z.string(),
  propertyName: z.string().optional(),
  objectType: z.string().optional(),
  active: z.boolean(),
});
const webhooksSchema = z.object({
  uid: z.string().min(1),
  type: z.literal('webhooks'),
  config: z.object({
    settings: z.object({ targetUrl: url, maxConcurrentRequests: z.number().int().min(5) }),
    subscriptions: z.object({
      crmObjects: z.array(subscription),
      legacyCrmObjects: z.array(subscription),
      hubEvents: z.array(subscription),
    }),
  }),
});

describe('hubspot-app definition', () => {
  const app = appSchema.parse(read('src/app/app-hsmeta.json'));
  const hooks = webhooksSchema.parse(read('src/app/webhooks/webhooks-hsmeta.json'));

  it('hsproject.json is valid', () => {
    expect(() => projectSchema.parse(read('hsproject.json'))).not.toThrow();
  });

  it('scopes match oauth.ts exactly', () => {
    expect([...app.config.auth.requiredScopes].sort()).toEqual([...REQUIRED_SCOPES].sort());
    expect([...app.config.auth.optionalScopes].sort()).toEqual([...OPTIONAL_SCOPES].sort());
  });

  it('sequence scopes are optional, never required (lower tiers must install)', () => {
    expect(app.config.auth.requiredScopes.filter((s) => s.startsWith('automation.sequences'))).toEqual([]);
  });

  it('redirect URLs are https except localhost, and never IP addresses', () => {
    for (const u of app.config.auth.redirectUrls.map((s) => new URL(s))) {
      expect(u.protocol === 'https:' || u.hostname === 'localhost').toBe(true);
      expect(u.hostname).not.toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    }
  });

  it('subscribes to contact creation and owner changes, with the contacts read scope', () => {
    const all = [...hooks.config.subscriptions.crmObjects, ...hooks.config.subscriptions.legacyCrmObjects];
    expect(all).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ subscriptionType: 'contact.creation', active: true }),
      ]),
    );
    expect(all).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          subscriptionType: 'contact.propertyChange',
          propertyName: 'hubspot_owner_id',
        }),
      ]),
    );
    for (const s of all.filter((x) => x.subscriptionType.endsWith('propertyChange'))) {
      expect(s.propertyName).toBeDefined();
      expect(['num_unique_conversion_events', 'hs_lastmodifieddate']).not.toContain(s.propertyName);
    }
    expect(app.config.auth.requiredScopes).toContain('crm.objects.contacts.read');
  });
});

describe('the subscriptions the sandbox is told the app made', () => {
  it('are the declared ones, plus a property change per held property not declared', async () => {
    const subs = await appWebhookSubscriptions(['industry', 'country']);
    const hooks = webhooksSchema.parse(read('src/app/webhooks/webhooks-hsmeta.json'));
    const declared = [
      ...hooks.config.subscriptions.crmObjects,
      ...hooks.config.subscriptions.legacyCrmObjects,
      ...hooks.config.subscriptions.hubEvents,
    ];
    expect(subs.slice(0, declared.length)).toEqual(declared);
    expect(subs.slice(declared.length)).toEqual([
      { subscriptionType: 'contact.propertyChange', propertyName: 'industry' },
    ]);
    expect(subs.map((s) => s.subscriptionType)).not.toContain('object.creation');
  });

  it('a file that is not a webhooks definition is a clear config error', async () => {
    const bad = new URL(`file://${join(root, 'hsproject.json')}`);
    await expect(appWebhookSubscriptions([], bad)).rejects.toThrow(/is not a webhooks definition/);
  });
});
