// The HubSpot project (hubspot-app/ templates, generated for a public URL) against the developer
// platform 2026.03 app configuration reference (hubspot.md §1.1, §8.4, §9.1) and the app card and
// settings page references: every field the docs require, the URLs that must match PUBLIC_URL, the UI
// extensions shipped with their entrypoints, and no example or localhost URL in a production project.
import { cp, mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OPTIONAL_SCOPES, REQUIRED_SCOPES } from '../../../connectors/hubspot/oauth.js';
import { ConfigError } from '../../../src/app/config.js';
import {
  appSchema,
  buildHubSpotProject,
  cardSchema,
  extensionPackageSchema,
  JSON_FILES,
  PLATFORM_VERSION,
  PROJECT_FILES,
  projectSchema,
  settingsSchema,
  SOURCE_FILES,
  TEMPLATE_DIR,
  validateProjectFile,
  webhooksSchema,
  writeHubSpotProject,
} from '../../../src/app/hubspot-project.js';
import { main } from '../../../src/cli/main.js';
import { CALLBACK_PATH, WEBHOOK_PATH } from '../../../src/server/index.js';
import { SETUP_GUIDE_PATH } from '../../../src/server/setup-guide.js';

const PUBLIC_URL = 'https://router.acme-sales.example';
const build = (over: Partial<Parameters<typeof buildHubSpotProject>[0]> = {}) =>
  buildHubSpotProject({ publicUrl: PUBLIC_URL, supportEmail: 'help@acme-sales.example', ...over });

