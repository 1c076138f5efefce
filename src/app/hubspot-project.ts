// The HubSpot developer-platform project (hubspot-app/) as uploaded for one deployment. The committed
// files are templates: every URL HubSpot must know — the OAuth redirect (also the Marketplace install
// URL), the webhook target, the URLs UI extensions may fetch, the support pages — is built here from
// PUBLIC_URL, so they always match what the server answers on. A development variant adds the
// localhost redirect HubSpot allows for testing; a production project never carries one.
//
// Checked against HubSpot's app configuration reference for platform 2026.03 (developers.hubspot.com/
// docs/apps/developer-platform/build-apps/app-configuration, .../add-features/configure-webhooks;
// hubspot.md §1.1, §8.4, §9.1). HubSpot's own project-parsing library fetches its schemas from HubSpot
// with an account, so it cannot run offline; these schemas encode every field the docs require.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { CALLBACK_PATH, WEBHOOK_PATH, normalizeOrigin } from '../server/types.js';
import { SETUP_GUIDE_PATH } from '../server/setup-guide.js';
import { ConfigError } from './config.js';

export const PLATFORM_VERSION = '2026.03';
export const TEMPLATE_DIR = new URL('../../hubspot-app/', import.meta.url);
/** The project's files, relative to its root. */
export const PROJECT_FILES = [
  'hsproject.json',
  'src/app/app-hsmeta.json',
  'src/app/webhooks/webhooks-hsmeta.json',
] as const;
export type ProjectFile = (typeof PROJECT_FILES)[number];

export interface ProjectOptions {
  /** Where HubSpot reaches the app: https, no query, fragment or credentials. */
  publicUrl: string;
  /** Shown on the listing and the consent page. */
  supportEmail: string;
  /** Adds `http://localhost:<port>` + the callback to the redirect URLs (testing only). */
  developmentPort?: number | undefined;
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

const SCHEMAS: Record<ProjectFile, z.ZodTypeAny> = {
  'hsproject.json': projectSchema,
  'src/app/app-hsmeta.json': appSchema,
  'src/app/webhooks/webhooks-hsmeta.json': webhooksSchema,
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
export function validateProjectFile(file: ProjectFile, json: unknown): string[] {
  const parsed = SCHEMAS[file].safeParse(json);
  return parsed.success
    ? []
    : parsed.error.issues.map((i) => `${file}: ${i.path.join('.') || '(root)'}: ${i.message}`);
}

/** The project for a deployment, validated; throws a ConfigError naming every problem. */
export async function buildHubSpotProject(
  options: ProjectOptions,
  templates: URL = TEMPLATE_DIR,
): Promise<Record<ProjectFile, unknown>> {
  const base = projectBaseUrl(options.publicUrl);
  if (!z.string().email().safeParse(options.supportEmail).success)
    throw new ConfigError(`--support-email "${options.supportEmail}" is not an email address`);
  const vars = {
    PUBLIC_URL: base,
    SUPPORT_EMAIL: options.supportEmail,
    SETUP_GUIDE_URL: base + SETUP_GUIDE_PATH,
  };
  const out = {} as Record<ProjectFile, unknown>;
  for (const file of PROJECT_FILES) {
    out[file] = fill(JSON.parse(await readFile(new URL(file, templates), 'utf8')) as unknown, vars);
  }
  if (options.developmentPort !== undefined) {
    const app = out['src/app/app-hsmeta.json'] as { config: { auth: { redirectUrls: string[] } } };
    app.config.auth.redirectUrls.push(`http://localhost:${options.developmentPort}${CALLBACK_PATH}`);
  }
  const problems = PROJECT_FILES.flatMap((file) => validateProjectFile(file, out[file]));
  const left = JSON.stringify(out).match(/\{\{[A-Z_]+\}\}/);
  if (left !== null) problems.push(`a template placeholder was left unfilled: ${left[0]}`);
  if (problems.length > 0) throw new ConfigError(`the HubSpot project is not valid:\n${problems.join('\n')}`);
  return out;
}

/** Writes the project under `dir`; returns the paths written. */
export async function writeHubSpotProject(
  files: Record<ProjectFile, unknown>,
  dir: string,
): Promise<string[]> {
  const written: string[] = [];
  for (const file of PROJECT_FILES) {
    const path = join(dir, file);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, JSON.stringify(files[file], null, 2) + '\n');
    written.push(path);
  }
  return written;
}

export { CALLBACK_PATH, WEBHOOK_PATH };
