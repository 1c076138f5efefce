// The HubSpot developer-platform project (hubspot-app/) as uploaded for one deployment. The committed
// files are templates: every URL HubSpot must know — the OAuth redirect (also the Marketplace install
// URL), the webhook target, the URLs UI extensions may fetch and frame, the support pages, and the app
// URL the extensions call — is built here from PUBLIC_URL, so they always match what the server answers on. A development variant adds the
// localhost redirect HubSpot allows for testing; a production project never carries one.
//
// Checked against HubSpot's app configuration reference for platform 2026.03 (developers.hubspot.com/
// docs/apps/developer-platform/build-apps/app-configuration, .../add-features/configure-webhooks,
// .../ui-extensions/extension-points/app-cards/reference, .../create-a-settings-page; hubspot.md §1.1,
// §8.4, §9.1). HubSpot's own project-parsing library fetches its schemas from HubSpot
// with an account, so it cannot run offline; these schemas encode every field the docs require.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { CALLBACK_PATH, WEBHOOK_PATH, normalizeOrigin } from '../server/types.js';
import { SETUP_GUIDE_PATH } from '../server/setup-guide.js';
import { ConfigError } from './config.js';

export const PLATFORM_VERSION = '2026.03';
export const TEMPLATE_DIR = new URL('../../hubspot-app/', import.meta.url);
/** The project's JSON files, relative to its root: each checked against its schema. */
export const JSON_FILES = [
  'hsproject.json',
  'src/app/app-hsmeta.json',
  'src/app/webhooks/webhooks-hsmeta.json',
  'src/app/settings/settings-hsmeta.json',
  'src/app/settings/package.json',
  'src/app/cards/routing-card-hsmeta.json',
  'src/app/cards/package.json',
] as const;
export type JsonFile = (typeof JSON_FILES)[number];
/** The UI extensions' sources, copied as text (their app URL filled in); the component tests cover them. */
export const SOURCE_FILES = ['src/app/settings/Settings.tsx', 'src/app/cards/RoutingCard.tsx'] as const;
/** Every file of the project, relative to its root. */
export const PROJECT_FILES = [...JSON_FILES, ...SOURCE_FILES] as const;
export type ProjectFile = (typeof PROJECT_FILES)[number];
/** A JSON file's value, or a source file's text. */
export type ProjectFiles = Record<ProjectFile, unknown>;

export interface ProjectOptions {
  /** Where HubSpot reaches the app: https, no query, fragment or credentials. */
  publicUrl: string;
  /** Shown on the listing and the consent page. */
  supportEmail: string;
  /** Adds `http://localhost:<port>` + the callback to the redirect URLs (testing only). */
  developmentPort?: number | undefined;
  /**
   * Contact properties the rules hold leads for (holdProperties): each gets a property-change
   * subscription, so a held lead is decided the moment the field it waits for is filled.
   */
  heldProperties?: readonly string[] | undefined;
}

// ---------------------------------------------------------------------------------------------------
// The 2026.03 schemas, field by field as the reference lists them.

const httpsUrl = z
  .string()
  .url()
  .refine((u) => new URL(u).protocol === 'https:', 'must be https');
/** `uid`: up to 64 characters of letters, digits, `_`, `-` and `.`. */
const uid = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/);
const scope = z.string().regex(/^[a-z][a-z0-9._-]*$/);

export const projectSchema = z
  .object({
    name: z.string().min(1),
    srcDir: z.literal('src'),
    platformVersion: z.literal(PLATFORM_VERSION),
  })
  .strict();

/** Redirect URLs: https, or http on localhost; never an IP address (hubspot.md §8.1). */
const redirectUrl = z
  .string()
  .url()
  .refine((raw) => {
    const u = new URL(raw);
    const ip = /^\d+\.\d+\.\d+\.\d+$/.test(u.hostname) || u.hostname.startsWith('[');
    return !ip && (u.protocol === 'https:' || (u.protocol === 'http:' && u.hostname === 'localhost'));
  }, 'must be https (http only on localhost) and not an IP address');

