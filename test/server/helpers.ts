// A real server over real storage (SQLite :memory:, AES-256-GCM cipher) and a fixed, movable clock.
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { Keyring } from '../../connectors/shared/crypto.js';
import { signV3 } from '../../connectors/hubspot/signature.js';
import { HubSpotOAuth } from '../../connectors/hubspot/oauth.js';
import { hubspotPushedIntake } from '../../connectors/hubspot/pushed-intake.js';
import { createLogger } from '../../src/log.js';
import { openStorage, type PulledChannel, type Storage, type Tenant } from '../../src/storage/index.js';
import { createServer, hubspotRedirectUri, type ServerDeps } from '../../src/server/index.js';

export const T0 = Date.UTC(2026, 0, 5, 9, 0, 0);
export const CLIENT_ID = 'test-client-id';
export const CLIENT_SECRET = 'test-client-secret-0123456789';
export const APP_ID = 555001;
export const PORTAL = 123;
/** The address HubSpot calls (a proxy in front of us): not where the test server listens. */
export const PUBLIC_URL = 'https://router.example.com';

export interface Harness {
  url: string;
  storage: Storage;
  tenant: Tenant;
  clock: { now: number };
  logs: string[];
  enqueued: number[];
  installed: Tenant[];
  inboxCount(): Promise<number>;
  close(): Promise<void>;
}

export async function startServer(
  overrides: {
    hubspot?: Partial<ServerDeps['hubspot']>;
    oauthBaseUrl?: string;
    publicUrl?: string;
    /** The channels of the CRMs that pull their events, as the app passes its registered CRMs'. */
    pulled?: readonly PulledChannel[];
  } = {},
): Promise<Harness> {
  const storage = await openStorage({
    file: ':memory:',
    cipher: new Keyring(randomBytes(32)),
    now: () => T0,
  });
  const tenant = await storage.createTenant(
    { provider: 'hubspot', externalId: String(PORTAL), name: 'Acme' },
    T0,
  );
  const clock = { now: T0 };
  const logs: string[] = [];
  const logger = createLogger({
    level: 'debug',
    stream: new Writable({
      write(chunk: Buffer, _enc, done) {
        logs.push(chunk.toString('utf8'));
        done();
      },
    }),
  });
  const publicUrl = overrides.publicUrl ?? PUBLIC_URL;
  const enqueued: number[] = [];
  const installed: Tenant[] = [];
  const oauthOptions = {
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    redirectUri: hubspotRedirectUri(publicUrl),
    ...(overrides.oauthBaseUrl === undefined ? {} : { baseUrl: overrides.oauthBaseUrl }),
  };
  const server = createServer({
    storage,
    logger,
    clock: () => clock.now,
    publicUrl,
    intakes: [hubspotPushedIntake({ clientSecret: CLIENT_SECRET, appId: APP_ID })],
    hubspot: {
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      oauth: new HubSpotOAuth(oauthOptions),
      ...overrides.hubspot,
    },
    ...(overrides.pulled === undefined
      ? {}
      : { streams: () => storage.streamStates(overrides.pulled ?? [], clock.now) }),
    onEnqueued: (n) => enqueued.push(n),
    onInstalled: (t) => {
      installed.push(t);
      return Promise.resolve();
    },
  });
  const running = await server.listen(0);
  return {
    url: running.url,
    storage,
    tenant,
    clock,
    logs,
    enqueued,
    installed,
    async inboxCount() {
      const s = await storage.inboxStats();
      return s.pending + s.leased + s.done + s.failed;
    },
    async close() {
      await running.close();
      await storage.close().catch(() => undefined);
    },
  };
}

export interface HubSpotEventInput {
  eventId?: number;
  portalId?: number;
  objectId?: number;
  subscriptionType?: string;
  propertyName?: string;
  propertyValue?: string;
  changeSource?: string;
  sourceId?: string;
}

let nextEventId = 1000;
export function makeEvent(input: HubSpotEventInput = {}): Record<string, unknown> {
  const eventId = input.eventId ?? nextEventId++;
  return {
    eventId,
    subscriptionId: 12345,
    portalId: input.portalId ?? PORTAL,
    appId: APP_ID,
    occurredAt: T0 - 1000,
    subscriptionType: input.subscriptionType ?? 'contact.creation',
    attemptNumber: 0,
    objectId: input.objectId ?? eventId + 1,
    changeSource: input.changeSource ?? 'CRM_UI',
    ...(input.sourceId === undefined ? {} : { sourceId: input.sourceId }),
    ...(input.propertyName === undefined ? {} : { propertyName: input.propertyName }),
    ...(input.propertyValue === undefined ? {} : { propertyValue: input.propertyValue }),
  };
}

export interface Delivery {
  /** Path and query as sent, e.g. `/webhooks/hubspot?x=1`. */
  path?: string;
  body: string;
  timestamp?: number;
  secret?: string;
  /** The URI the signature is computed over; default PUBLIC_URL + path. */
  signedUri?: string;
  /** The body the signature is computed over; default `body`. */
  signedBody?: string;
  /** A signature to send instead of the computed one. */
  signature?: string;
  headers?: Record<string, string>;
  /** Send no signature headers at all. */
  unsigned?: boolean;
}

/** POSTs a webhook delivery the way HubSpot does, signed (v3) unless told otherwise. */
export function deliver(h: Pick<Harness, 'url'>, d: Delivery): Promise<Response> {
  const path = d.path ?? '/webhooks/hubspot';
  const timestamp = d.timestamp ?? T0;
  const signature =
    d.signature ??
    signV3({
      clientSecret: d.secret ?? CLIENT_SECRET,
      method: 'POST',
      uri: d.signedUri ?? PUBLIC_URL + path,
      rawBody: d.signedBody ?? d.body,
      timestamp,
    });
  return fetch(h.url + path, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(d.unsigned === true
        ? {}
        : { 'x-hubspot-signature-v3': signature, 'x-hubspot-request-timestamp': String(timestamp) }),
      ...d.headers,
    },
    body: d.body,
  });
}