describe('the HubSpot project generated for a public URL', () => {
  it('is platform 2026.03 and valid against every field the reference requires', async () => {
    const files = await build();
    expect(projectSchema.parse(files['hsproject.json']).platformVersion).toBe('2026.03');
    expect(PLATFORM_VERSION).toBe('2026.03');
    expect(() => appSchema.parse(files['src/app/app-hsmeta.json'])).not.toThrow();
    expect(() => webhooksSchema.parse(files['src/app/webhooks/webhooks-hsmeta.json'])).not.toThrow();
  });

  it('points redirect, webhook target, permitted fetch URL and support pages at the public URL only', async () => {
    const files = await build({ publicUrl: `${PUBLIC_URL}/` });
    const app = appSchema.parse(files['src/app/app-hsmeta.json']);
    const hooks = webhooksSchema.parse(files['src/app/webhooks/webhooks-hsmeta.json']);
    expect(app.config.auth.redirectUrls).toEqual([PUBLIC_URL + CALLBACK_PATH]);
    expect(hooks.config.settings.targetUrl).toBe(PUBLIC_URL + WEBHOOK_PATH);
    expect(app.config.permittedUrls.fetch).toEqual([PUBLIC_URL]);
    expect(app.config.permittedUrls.iframe).toEqual([PUBLIC_URL]);
    expect(app.config.support.supportUrl).toBe(PUBLIC_URL + SETUP_GUIDE_PATH);
    expect(app.config.support.documentationUrl).toBe(PUBLIC_URL + SETUP_GUIDE_PATH);
    expect(app.config.support.supportEmail).toBe('help@acme-sales.example');
    const text = JSON.stringify(files);
    expect(text).not.toMatch(/localhost|app\.example\.com|\{\{[A-Z_]+\}\}/);
  });

  it('adds a localhost redirect only in the development variant', async () => {
    const app = appSchema.parse((await build({ developmentPort: 3000 }))['src/app/app-hsmeta.json']);
    expect(app.config.auth.redirectUrls).toEqual([
      PUBLIC_URL + CALLBACK_PATH,
      `http://localhost:3000${CALLBACK_PATH}`,
    ]);
  });

  it.each([
    ['plain http', 'http://router.acme-sales.example'],
    ['an IP address', 'https://203.0.113.7'],
    ['a query', `${PUBLIC_URL}/?x=1`],
    ['credentials', 'https://user:pw@router.acme-sales.example'],
    ['no URL at all', 'router.acme-sales.example'],
  ])('refuses %s as public URL with a clear error', async (_name, publicUrl) => {
    await expect(build({ publicUrl })).rejects.toThrow(ConfigError);
  });

  it('refuses a support address that is not an email', async () => {
    await expect(build({ supportEmail: 'nobody' })).rejects.toThrow(/support-email/);
  });

  it('names every invalid field (the schema can fail)', () => {
    const problems = validateProjectFile('src/app/app-hsmeta.json', {
      uid: 'has spaces',
      type: 'app',
      config: { name: ' x', distribution: 'private' },
    });
    expect(problems.join('\n')).toMatch(/uid/);
    expect(problems.join('\n')).toMatch(/config\.name/);
    expect(problems.join('\n')).toMatch(/config\.distribution/);
    expect(problems.join('\n')).toMatch(/config\.auth/);
    expect(
      validateProjectFile('hsproject.json', { name: 'x', srcDir: 'src', platformVersion: '2025.2' }),
    ).toEqual([expect.stringContaining('platformVersion')]);
  });

  it('scopes match oauth.ts exactly; sequence scopes are optional, never required', async () => {
    const app = appSchema.parse((await build())['src/app/app-hsmeta.json']);
    expect([...app.config.auth.requiredScopes].sort()).toEqual([...REQUIRED_SCOPES].sort());
    expect([...app.config.auth.optionalScopes].sort()).toEqual([...OPTIONAL_SCOPES].sort());
    expect(app.config.auth.requiredScopes.filter((s) => s.startsWith('automation.sequences'))).toEqual([]);
  });

  it('subscribes to contact creation, owner changes and privacy deletions, with the contacts read scope', async () => {
    const files = await build();
    const hooks = webhooksSchema.parse(files['src/app/webhooks/webhooks-hsmeta.json']);
    const { crmObjects, legacyCrmObjects, hubEvents } = hooks.config.subscriptions;
    expect([...crmObjects, ...legacyCrmObjects]).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ subscriptionType: 'contact.creation', active: true }),
        expect.objectContaining({
          subscriptionType: 'contact.propertyChange',
          propertyName: 'hubspot_owner_id',
        }),
      ]),
    );
    expect(hubEvents).toEqual([{ subscriptionType: 'contact.privacyDeletion', active: true }]);
    for (const s of legacyCrmObjects.filter((x) => x.subscriptionType.endsWith('propertyChange')))
      expect(['num_unique_conversion_events', 'hs_lastmodifieddate']).not.toContain(s.propertyName);
    const app = appSchema.parse(files['src/app/app-hsmeta.json']);
    expect(app.config.auth.requiredScopes).toContain('crm.objects.contacts.read');
  });

  it('the committed templates hold placeholders, never a deployment URL', async () => {
    for (const file of PROJECT_FILES) {
      const text = await readFile(new URL(file, TEMPLATE_DIR), 'utf8');
      expect([file, text]).not.toEqual([file, expect.stringMatching(/example\.com|localhost/)]);
    }
  });

  it('lead-router hubspot-project writes the validated project', async () => {
    const out = await mkdtemp(join(tmpdir(), 'lead-router-hsproject-'));
    const lines: string[] = [];
    const errors: string[] = [];
    const io = { out: (l: string) => lines.push(l), err: (l: string) => errors.push(l), clock: () => 0 };
    const code = await main(
      [
        'hubspot-project',
        '--public-url',
        PUBLIC_URL,
        '--support-email',
        'help@acme-sales.example',
        '--out',
        out,
      ],
      io,
    );
    expect([code, errors]).toEqual([0, []]);
    expect(lines).toHaveLength(PROJECT_FILES.length + 1);
    expect(lines.at(-1)).toBe(
      'holds: no --rules given, so no property change is subscribed to for the fields rules hold leads for (a held lead is then decided at its timeout only)',
    );
    const written = JSON.parse(await readFile(join(out, 'src/app/app-hsmeta.json'), 'utf8')) as unknown;
    expect(written).toEqual((await build())['src/app/app-hsmeta.json']);
    expect((await readdir(join(out, 'src/app'))).sort()).toEqual([
      'app-hsmeta.json',
      'cards',
      'settings',
      'webhooks',
    ]);
    const card = await readFile(join(out, 'src/app/cards/RoutingCard.tsx'), 'utf8');
    expect(card).toContain(`const APP_URL = '${PUBLIC_URL}';`);

    const refused = await main(
      ['hubspot-project', '--public-url', 'http://x.example', '--support-email', 'a@b.example', '--out', out],
      io,
    );
    expect(refused).toBe(1);
    expect(errors.join('\n')).toMatch(/must be https/);
  });

  it('with --rules, subscribes to changes of each field the rules hold leads for, once', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lead-router-hsproject-rules-'));
    const rules = join(dir, 'rules.yaml');
    const source = await readFile('rules/exceptions/rules.yaml', 'utf8');
    expect(source).toContain('fields: [country, employees]');
    await writeFile(
      rules,
      source.replace('fields: [country, employees]', 'fields: [country, employees, industry]'),
    );
    const lines: string[] = [];
    const errors: string[] = [];
    const io = { out: (l: string) => lines.push(l), err: (l: string) => errors.push(l), clock: () => 0 };
    const argv = [
      'hubspot-project',
      '--public-url',
      PUBLIC_URL,
      '--support-email',
      'help@acme-sales.example',
    ];
    expect(await main([...argv, '--out', join(dir, 'out'), '--rules', rules], io)).toBe(0);
    expect(errors).toEqual([]);
    // country and numemployees (employees) are subscribed already: only industry is added.
    expect(lines.at(-1)).toBe(
      `holds: subscribed to changes of country, numemployees, industry (fields ${rules} holds leads for)`,
    );
    const webhooks = JSON.parse(
      await readFile(join(dir, 'out', 'src/app/webhooks/webhooks-hsmeta.json'), 'utf8'),
    ) as {
      config: { subscriptions: { legacyCrmObjects: { subscriptionType: string; propertyName?: string }[] } };
    };
    const watched = webhooks.config.subscriptions.legacyCrmObjects
      .filter((s) => s.subscriptionType === 'contact.propertyChange')
      .map((s) => s.propertyName);
    expect(watched).toEqual([
      'hubspot_owner_id',
      'country',
      'state',
      'numemployees',
      'lifecyclestage',
      'industry',
    ]);

    // A rule file that does not load is refused with its errors, and nothing is written.
    await writeFile(rules, 'routes: [');
    expect(await main([...argv, '--out', join(dir, 'bad'), '--rules', rules], io)).toBe(1);
    expect(errors.join('\n')).toContain(rules);
    await expect(readdir(join(dir, 'bad'))).rejects.toThrow(/ENOENT/);
  });

  it('ships a settings page and a contact sidebar card whose entrypoints are in the project', async () => {
    const files = await build();
    const settings = settingsSchema.parse(files['src/app/settings/settings-hsmeta.json']);
    const card = cardSchema.parse(files['src/app/cards/routing-card-hsmeta.json']);
    expect(settings).toEqual({
      uid: 'lead_router_settings',
      type: 'settings',
      config: { entrypoint: '/app/settings/Settings.tsx' },
    });
    expect(card.config).toMatchObject({
      location: 'crm.record.sidebar',
      entrypoint: '/app/cards/RoutingCard.tsx',
      objectTypes: ['contacts'],
    });
    for (const entry of [settings.config.entrypoint, card.config.entrypoint])
      expect(SOURCE_FILES).toContain(`src${entry}`);
    const uids = JSON_FILES.filter((f) => f.endsWith('-hsmeta.json')).map(
      (f) => (files[f] as { uid: string }).uid,
    );
    expect(new Set(uids).size).toBe(uids.length);
    // The extensions call the public URL HubSpot permits, and carry nothing else of the deployment.
    for (const file of SOURCE_FILES) {
      const text = files[file] as string;
      expect(text).toContain(`const APP_URL = '${PUBLIC_URL}';`);
      expect(text).not.toMatch(/\{\{[A-Z_]+\}\}|client.?secret|access.?token|refresh.?token|bearer/i);
    }
  });

  it('pins the extensions to the exact versions the component tests ran with', async () => {
    const files = await build();
    const root = JSON.parse(await readFile('package.json', 'utf8')) as {
      devDependencies: Record<string, string>;
    };
    for (const file of ['src/app/settings/package.json', 'src/app/cards/package.json'] as const) {
      const { dependencies } = extensionPackageSchema.parse(files[file]);
      expect(dependencies).toEqual({
        '@hubspot/ui-extensions': root.devDependencies['@hubspot/ui-extensions'],
        react: root.devDependencies['react'],
      });
    }
    expect(validateProjectFile('src/app/cards/package.json', { dependencies: { react: '^18' } })).toEqual(
      expect.arrayContaining([expect.stringContaining('dependencies.react')]),
    );
  });

  it('refuses a card whose entrypoint is not in the project, or a location the reference does not list', async () => {
    const templates = await mkdtemp(join(tmpdir(), 'lead-router-templates-'));
    await cp(new URL('.', TEMPLATE_DIR), templates, { recursive: true });
    const meta = join(templates, 'src/app/cards/routing-card-hsmeta.json');
    const card = JSON.parse(await readFile(meta, 'utf8')) as { config: Record<string, unknown> };
    card.config['entrypoint'] = '/app/cards/Missing.tsx';
    card.config['location'] = 'crm.record.middle';
    await writeFile(meta, JSON.stringify(card));
    const built = buildHubSpotProject(
      { publicUrl: PUBLIC_URL, supportEmail: 'help@acme-sales.example' },
      new URL(`file://${templates}/`),
    );
    await expect(built).rejects.toThrow(/Missing\.tsx is not a file of the project/);
    await expect(built).rejects.toThrow(/config\.location/);
  });

  it('writeHubSpotProject writes every file', async () => {
    const out = await mkdtemp(join(tmpdir(), 'lead-router-hsproject-'));
    expect(await writeHubSpotProject(await build(), out)).toEqual(PROJECT_FILES.map((f) => join(out, f)));
  });
});