export const appSchema = z
  .object({
    uid,
    type: z.literal('app'),
    config: z
      .object({
        name: z
          .string()
          .min(1)
          .max(200)
          .refine((s) => s.trim() === s, 'must not start or end with whitespace'),
        description: z.string().min(1).max(8192),
        distribution: z.literal('marketplace'),
        auth: z
          .object({
            type: z.literal('oauth'),
            redirectUrls: z.array(redirectUrl).min(1),
            requiredScopes: z.array(scope).min(1),
            optionalScopes: z.array(scope),
            conditionallyRequiredScopes: z.array(scope),
          })
          .strict(),
        // fetch: what hubspot.fetch may call; iframe: what openIframeModal may open.
        permittedUrls: z
          .object({ fetch: z.array(httpsUrl), iframe: z.array(httpsUrl), img: z.array(httpsUrl) })
          .strict(),
        support: z
          .object({ supportEmail: z.string().email(), documentationUrl: httpsUrl, supportUrl: httpsUrl })
          .strict(),
      })
      .strict(),
  })
  .strict();

const subscription = z
  .object({
    subscriptionType: z.string().regex(/^[a-z_]+\.[A-Za-z]+$/),
    objectType: z.string().optional(),
    propertyName: z.string().min(1).optional(),
    active: z.boolean(),
  })
  .strict()
  .refine((s) => !s.subscriptionType.endsWith('.propertyChange') || s.propertyName !== undefined, {
    message: 'a propertyChange subscription needs its propertyName',
  });

export const webhooksSchema = z
  .object({
    uid,
    type: z.literal('webhooks'),
    config: z
      .object({
        settings: z.object({ targetUrl: httpsUrl, maxConcurrentRequests: z.number().int().min(5) }).strict(),
        subscriptions: z
          .object({
            crmObjects: z.array(subscription),
            legacyCrmObjects: z.array(subscription),
            hubEvents: z.array(subscription),
          })
          .strict(),
      })
      .strict(),
  })
  .strict();

/** An extension's React entrypoint, from the project's `src` (`/app/cards/RoutingCard.tsx`). */
const entrypoint = z.string().regex(/^\/app\/[A-Za-z0-9_/-]+\.(jsx|tsx)$/, 'must be /app/….jsx or .tsx');

export const settingsSchema = z
  .object({ uid, type: z.literal('settings'), config: z.object({ entrypoint }).strict() })
  .strict();

export const CARD_LOCATIONS = [
  'crm.record.tab',
  'crm.record.sidebar',
  'crm.preview',
  'helpdesk.sidebar',
] as const;

export const cardSchema = z
  .object({
    uid,
    type: z.literal('card'),
    config: z
      .object({
        name: z.string().min(1),
        description: z.string().optional(),
        location: z.enum(CARD_LOCATIONS),
        entrypoint,
        objectTypes: z.array(z.enum(['contacts', 'companies', 'deals', 'tickets'])).min(1),
      })
      .strict(),
  })
  .strict();

/** An extension directory's package.json: exact versions, so what is uploaded is what the tests ran. */
export const extensionPackageSchema = z
  .object({
    name: z.string().min(1),
    version: z.string(),
    private: z.literal(true),
    license: z.string(),
    type: z.literal('module'),
    dependencies: z
      .object({
        '@hubspot/ui-extensions': z.string().regex(/^\d+\.\d+\.\d+$/, 'pin an exact version'),
        // @hubspot/ui-extensions' peer dependency, exactly (hubspot.md §9.1).
        react: z.literal('18.3.1'),
      })
      .strict(),
  })
  .strict();

const SCHEMAS: Record<JsonFile, z.ZodTypeAny> = {
  'hsproject.json': projectSchema,
  'src/app/app-hsmeta.json': appSchema,
  'src/app/webhooks/webhooks-hsmeta.json': webhooksSchema,
  'src/app/settings/settings-hsmeta.json': settingsSchema,
  'src/app/settings/package.json': extensionPackageSchema,
  'src/app/cards/routing-card-hsmeta.json': cardSchema,
  'src/app/cards/package.json': extensionPackageSchema,
};

// ---------------------------------------------------------------------------------------------------

/** The public URL as HubSpot must be given it; a clear error for anything else. */
export function projectBaseUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`--public-url "${raw}" is not a URL`);
  }
  if (url.protocol !== 'https:')
    throw new ConfigError(
      `--public-url must be https (HubSpot calls it from the internet); use --development for localhost`,
    );
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '')
    throw new ConfigError('--public-url must carry no credentials, query or fragment');
  if (/^\d+\.\d+\.\d+\.\d+$/.test(url.hostname) || url.hostname.startsWith('['))
    throw new ConfigError('--public-url must be a host name: HubSpot refuses IP addresses in redirect URLs');
  return normalizeOrigin(url.href);
}

/** Fills the templates' `{{PUBLIC_URL}}`, `{{SUPPORT_EMAIL}}` and `{{SETUP_GUIDE_URL}}` in every string. */
function fill(value: unknown, vars: Record<string, string>): unknown {
  if (typeof value === 'string')
    return value.replace(/\{\{([A-Z_]+)\}\}/g, (whole, name: string) => vars[name] ?? whole);
  if (Array.isArray(value)) return value.map((v) => fill(v, vars));
  if (typeof value === 'object' && value !== null)
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fill(v, vars)]));
  return value;
}

/** Every issue of a file against its schema, `file: path: message`. */
export function validateProjectFile(file: JsonFile, json: unknown): string[] {
  const parsed = SCHEMAS[file].safeParse(json);
  return parsed.success
    ? []
    : parsed.error.issues.map((i) => `${file}: ${i.path.join('.') || '(root)'}: ${i.message}`);
}

/** Problems across files: unique uids, and every extension's entrypoint shipped in the project. */
function crossCheck(files: ProjectFiles): string[] {
  const problems: string[] = [];
  const uids = new Map<string, string>();
  for (const file of JSON_FILES.filter((f) => f.endsWith('-hsmeta.json'))) {
    const meta = files[file] as { uid?: unknown; config?: { entrypoint?: unknown } };
    if (typeof meta.uid === 'string') {
      const seen = uids.get(meta.uid);
      if (seen !== undefined) problems.push(`${file}: uid ${meta.uid} is already used by ${seen}`);
      uids.set(meta.uid, file);
    }
    const entry = meta.config?.entrypoint;
    if (typeof entry === 'string' && !(PROJECT_FILES as readonly string[]).includes(`src${entry}`))
      problems.push(`${file}: config.entrypoint ${entry} is not a file of the project`);
  }
  return problems;
}

/** The project for a deployment, validated; throws a ConfigError naming every problem. */
export async function buildHubSpotProject(
  options: ProjectOptions,
  templates: URL = TEMPLATE_DIR,
): Promise<ProjectFiles> {
  const base = projectBaseUrl(options.publicUrl);
  if (!z.string().email().safeParse(options.supportEmail).success)
    throw new ConfigError(`--support-email "${options.supportEmail}" is not an email address`);
  const vars = {
    PUBLIC_URL: base,
    SUPPORT_EMAIL: options.supportEmail,
    SETUP_GUIDE_URL: base + SETUP_GUIDE_PATH,
  };
  const out = {} as ProjectFiles;
  for (const file of JSON_FILES) {
    out[file] = fill(JSON.parse(await readFile(new URL(file, templates), 'utf8')) as unknown, vars);
  }
  for (const file of SOURCE_FILES) out[file] = fill(await readFile(new URL(file, templates), 'utf8'), vars);
  const webhooks = out['src/app/webhooks/webhooks-hsmeta.json'] as z.infer<typeof webhooksSchema>;
  const { legacyCrmObjects } = webhooks.config.subscriptions;
  for (const property of options.heldProperties ?? [])
    if (
      !legacyCrmObjects.some(
        (s) => s.subscriptionType === 'contact.propertyChange' && s.propertyName === property,
      )
    )
      legacyCrmObjects.push({
        subscriptionType: 'contact.propertyChange',
        propertyName: property,
        active: true,
      });
  if (options.developmentPort !== undefined) {
    const app = out['src/app/app-hsmeta.json'] as { config: { auth: { redirectUrls: string[] } } };
    app.config.auth.redirectUrls.push(`http://localhost:${options.developmentPort}${CALLBACK_PATH}`);
  }
  const problems = [
    ...JSON_FILES.flatMap((file) => validateProjectFile(file, out[file])),
    ...crossCheck(out),
  ];
  const left = JSON.stringify(out).match(/\{\{[A-Z_]+\}\}/);
  if (left !== null) problems.push(`a template placeholder was left unfilled: ${left[0]}`);
  if (problems.length > 0) throw new ConfigError(`the HubSpot project is not valid:\n${problems.join('\n')}`);
  return out;
}

/** Writes the project under `dir`; returns the paths written. */
export async function writeHubSpotProject(files: ProjectFiles, dir: string): Promise<string[]> {
  const written: string[] = [];
  for (const file of PROJECT_FILES) {
    const path = join(dir, file);
    const value = files[file];
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, typeof value === 'string' ? value : JSON.stringify(value, null, 2) + '\n');
    written.push(path);
  }
  return written;
}

export { CALLBACK_PATH, WEBHOOK_PATH };
