// Hostile input against the real HTTP server, over real HTTP, with real storage (a SQLite file).
// The app runs in its own Node process so that "never crashes" is observable: it records any
// uncaughtException / unhandledRejection instead of dying, and the test asks for them at the end.
// fast-check generates batches of requests (bad ones interleaved with validly signed ones); every
// response is checked against a model of what the inbox must hold, and the inbox is read from the
// database after every batch.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { createHubSpotSandbox, type HubSpotSandbox } from '../../connectors/sandbox/index.js';
import { DEFAULT_WEBHOOK_BODY_LIMIT } from '../../src/server/webhooks.js';
import { openStorage, type Storage } from '../../src/storage/index.js';

const T0 = Date.UTC(2026, 0, 5, 9, 0, 0);
const CLIENT_ID = 'hostile-client-id';
const SECRET = 'hostile-client-secret-0123456789';
const APP_ID = 555001;
const PORTAL = 123;
const PUBLIC_URL = 'https://router.example.com';
const WEBHOOK = '/webhooks/hubspot';
const LIMIT = DEFAULT_WEBHOOK_BODY_LIMIT;
const WINDOW_MS = 5 * 60_000;
/** Requests per batch (sent concurrently) and batches: 25 × 410 = 10,250 webhook requests. */
const BATCH = 25;
const RUNS = 410;
/** The app's clock moves this much per batch, so early deliveries become stale replays later. */
const STEP_MS = 2_000;
const OAUTH_RUNS = 250;

// ---------------------------------------------------------------------------------------------------
// Signing, written from HubSpot's description (hubspot.md §2.1), independently of the code under test.

const V3_DECODED = /%(3A|2F|3F|40|21|24|27|28|29|2A|2C|3B)/gi;
function v3Signature(secret: string, method: string, uri: string, body: Buffer, ts: string): string {
  const decoded = uri.replace(V3_DECODED, (m) => String.fromCharCode(parseInt(m.slice(1), 16)));
  return createHmac('sha256', secret)
    .update(Buffer.concat([Buffer.from(method + decoded, 'utf8'), body, Buffer.from(ts, 'utf8')]))
    .digest('base64');
}
const v1Signature = (secret: string, body: Buffer): string =>
  createHash('sha256')
    .update(Buffer.concat([Buffer.from(secret, 'utf8'), body]))
    .digest('hex');
const v2Signature = (secret: string, method: string, uri: string, body: Buffer): string =>
  createHash('sha256')
    .update(Buffer.concat([Buffer.from(secret + method + uri, 'utf8'), body]))
    .digest('hex');

// ---------------------------------------------------------------------------------------------------
// The app in a child process, controlled over IPC (clock, report, stop).

const here = (p: string): string => pathToFileURL(fileURLToPath(new URL(p, import.meta.url))).href;
const CHILD = `
const cfg = JSON.parse(process.env.HOSTILE_CFG);
const faults = { uncaught: [], unhandled: [] };
process.on('uncaughtException', (e) => faults.uncaught.push(String(e && e.stack || e)));
process.on('unhandledRejection', (e) => faults.unhandled.push(String(e && e.stack || e)));
const { randomBytes } = await import('node:crypto');
const { Writable } = await import('node:stream');
const { openStorage } = await import(cfg.modules.storage);
const { createServer, hubspotRedirectUri } = await import(cfg.modules.server);
const { createLogger } = await import(cfg.modules.log);
const { HubSpotOAuth } = await import(cfg.modules.oauth);
const { hubspotPushedIntake } = await import(cfg.modules.pushedIntake);
const { Keyring } = await import(cfg.modules.crypto);
let now = cfg.t0;
const storage = await openStorage({ file: cfg.file, cipher: new Keyring(randomBytes(32)), now: () => now });
const tenant = await storage.createTenant({ provider: 'hubspot', externalId: String(cfg.portal), name: 'Acme' }, now);
let logLines = 0;
let secretLogged = false;
const stream = new Writable({ write(chunk, _enc, done) { logLines += 1; if (chunk.toString('utf8').includes(cfg.secret)) secretLogged = true; done(); } });
let enqueued = 0;
const server = createServer({
  storage, logger: createLogger({ level: 'info', stream }), clock: () => now, publicUrl: cfg.publicUrl,
  intakes: [hubspotPushedIntake({ clientSecret: cfg.secret, appId: cfg.appId })],
  hubspot: {
    clientId: cfg.clientId, clientSecret: cfg.secret, authorizeOrigin: cfg.oauthBaseUrl,
    oauth: new HubSpotOAuth({ clientId: cfg.clientId, clientSecret: cfg.secret, redirectUri: hubspotRedirectUri(cfg.publicUrl), baseUrl: cfg.oauthBaseUrl }),
  },
  onEnqueued: (n) => { enqueued += n; },
});
const running = await server.listen(0);
process.on('message', async (m) => {
  if (m.type === 'clock') { now = m.now; process.send({ id: m.id }); }
  else if (m.type === 'report') process.send({ id: m.id, faults, enqueued, logLines, secretLogged, tenantId: tenant.id });
  else if (m.type === 'stop') { await running.close(); await storage.close(); process.send({ id: m.id }); process.disconnect(); }
});
process.send({ id: 0, url: running.url });
`;

interface ChildReport {
  faults: { uncaught: string[]; unhandled: string[] };
  enqueued: number;
  logLines: number;
  secretLogged: boolean;
  tenantId: string;
}

class App {
  private seq = 0;
  private readonly waiting = new Map<
    number,
    { resolve: (m: Record<string, unknown>) => void; reject: (e: Error) => void }
  >();
  readonly stderr: string[] = [];
  exit: { code: number | null; signal: string | null } | undefined;

  private constructor(
    readonly child: ChildProcess,
    public url = '',
  ) {
    child.on('message', (m: Record<string, unknown>) => {
      const id = Number(m['id']);
      this.waiting.get(id)?.resolve(m);
      this.waiting.delete(id);
    });
    child.stderr?.on('data', (c: Buffer) => this.stderr.push(c.toString('utf8')));
    child.on('exit', (code, signal) => {
      this.exit = { code, signal };
      // A crash fails whatever waits on the app, with what it printed.
      const gone = new Error(`app exited (${code ?? signal ?? '?'}):\n${this.stderr.join('')}`);
      for (const w of this.waiting.values()) w.reject(gone);
      this.waiting.clear();
    });
  }

  static async start(cfg: Record<string, unknown>): Promise<App> {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHILD], {
      cwd: fileURLToPath(new URL('../../', import.meta.url)),
      env: { ...process.env, HOSTILE_CFG: JSON.stringify(cfg), LOG_LEVEL: 'info' },
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    const app = new App(child);
    const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
      app.waiting.set(0, { resolve, reject });
    });
    app.url = String(ready['url']);
    return app;
  }

  call(message: Record<string, unknown>): Promise<Record<string, unknown>> {
    const id = ++this.seq;
    return new Promise((resolve, reject) => {
      if (this.exit !== undefined) reject(new Error(`app is gone: ${JSON.stringify(this.exit)}`));
      this.waiting.set(id, { resolve, reject });
      this.child.send({ ...message, id });
    });
  }
  async setClock(now: number): Promise<void> {
    await this.call({ type: 'clock', now });
  }
  async report(): Promise<ChildReport> {
    return (await this.call({ type: 'report' })) as unknown as ChildReport;
  }
}

// ---------------------------------------------------------------------------------------------------
// HTTP with a keep-alive agent; raw bytes in, status and raw bytes out.

interface Wire {
  method: string;
  path: string;
  headers: Record<string, string | string[]>;
  body: Buffer;
  /** Send without Content-Length (chunked transfer encoding). */
  chunked?: boolean;
}
interface Answer {
  status: number;
  body: Buffer;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

function send(base: string, w: Wire, retried = false): Promise<Answer> {
  const url = new URL(base);
  const headers = { ...w.headers };
  if (w.chunked !== true) headers['content-length'] = String(w.body.length);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: url.hostname, port: url.port, method: w.method, path: w.path, agent, headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) => {
      // The server may close an idle keep-alive socket just as we reuse it; the request never arrived.
      if (req.reusedSocket && err.code === 'ECONNRESET' && !retried)
        send(base, w, true).then(resolve, reject);
      else reject(err);
    });
    req.end(w.body);
  });
}

// ---------------------------------------------------------------------------------------------------
// Generated values.

/** Strings that have broken parsers, loggers and databases before. */
const NASTY = [
  '\ud800',
  'x\udc00y',
  '\udbff\udfff',
  'a\u0000b',
  '\u202egnp.exe',
  'مرحبا بالعالم',
  'שלום',
  '👩‍👩‍👧‍👦🏳️‍🌈',
  '\ufeff',
  '%00%ZZ%',
  '\r\n\t',
  'ÿ\u0085\u2028\u2029',
  '<script>alert(1)</script>',
  "'; DROP TABLE inbox; --",
  '__proto__',
  'constructor',
  'Z̸̢̧͎a̷l̴g̸o̷',
];
const nastyString = fc.oneof(
  fc.constantFrom(...NASTY),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.nat({ max: 20_000 }).map((n) => 'ß'.repeat(n)),
);

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

interface Src {
  changeSource?: string;
  sourceId?: string;
}
/** Extra, unknown fields HubSpot may add: passed through by the schema, never stored. */
type Extra = { key: string; value: Json } | { key: string; depth: number } | undefined;

type EventRecipe =
  | { t: 'create'; via: 'contact' | 'object' | 'eventType'; twin: boolean; src: Src; extra: Extra }
  | {
      t: 'change';
      via: 'contact' | 'object' | 'eventType';
      name: string;
      value: Json | undefined;
      src: Src;
      extra: Extra;
    }
  | { t: 'echo'; name: string; value: string; bare: boolean }
  | { t: 'ignored'; sub: string; objectTypeId: string | undefined; noObject: boolean }
  | { t: 'foreign'; portal: number | string };

/** The fields the webhook schema checks; an extra field must be none of them. */
const SCHEMA_KEYS = new Set([
  'eventId',
  'subscriptionId',
  'portalId',
  'appId',
  'occurredAt',
  'subscriptionType',
  'eventType',
  'attemptNumber',
  'objectId',
  'objectTypeId',
  'propertyName',
  'propertyValue',
  'changeSource',
  'sourceId',
  'changeFlag',
]);
const ROUTED = new Set([
  'contact.creation',
  'contact.propertyChange',
  'object.creation',
  'object.propertyChange',
]);
const src: fc.Arbitrary<Src> = fc.record(
  {
    changeSource: fc.oneof(fc.constantFrom('CRM_UI', 'IMPORT', 'CRM', 'ACADEMY', 'INTEGRATION'), nastyString),
    // Never our app id as a token: those are echoes, generated on purpose below.
    sourceId: fc.oneof(fc.constant('userId:4242'), nastyString).filter((s) => !s.includes(String(APP_ID))),
  },
  { requiredKeys: [] },
);
const extra: fc.Arbitrary<Extra> = fc.option(
  fc.oneof(
    fc.record({ key: nastyString, value: fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json> }),
    fc.record({ key: fc.constant('deep'), depth: fc.integer({ min: 1, max: 400 }) }),
  ),
  { nil: undefined, freq: 3 },
);
const via = fc.constantFrom('contact' as const, 'object' as const, 'eventType' as const);
const eventRecipe: fc.Arbitrary<EventRecipe> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({ t: fc.constant('create' as const), via, twin: fc.boolean(), src, extra }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constant('change' as const),
      via,
      name: fc.oneof(fc.constantFrom('country', 'hubspot_owner_id', 'email'), nastyString),
      value: fc.option(
        fc.oneof(
          nastyString,
          fc.double(),
          fc.integer(),
          fc.boolean(),
          fc.constant(null),
        ) as fc.Arbitrary<Json>,
        { nil: undefined },
      ),
      src,
      extra,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('echo' as const),
      name: nastyString,
      value: nastyString,
      bare: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('ignored' as const),
      sub: fc.oneof(
        fc.constantFrom('contact.deletion', 'company.creation', 'contact.merge', 'conversation.newMessage'),
        nastyString.filter((s) => s !== '' && !ROUTED.has(s)),
      ),
      objectTypeId: fc.option(fc.constantFrom('0-2', '2-143967026', '0-1'), { nil: undefined }),
      noObject: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('foreign' as const),
      portal: fc.constantFrom<number | string>(999, '0123', 0),
    }),
  },
);
const events = fc.array(eventRecipe, { minLength: 1, maxLength: 6 });
const ONE_CREATION: EventRecipe = { t: 'create', via: 'contact', twin: false, src: {}, extra: undefined };

const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=xyz',
  'application/octet-stream',
  'application/json; charset=x-unknown',
  '*/*',
  null,
];
const common = fc.record({
  ct: fc.constantFrom(...CONTENT_TYPES),
  // Now and then without Content-Length (chunked transfer encoding).
  chunked: fc.nat({ max: 9 }).map((n) => n === 0),
  upperHeaders: fc.boolean(),
});
/** A path for a valid request: query strings with percent-encoded unicode and HubSpot's decode table. */
const pathRecipe = fc.oneof(
  fc.constant(WEBHOOK),
  fc.constant(`${WEBHOOK}?`),
  fc.constant(`${WEBHOOK}?q=a%20b%3Ac%2fd%40e&x=%21%24%27%28%29%2A%2C%3B`),
  nastyString.map((s) => `${WEBHOOK}?tag=${encodeBytes(s.slice(0, 300))}&n=%2F`),
);
/** Valid timestamps: within ±5 minutes of the app's clock, edges included. */
const validOffset = fc.oneof(
  fc.constantFrom(0, -WINDOW_MS, WINDOW_MS, -1000),
  fc.integer({ min: -WINDOW_MS, max: WINDOW_MS }),
);
const outside = fc.oneof(fc.constantFrom(1, 2, 1000, 60_000), fc.integer({ min: 1, max: 1e12 }));

type SigFault =
  | 'unsigned'
  | 'no-timestamp'
  | 'no-signature'
  | 'wrong-secret'
  | 'tampered'
  | 'tampered-invalid-utf8'
  | 'wrong-uri'
  | 'stale'
  | 'future'
  | 'bad-timestamp'
  | 'garbage-signature'
  | 'v1-only'
  | 'v2-only'
  | 'v3-wrong-v1-right'
  | 'duplicate-headers'
  | 'replayed-signature'
  | 'stale-replay'
  | 'other-method';
type BodyFault =
  | 'malformed-json'
  | 'wrong-type'
  | 'missing-field'
  | 'not-an-array'
  | 'empty-array'
  | 'too-many-events'
  | 'huge-array'
  | 'deep-nesting'
  | 'unsafe-integer-id'
  | 'binary-junk';

type Recipe =
  | {
      k: 'valid';
      events: EventRecipe[];
      offset: number;
      path: string;
      pretty: boolean;
      stringIds: boolean;
      c: Common;
    }
  | { k: 'replay'; pick: number; c: Common }
  | { k: 'exact-limit'; c: Common }
  | { k: 'sig'; how: SigFault; events: EventRecipe[]; n: number; pick: number; s: string; c: Common }
  | { k: 'body'; how: BodyFault; n: number; m: number; s: string; c: Common }
  | { k: 'size'; how: 'oversized-signed' | 'oversized-unsigned' | 'gzip-bomb'; n: number; c: Common }
  | { k: 'encoding'; how: 'gzip-junk' | 'deflate-junk' | 'unknown-encoding'; c: Common }
  | { k: 'route'; how: 'method' | 'path'; n: number; c: Common };
type Common = { ct: string | null; chunked: boolean; upperHeaders: boolean };

const SIG_FAULTS: SigFault[] = [
  'unsigned',
  'no-timestamp',
  'no-signature',
  'wrong-secret',
  'tampered',
  'tampered-invalid-utf8',
  'wrong-uri',
  'stale',
  'future',
  'bad-timestamp',
  'garbage-signature',
  'v1-only',
  'v2-only',
  'v3-wrong-v1-right',
  'duplicate-headers',
  'replayed-signature',
  'stale-replay',
  'other-method',
];
const BODY_FAULTS: BodyFault[] = [
  'malformed-json',
  'wrong-type',
  'missing-field',
  'not-an-array',
  'empty-array',
  'too-many-events',
  'huge-array',
  'deep-nesting',
  'unsafe-integer-id',
  'binary-junk',
];

const recipe: fc.Arbitrary<Recipe> = fc.oneof(
  {
    weight: 30,
    arbitrary: fc.record({
      k: fc.constant('valid' as const),
      events,
      offset: validOffset,
      path: pathRecipe,
      pretty: fc.boolean(),
      stringIds: fc.boolean(),
      c: common,
    }),
  },
  { weight: 5, arbitrary: fc.record({ k: fc.constant('replay' as const), pick: fc.nat(), c: common }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('exact-limit' as const), c: common }) },
  {
    weight: 36,
    arbitrary: fc.record({
      k: fc.constant('sig' as const),
      how: fc.constantFrom(...SIG_FAULTS),
      events,
      n: outside,
      pick: fc.nat(),
      s: nastyString,
      c: common,
    }),
  },
  {
    weight: 24,
    arbitrary: fc.record({
      k: fc.constant('body' as const),
      how: fc.constantFrom(...BODY_FAULTS),
      n: fc.nat(),
      m: fc.nat(),
      s: nastyString,
      c: common,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant('size' as const),
      how: fc.constantFrom('oversized-signed' as const, 'oversized-unsigned' as const, 'gzip-bomb' as const),
      n: fc.nat({ max: 64 * 1024 }),
      c: common,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant('encoding' as const),
      how: fc.constantFrom('gzip-junk' as const, 'deflate-junk' as const, 'unknown-encoding' as const),
      c: common,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('route' as const),
      how: fc.constantFrom('method' as const, 'path' as const),
      n: fc.nat(),
      c: common,
    }),
  },
);

// ---------------------------------------------------------------------------------------------------
// Turning recipes into requests, with what each must get. Ids are fresh per run, so the model of the
// inbox stays exact however fast-check orders things.

/** Every byte percent-encoded: the decoded value is exactly the UTF-8 of `s` (lone surrogates → U+FFFD). */
function encodeBytes(s: string): string {
  return [...Buffer.from(s, 'utf8')].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('');
}

/** What the inbox row for an accepted event must hold. */
interface Row {
  key: string;
  payload: Record<string, unknown>;
}
interface Expect {
  status: number;
  /** For 2xx: the answer's `accepted`, and the rows that must be new after it. */
  accepted?: number;
  rows?: Row[];
}
interface Planned {
  kind: string;
  valid: boolean;
  wire: Wire;
  expect: Expect;
  /** Timestamp of a valid delivery, kept for replays. */
  ts?: number;
}
interface Sent {
  wire: Wire;
  ts: number;
  accepted: number;
}

class Model {
  private id = 1_000;
  /** Inbox rows that must exist, by `subscription \0 event_id`. */
  readonly rows = new Map<string, Record<string, unknown>>();
  readonly history: Sent[] = [];
  now = T0;
  nextId(): number {
    return ++this.id;
  }
}

function sourceOf(s: Src): string | undefined {
  if (s.changeSource === undefined && s.sourceId === undefined) return undefined;
  return `${s.changeSource ?? ''}|${s.sourceId ?? ''}`;
}

function deepValue(depth: number): Json {
  let v: Json = 1;
  for (let i = 0; i < depth; i++) v = i % 2 === 0 ? [v] : { d: v };
  return v;
}

/** Builds the HubSpot events of a recipe list, the number the app must accept, and the rows they make. */
function buildEvents(
  recipes: EventRecipe[],
  model: Model,
  idStyle: boolean,
): { events: Record<string, unknown>[]; accepted: number; rows: Row[] } {
  const id = (): number | string => (idStyle ? String(model.nextId()) : model.nextId());
  const out: Record<string, unknown>[] = [];
  const rows: Row[] = [];
  let accepted = 0;
  const base = (): Record<string, unknown> => ({
    eventId: id(),
    subscriptionId: 12345,
    portalId: idStyle ? String(PORTAL) : PORTAL,
    appId: APP_ID,
    occurredAt: model.now - 1000,
    attemptNumber: 0,
  });
  const withExtra = (e: Record<string, unknown>, x: Extra): Record<string, unknown> => {
    if (x === undefined || SCHEMA_KEYS.has(x.key)) return e;
    return { ...e, [x.key]: 'depth' in x ? deepValue(x.depth) : x.value };
  };
  for (const r of recipes) {
    switch (r.t) {
      case 'create': {
        const objectId = model.nextId();
        const kinds = r.twin ? (['contact', 'object'] as const) : ([r.via] as const);
        for (const v of kinds) {
          const e: Record<string, unknown> = { ...base(), objectId, ...r.src };
          if (v === 'object') Object.assign(e, { subscriptionType: 'object.creation', objectTypeId: '0-1' });
          else if (v === 'eventType') e['eventType'] = 'contact.creation';
          else e['subscriptionType'] = 'contact.creation';
          out.push(withExtra(e, r.extra));
          accepted += 1;
          const source = sourceOf(r.src);
          rows.push({
            key: `contact.creation\0created:${objectId}`,
            payload: {
              eventId: `created:${objectId}`,
              subscription: 'contact.creation',
              kind: 'created',
              objectId: String(objectId),
              occurredAt: model.now - 1000,
              ...(source === undefined ? {} : { source }),
            },
          });
        }
        break;
      }
      case 'change': {
        const e: Record<string, unknown> = {
          ...base(),
          objectId: model.nextId(),
          propertyName: r.name,
          ...r.src,
        };
        if (r.value !== undefined) e['propertyValue'] = r.value;
        const sub = r.via === 'object' ? 'object.propertyChange' : 'contact.propertyChange';
        if (r.via === 'object') e['objectTypeId'] = '0-1';
        e[r.via === 'eventType' ? 'eventType' : 'subscriptionType'] = sub;
        out.push(withExtra(e, r.extra));
        accepted += 1;
        // What JSON makes of the value (NaN → null, -0 → 0), as the app receives it.
        const value =
          r.value === undefined
            ? null
            : (JSON.parse(JSON.stringify(r.value)) as string | number | boolean | null);
        const source = sourceOf(r.src);
        rows.push({
          key: `${sub}\0${String(e['eventId'])}`,
          payload: {
            eventId: String(e['eventId']),
            subscription: sub,
            kind: 'changed',
            objectId: String(e['objectId']),
            occurredAt: model.now - 1000,
            property: r.name,
            ...(value === null ? {} : { value: String(value) }),
            ...(source === undefined ? {} : { source }),
          },
        });
        break;
      }
      case 'echo':
        out.push({
          ...base(),
          objectId: model.nextId(),
          subscriptionType: 'contact.propertyChange',
          propertyName: r.name,
          propertyValue: r.value,
          changeSource: 'INTEGRATION',
          sourceId: r.bare ? String(APP_ID) : `appId:${APP_ID}`,
        });
        break;
      case 'ignored': {
        const e: Record<string, unknown> = { ...base(), subscriptionType: r.sub };
        if (!r.noObject) e['objectId'] = model.nextId();
        if (r.objectTypeId !== undefined) e['objectTypeId'] = r.objectTypeId;
        out.push(e);
        break;
      }
      case 'foreign':
        out.push({
          ...base(),
          portalId: r.portal,
          objectId: model.nextId(),
          subscriptionType: 'contact.creation',
        });
        break;
    }
  }
  // Within one request, the first event of a key makes the row; later ones are duplicates.
  const seen = new Set<string>();
  const fresh = rows.filter((r) => !model.rows.has(r.key) && !seen.has(r.key) && seen.add(r.key));
  return { events: out, accepted, rows: fresh };
}

function headerName(name: string, upper: boolean): string {
  return upper ? name.replace(/(^|-)([a-z])/g, (_m, d: string, c: string) => d + c.toUpperCase()) : name;
}

function signedHeaders(
  c: Common,
  sig: string | string[] | undefined,
  ts: string | string[] | undefined,
  more: Record<string, string | string[]> = {},
): Record<string, string | string[]> {
  const h: Record<string, string | string[]> = {};
  if (c.ct !== null) h['content-type'] = c.ct;
  if (sig !== undefined) h[headerName('x-hubspot-signature-v3', c.upperHeaders)] = sig;
  if (ts !== undefined) h[headerName('x-hubspot-request-timestamp', c.upperHeaders)] = ts;
  return { ...h, ...more };
}

/** A correctly signed POST of `body` to `path` at timestamp `ts`. */
function signedWire(c: Common, body: Buffer, ts: number, path = WEBHOOK): Wire {
  const t = String(ts);
  return {
    method: 'POST',
    path,
    headers: signedHeaders(c, v3Signature(SECRET, 'POST', PUBLIC_URL + path, body, t), t),
    body,
    chunked: c.chunked,
  };
}

/** Header values must be Latin-1 without control characters on the wire. */
function headerSafe(s: string): string {
  return (
    Buffer.from(s.slice(0, 200), 'utf8')
      .toString('latin1')
      // eslint-disable-next-line no-control-regex -- removing control characters is the point
      .replace(/[\x00-\x1f\x7f]/g, '')
      .trim()
  );
}

function freshBody(model: Model, recipes: EventRecipe[]): Buffer {
  return Buffer.from(JSON.stringify(buildEvents(recipes, model, false).events));
}

const WRONG_TYPES: Array<[string, string]> = [
  ['eventId', '-1'],
  ['eventId', '1.5'],
  ['eventId', 'true'],
  ['eventId', 'null'],
  ['eventId', '{}'],
  ['eventId', '[]'],
  ['eventId', '""'],
  ['eventId', '"abc"'],
  ['eventId', '" 1"'],
  ['eventId', '"1e3"'],
  ['eventId', '"\\u0661\\u0662"'],
  ['eventId', '"\\ud800"'],
  ['portalId', '"123 "'],
  ['portalId', '[123]'],
  ['portalId', '-123'],
  ['objectId', 'null'],
  ['objectId', '"x"'],
  ['objectId', '1e400'],
  ['occurredAt', '"2026-01-05"'],
  ['occurredAt', '-1'],
  ['occurredAt', '1.25'],
  ['occurredAt', 'null'],
  ['occurredAt', '1e400'],
  ['subscriptionType', '1'],
  ['subscriptionType', '""'],
  ['subscriptionType', 'null'],
  ['subscriptionType', '["contact.creation"]'],
  ['propertyValue', '{}'],
  ['propertyValue', '["DE"]'],
  ['attemptNumber', '"0"'],
  ['attemptNumber', '-1'],
  ['appId', '{"id":1}'],
  ['subscriptionId', 'false'],
  ['objectTypeId', '1'],
  ['propertyName', '42'],
  ['changeSource', '[]'],
  ['sourceId', '{}'],
];
const REQUIRED = ['eventId', 'portalId', 'occurredAt', 'subscriptionType'];
const UNSAFE = ['9007199254740993', '18446744073709551616', '1e21', '99999999999999999999999'];
const NOT_ARRAYS = ['{}', 'null', '1', '"x"', 'true', '{"0":{}}', '[null]', '[1]', '["x"]', '[[]]', '[{}]'];

/** A valid event whose field `field` is replaced by the raw JSON text `raw`. */
function eventWithRaw(model: Model, field: string, raw: string): Buffer {
  const e: Record<string, unknown> = {
    eventId: model.nextId(),
    subscriptionId: 1,
    portalId: PORTAL,
    appId: APP_ID,
    occurredAt: model.now,
    subscriptionType: 'contact.propertyChange',
    attemptNumber: 0,
    objectId: model.nextId(),
    objectTypeId: '0-1',
    propertyName: 'country',
    propertyValue: 'DE',
    changeSource: 'CRM_UI',
    sourceId: 'userId:1',
    [field]: '\u0000RAW\u0000',
  };
  return Buffer.from(JSON.stringify([e]).replace('"\\u0000RAW\\u0000"', raw));
}

function planBody(r: Extract<Recipe, { k: 'body' }>, model: Model): Buffer {
  const valid = (): Buffer => freshBody(model, [ONE_CREATION]);
  switch (r.how) {
    case 'malformed-json': {
      const good = valid().toString('utf8');
      const forms = [
        good.slice(0, r.n % good.length),
        `${good}x`,
        `${good}]`,
        `\ufeff${good}`,
        good.replace(/"/g, "'"),
        good.replace(/\d+/, 'NaN'),
        `/* c */${good}`,
        good.replace(/}]$/, ',}]'),
        `${r.s}[`,
        '',
      ];
      return Buffer.from(forms[r.m % forms.length] ?? '');
    }
    case 'wrong-type': {
      const [field, raw] = WRONG_TYPES[r.n % WRONG_TYPES.length] ?? ['eventId', 'null'];
      return eventWithRaw(model, field, raw);
    }
    case 'missing-field': {
      const field = REQUIRED[r.n % REQUIRED.length] ?? 'eventId';
      const [e] = JSON.parse(eventWithRaw(model, 'propertyValue', '"DE"').toString('utf8')) as Record<
        string,
        unknown
      >[];
      const copy = { ...e };
      delete copy[field];
      return Buffer.from(JSON.stringify([copy]));
    }
    case 'not-an-array':
      return Buffer.from(NOT_ARRAYS[r.n % NOT_ARRAYS.length] ?? '{}');
    case 'empty-array':
      return Buffer.from(r.n % 2 === 0 ? '[]' : ' [ ] ');
    case 'too-many-events': {
      // Each event alone would be accepted: the batch as a whole is refused.
      const n = 101 + (r.n % 400);
      const recipes = Array.from({ length: n }, (): EventRecipe => ({
        t: 'create',
        via: 'contact',
        twin: false,
        src: {},
        extra: undefined,
      }));
      return freshBody(model, recipes);
    }
    case 'huge-array': {
      const item = ['1', '{}', 'null', '[]'][r.m % 4] ?? '1';
      // As many elements as fit under the body limit (the limit has its own case).
      const n = 1_000 + (r.n % (Math.floor(LIMIT / (item.length + 1)) - 1_001));
      return Buffer.from(`[${Array<string>(n).fill(item).join(',')}]`);
    }
    case 'deep-nesting': {
      const depth = 100 + (r.n % 150_000);
      const shapes = [
        () => '['.repeat(depth) + ']'.repeat(depth),
        () => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth),
        () => `[{"eventId":${'['.repeat(depth)}${']'.repeat(depth)}}]`,
        () => eventWithRaw(model, 'propertyValue', '['.repeat(depth) + ']'.repeat(depth)).toString('utf8'),
        () => '['.repeat(depth),
      ];
      return Buffer.from((shapes[r.m % shapes.length] ?? shapes[0]!)());
    }
    case 'unsafe-integer-id':
      return eventWithRaw(
        model,
        ['eventId', 'objectId', 'portalId'][r.m % 3] ?? 'eventId',
        UNSAFE[r.n % UNSAFE.length] ?? UNSAFE[0]!,
      );
    case 'binary-junk': {
      const bytes = Buffer.alloc(1 + (r.n % 4096));
      for (let i = 0; i < bytes.length; i++) bytes[i] = (r.m * 31 + i * 17 + (i >> 3)) & 0xff;
      return bytes;
    }
  }
}

function plan(r: Recipe, model: Model): Planned {
  const now = model.now;
  switch (r.k) {
    case 'valid': {
      const built = buildEvents(r.events, model, r.stringIds);
      const ts = now + r.offset;
      const body = Buffer.from(
        r.pretty ? `\n ${JSON.stringify(built.events, null, '\t')}\t\r\n` : JSON.stringify(built.events),
      );
      return {
        kind: 'valid',
        valid: true,
        wire: signedWire(r.c, body, ts, r.path),
        expect: { status: 200, accepted: built.accepted, rows: built.rows },
        ts,
      };
    }
    case 'exact-limit': {
      const built = buildEvents([ONE_CREATION], model, false);
      const bare = JSON.stringify(built.events).length;
      const padded = built.events.map((e) => ({
        ...e,
        padding: 'x'.repeat(LIMIT - bare - ',"padding":""'.length),
      }));
      const body = Buffer.from(JSON.stringify(padded));
      expect(body.length).toBe(LIMIT);
      return {
        kind: 'valid: exactly the body limit',
        valid: true,
        wire: signedWire(r.c, body, now),
        expect: { status: 200, accepted: built.accepted, rows: built.rows },
      };
    }
    case 'replay': {
      const sent = model.history[r.pick % Math.max(1, model.history.length)];
      if (sent === undefined)
        return plan(
          {
            k: 'valid',
            events: [ONE_CREATION],
            offset: 0,
            path: WEBHOOK,
            pretty: false,
            stringIds: false,
            c: r.c,
          },
          model,
        );
      if (Math.abs(now - sent.ts) > WINDOW_MS)
        return { kind: 'stale-replay', valid: false, wire: sent.wire, expect: { status: 401 } };
      return {
        kind: 'valid: exact replay',
        valid: true,
        wire: sent.wire,
        expect: { status: 200, accepted: sent.accepted, rows: [] },
      };
    }
    case 'sig':
      return planSig(r, model);
    case 'body':
      return {
        kind: r.how,
        valid: false,
        wire: signedWire(r.c, planBody(r, model), now),
        expect: { status: 400 },
      };
    case 'size': {
      if (r.how === 'gzip-bomb') {
        const wire = signedWire(r.c, bombs[r.n % bombs.length] ?? bombs[0]!, now);
        wire.headers['content-encoding'] = 'gzip';
        return { kind: r.how, valid: false, wire, expect: { status: 413 } };
      }
      const built = buildEvents([ONE_CREATION], model, false);
      const padded = built.events.map((e) => ({ ...e, padding: 'x'.repeat(LIMIT + r.n) }));
      const body = Buffer.from(JSON.stringify(padded));
      const wire = signedWire(r.c, body, now);
      if (r.how === 'oversized-unsigned') wire.headers = signedHeaders(r.c, undefined, undefined);
      return { kind: r.how, valid: false, wire, expect: { status: 413 } };
    }
    case 'encoding': {
      const junk = Buffer.from('this is not compressed at all');
      const wire = signedWire(r.c, junk, now);
      wire.headers['content-encoding'] =
        r.how === 'gzip-junk' ? 'gzip' : r.how === 'deflate-junk' ? 'deflate' : 'x-snappy';
      return {
        kind: r.how,
        valid: false,
        wire,
        expect: { status: r.how === 'unknown-encoding' ? 415 : 400 },
      };
    }
    case 'route': {
      const body = freshBody(model, [ONE_CREATION]);
      if (r.how === 'method') {
        const method = ['GET', 'PUT', 'PATCH', 'DELETE'][r.n % 4] ?? 'GET';
        const t = String(now);
        const wire: Wire = {
          method,
          path: WEBHOOK,
          headers: signedHeaders(r.c, v3Signature(SECRET, method, PUBLIC_URL + WEBHOOK, body, t), t),
          body,
        };
        return { kind: 'wrong-method', valid: false, wire, expect: { status: 404 } };
      }
      const path =
        ['/webhooks/hubspotx', '/webhooks', '/webhook/hubspot', `${WEBHOOK}/extra`, '/webhooks/hub%73pot%00'][
          r.n % 5
        ] ?? '/';
      return {
        kind: 'wrong-path',
        valid: false,
        wire: signedWire(r.c, body, now, path),
        expect: { status: 404 },
      };
    }
  }
}

function planSig(r: Extract<Recipe, { k: 'sig' }>, model: Model): Planned {
  const now = model.now;
  const body = freshBody(model, r.events);
  const t = String(now);
  const good = v3Signature(SECRET, 'POST', PUBLIC_URL + WEBHOOK, body, t);
  const bad = (wire: Wire, kind: string = r.how): Planned => ({
    kind,
    valid: false,
    wire,
    expect: { status: 401 },
  });
  const post = (headers: Record<string, string | string[]>, b: Buffer = body, path = WEBHOOK): Wire => ({
    method: 'POST',
    path,
    headers,
    body: b,
    chunked: r.c.chunked,
  });
  switch (r.how) {
    case 'unsigned':
      return bad(post(signedHeaders(r.c, undefined, undefined)));
    case 'no-timestamp':
      return bad(post(signedHeaders(r.c, good, r.n % 2 === 0 ? undefined : '')));
    case 'no-signature':
      return bad(post(signedHeaders(r.c, r.n % 2 === 0 ? undefined : '', t)));
    case 'wrong-secret': {
      const secrets = [SECRET.slice(0, -1), `${SECRET} `, SECRET.toUpperCase(), '', headerSafe(r.s) || 'x'];
      const secret = secrets[r.n % secrets.length] ?? 'x';
      return bad(post(signedHeaders(r.c, v3Signature(secret, 'POST', PUBLIC_URL + WEBHOOK, body, t), t)));
    }
    case 'tampered': {
      const forms: Buffer[] = [
        Buffer.concat([body, Buffer.from(' ')]),
        Buffer.from(body.toString('utf8').replace(/\d/, (d) => String((Number(d) + 1) % 10))),
        body.subarray(0, body.length - 1),
      ];
      const flipped = Buffer.from(body);
      const i = r.pick % flipped.length;
      flipped[i] = (flipped[i] ?? 0) ^ (1 << (r.n % 8));
      forms.push(flipped);
      return bad(post(signedHeaders(r.c, good, t), forms[r.pick % forms.length] ?? flipped));
    }
    case 'tampered-invalid-utf8': {
      // A string value holding a byte that is not UTF-8, signed; then that byte is swapped for another
      // invalid one. Both decode to U+FFFD, so only a signature over the raw bytes tells them apart.
      const text = JSON.stringify([
        {
          eventId: model.nextId(),
          portalId: PORTAL,
          occurredAt: now,
          subscriptionType: 'contact.propertyChange',
          objectId: model.nextId(),
          propertyName: 'city',
          propertyValue: 'K\u0001ln',
        },
      ]);
      const [head, tail] = text.split('\\u0001');
      const INVALID = [0xff, 0xfe, 0x80, 0xc0, 0xc1, 0xf8];
      const a = INVALID[r.n % INVALID.length] ?? 0xff;
      const b = INVALID[(r.n + 1 + (r.pick % (INVALID.length - 1))) % INVALID.length] ?? 0xfe;
      const signed = Buffer.concat([Buffer.from(head ?? ''), Buffer.from([a]), Buffer.from(tail ?? '')]);
      const sent = Buffer.concat([Buffer.from(head ?? ''), Buffer.from([b]), Buffer.from(tail ?? '')]);
      return bad(
        post(signedHeaders(r.c, v3Signature(SECRET, 'POST', PUBLIC_URL + WEBHOOK, signed, t), t), sent),
      );
    }
    case 'wrong-uri': {
      const path = `${WEBHOOK}?q=a%20b%3Ac`;
      const over = [
        `https://evil.example.com${path}`,
        `http://router.example.com${path}`,
        `${PUBLIC_URL}${WEBHOOK}`,
        `${PUBLIC_URL}${WEBHOOK}?q=a b:c`, // fully decoded
        `${PUBLIC_URL}${path}/`,
        `${PUBLIC_URL}/${path}`,
      ];
      const uri = over[r.n % over.length] ?? over[0]!;
      // v3Signature decodes HubSpot's table itself; the "undecoded" variant is signed by hand.
      const sig =
        r.pick % 5 === 0
          ? createHmac('sha256', SECRET)
              .update(Buffer.concat([Buffer.from(`POST${PUBLIC_URL}${path}`), body, Buffer.from(t)]))
              .digest('base64')
          : v3Signature(SECRET, 'POST', uri, body, t);
      return bad(post(signedHeaders(r.c, sig, t), body, path));
    }
    case 'stale':
    case 'future': {
      const ts = String(r.how === 'stale' ? now - WINDOW_MS - r.n : now + WINDOW_MS + r.n);
      return bad(post(signedHeaders(r.c, v3Signature(SECRET, 'POST', PUBLIC_URL + WEBHOOK, body, ts), ts)));
    }
    case 'bad-timestamp': {
      const forms = [
        `${t}.0`,
        `+${t}`,
        `-${t}`,
        `${now / 1000}`,
        '1.767e12',
        `0x${now.toString(16)}`,
        '9'.repeat(25),
        headerSafe(`${r.s}${t}`),
        headerSafe('١٧٦٧٦٠٣٦٠٠٠٠٠'),
        String((now / 1e3) | 0),
        'NaN',
        'Infinity',
      ]
        // A number in another spelling that still names a time within the window would be valid.
        .filter((f) => f !== '' && !(/^\d+$/.test(f) && Math.abs(Number(f) - now) <= WINDOW_MS));
      const ts = forms[r.n % forms.length] ?? 'NaN';
      return bad(post(signedHeaders(r.c, v3Signature(SECRET, 'POST', PUBLIC_URL + WEBHOOK, body, ts), ts)));
    }
    case 'garbage-signature': {
      const forms = [
        good.toLowerCase(),
        good.replace(/=+$/, ''),
        Buffer.from(good, 'base64').toString('hex'),
        Buffer.from(good, 'base64').toString('base64url'),
        createHmac('sha1', SECRET)
          .update(`POST${PUBLIC_URL}${WEBHOOK}${body.toString('utf8')}${t}`)
          .digest('base64'),
        `${good}${good}`,
        good.slice(1),
        'A'.repeat(44),
        headerSafe(r.s) || '=',
        'x'.repeat(8_000),
        v1Signature(SECRET, body),
      ].filter((f) => f !== good);
      return bad(post(signedHeaders(r.c, forms[r.n % forms.length] ?? '=', t)));
    }
    case 'v1-only':
      return bad(
        post({
          ...signedHeaders(r.c, undefined, undefined),
          'x-hubspot-signature': v1Signature(SECRET, body),
          'x-hubspot-signature-version': 'v1',
        }),
      );
    case 'v2-only':
      return bad(
        post({
          ...signedHeaders(r.c, undefined, undefined),
          'x-hubspot-signature': v2Signature(SECRET, 'POST', PUBLIC_URL + WEBHOOK, body),
          'x-hubspot-signature-version': 'v2',
        }),
      );
    case 'v3-wrong-v1-right':
      return bad(
        post({
          ...signedHeaders(r.c, good.slice(0, -2) + (good.endsWith('A=') ? 'B=' : 'A='), t),
          'x-hubspot-signature': v1Signature(SECRET, body),
          'x-hubspot-signature-version': 'v1',
        }),
      );
    case 'duplicate-headers':
      return bad(post(signedHeaders(r.c, r.n % 2 === 0 ? [good, good] : good, r.n % 2 === 0 ? t : [t, t])));
    case 'other-method': {
      const method = ['GET', 'post', 'PUT'][r.n % 3] ?? 'GET';
      return bad(post(signedHeaders(r.c, v3Signature(SECRET, method, PUBLIC_URL + WEBHOOK, body, t), t)));
    }
    case 'replayed-signature':
    case 'stale-replay': {
      const sent = model.history[r.pick % Math.max(1, model.history.length)];
      if (sent === undefined) return bad(post(signedHeaders(r.c, undefined, undefined)), 'unsigned');
      if (r.how === 'stale-replay') {
        // Only a delivery older than the window is a stale replay; a recent one is a valid replay.
        const olds = model.history.filter((s) => now - s.ts > WINDOW_MS);
        const old = olds[r.pick % Math.max(1, olds.length)];
        if (old === undefined) {
          const ts = String(now - WINDOW_MS - r.n);
          return bad(
            post(signedHeaders(r.c, v3Signature(SECRET, 'POST', PUBLIC_URL + WEBHOOK, body, ts), ts)),
            'stale',
          );
        }
        return bad(old.wire);
      }
      // A captured signature and timestamp put on another body, or the whole delivery sent elsewhere.
      if (r.n % 3 === 0)
        return bad({ ...sent.wire, path: sent.wire.path === WEBHOOK ? `${WEBHOOK}?` : WEBHOOK });
      return bad(post({ ...sent.wire.headers }));
    }
  }
}

// Compressed bodies that inflate far beyond the limit (a "zip bomb" costs ~100 bytes per MB).
const bombs = [2, 8, 32].map((mb) => gzipSync(Buffer.alloc(mb * 1024 * 1024, 0x20)));

// ---------------------------------------------------------------------------------------------------

let sandbox: HubSpotSandbox;
let sandboxUrl: string;
let app: App;
let storage: Storage;
let dir: string;
const model = new Model();
const figures = {
  webhook: {
    requests: 0,
    valid: 0,
    bad: 0,
    byKind: {} as Record<string, number>,
    byStatus: {} as Record<string, number>,
    ms: 0,
  },
  oauth: { requests: 0, byKind: {} as Record<string, number>, byStatus: {} as Record<string, number>, ms: 0 },
};
const bump = (m: Record<string, number>, k: string): void => {
  m[k] = (m[k] ?? 0) + 1;
};

beforeAll(async () => {
  sandbox = createHubSpotSandbox({ apps: [{ appId: APP_ID, clientId: CLIENT_ID, clientSecret: SECRET }] });
  sandbox.createPortal({ portalId: PORTAL });
  sandboxUrl = (await sandbox.start(0)).url;
  dir = mkdtempSync(join(tmpdir(), 'hostile-'));
  const file = join(dir, 'app.sqlite');
  app = await App.start({
    file,
    t0: T0,
    portal: PORTAL,
    secret: SECRET,
    clientId: CLIENT_ID,
    appId: APP_ID,
    publicUrl: PUBLIC_URL,
    oauthBaseUrl: sandboxUrl,
    modules: {
      storage: here('../../src/storage/index.ts'),
      server: here('../../src/server/index.ts'),
      log: here('../../src/log.ts'),
      oauth: here('../../connectors/hubspot/oauth.ts'),
      pushedIntake: here('../../connectors/hubspot/pushed-intake.ts'),
      crypto: here('../../connectors/shared/crypto.ts'),
    },
  });
  // A second connection to the same file: the test reads what the app committed.
  storage = await openStorage({ file });
}, 60_000);

afterAll(async () => {
  console.log(JSON.stringify(figures));
  agent.destroy();
  await storage?.close().catch(() => undefined);
  if (app !== undefined && app.exit === undefined) {
    const exited = new Promise<void>((resolve) => app.child.once('exit', () => resolve()));
    // A clean stop over IPC; if the app hangs, the process we started is killed.
    const timer = setTimeout(() => app.child.kill('SIGKILL'), 10_000);
    await Promise.race([app.call({ type: 'stop' }).catch(() => undefined), exited]);
    await exited;
    clearTimeout(timer);
  }
  await sandbox?.stop();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

async function inboxTotal(): Promise<number> {
  const s = await storage.inboxStats();
  return s.pending + s.leased + s.done + s.failed;
}

/** JSON with sorted keys: stored payloads keep the schema's key order, not ours. */
function canon(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x !== null && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : x,
  );
}

function describeMismatch(p: Planned, a: Answer, why: string): string {
  const body = a.body.toString('utf8').slice(0, 200);
  return `${p.kind} ${p.wire.method} ${p.wire.path.slice(0, 80)} (${p.wire.body.length} bytes): ${why}; got ${a.status} ${body}`;
}

describe('POST /webhooks/hubspot under hostile input', () => {
  it('answers every bad request with a 4xx and records nothing; every valid one is recorded exactly once', async () => {
    const started = Date.now();
    let batchNo = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(recipe, { minLength: BATCH, maxLength: BATCH }), async (recipes) => {
        model.now = T0 + ++batchNo * STEP_MS;
        await app.setClock(model.now);
        const planned = recipes.map((r) => plan(r, model));
        const before = await inboxTotal();
        const answers = await Promise.all(planned.map((p) => send(app.url, p.wire)));
        const after = await inboxTotal();

        const mismatches: string[] = [];
        let fresh = 0;
        planned.forEach((p, i) => {
          const a = answers[i]!;
          figures.webhook.requests += 1;
          figures.webhook[p.valid ? 'valid' : 'bad'] += 1;
          bump(figures.webhook.byKind, p.kind);
          bump(figures.webhook.byStatus, String(a.status));
          if (a.status !== p.expect.status) {
            mismatches.push(describeMismatch(p, a, `expected ${p.expect.status}`));
            return;
          }
          if (a.status === 401 && a.body.length > 0)
            mismatches.push(describeMismatch(p, a, '401 must be bare'));
          if (!p.valid) return;
          const rows = p.expect.rows ?? [];
          const want = { ok: true, accepted: p.expect.accepted, new: rows.length };
          const got: unknown = JSON.parse(a.body.toString('utf8'));
          if (JSON.stringify(got) !== JSON.stringify(want))
            mismatches.push(describeMismatch(p, a, `expected ${JSON.stringify(want)}`));
          fresh += rows.length;
          for (const row of rows) model.rows.set(row.key, row.payload);
          // Small deliveries are kept for replays (the big ones would only cost memory).
          if (p.ts !== undefined && p.wire.body.length <= 64 * 1024)
            model.history.push({ wire: p.wire, ts: p.ts, accepted: p.expect.accepted ?? 0 });
        });
        expect(mismatches).toEqual([]);
        // Bad requests added nothing and valid ones exactly their new events.
        expect(after - before).toBe(fresh);
        expect(app.exit).toBeUndefined();
      }),
      { numRuns: RUNS, endOnFailure: true },
    );
    figures.webhook.ms = Date.now() - started;

    expect(figures.webhook.requests).toBeGreaterThanOrEqual(10_000);
    expect(figures.webhook.byStatus['500'] ?? 0).toBe(0);

    // The inbox holds exactly the model's rows, with their content intact (unicode included).
    const rows = await storage.db.all<{
      subscription: string;
      event_id: string;
      object_id: string;
      payload: string;
    }>('SELECT subscription, event_id, object_id, payload FROM inbox');
    expect(rows.length).toBe(model.rows.size);
    const mismatched = rows.filter((row) => {
      const want = model.rows.get(`${row.subscription}\0${row.event_id}`);
      return (
        want === undefined ||
        canon(JSON.parse(row.payload)) !== canon(want) ||
        row.object_id !== want['objectId']
      );
    });
    expect(mismatched.slice(0, 5)).toEqual([]);
    const report = await app.report();
    expect(report.enqueued).toBe(model.rows.size);
  }, 300_000);
});

// ---------------------------------------------------------------------------------------------------
// OAuth install and callback query strings.

/** A query value: fully percent-encoded (so its decoded form is known), or raw malformed escapes. */
const queryValue = fc.oneof(
  {
    weight: 6,
    arbitrary: nastyString.map((s) => s.slice(0, 300)).map((s) => ({ raw: encodeBytes(s), decoded: s })),
  },
  {
    weight: 2,
    arbitrary: fc
      .constantFrom(
        '%ZZ',
        '%',
        '%E0%A4%A',
        '%00',
        '%C0%AF',
        '%ED%A0%80',
        '%3Cscript%3Ealert(1)%3C%2Fscript%3E',
      )
      .map((raw) => ({ raw, decoded: undefined })),
  },
  // Long values: over the 2048 the schema allows, and now and then over Node's 16 KiB head limit.
  {
    weight: 1,
    arbitrary: fc.nat({ max: 20_000 }).map((n) => ({ raw: 'a'.repeat(n), decoded: 'a'.repeat(n) })),
  },
);
const noiseKey = fc
  .oneof(
    fc.constantFrom(
      '__proto__',
      'constructor',
      'toString',
      'hasOwnProperty',
      'portalId[]',
      'portalid',
      'scope',
      'redirect_uri',
    ),
    nastyString,
  )
  .filter((k) => k !== '' && !['portalId', 'code', 'state', 'error', 'error_description'].includes(k));

type OAuthRecipe =
  | {
      k: 'install';
      portal: 'absent' | 'valid' | 'invalid' | 'repeated';
      digits: string;
      value: { raw: string; decoded: string | undefined };
      noise: Array<[string, { raw: string }]>;
    }
  | {
      k: 'callback';
      shape: 'code' | 'error' | 'both' | 'none' | 'repeated';
      realState: boolean;
      code: { raw: string };
      error: { raw: string };
      description: { raw: string } | undefined;
      noise: Array<[string, { raw: string }]>;
    }
  | { k: 'path'; n: number };

const oauthRecipe: fc.Arbitrary<OAuthRecipe> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      k: fc.constant('install' as const),
      portal: fc.constantFrom('absent' as const, 'valid' as const, 'invalid' as const, 'repeated' as const),
      digits: fc.stringMatching(/^\d{1,20}$/),
      value: queryValue,
      noise: fc.array(fc.tuple(noiseKey, queryValue), { maxLength: 3 }),
    }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      k: fc.constant('callback' as const),
      shape: fc.constantFrom(
        'code' as const,
        'error' as const,
        'both' as const,
        'none' as const,
        'repeated' as const,
      ),
      realState: fc.boolean(),
      code: queryValue,
      error: queryValue,
      description: fc.option(queryValue, { nil: undefined }),
      noise: fc.array(fc.tuple(noiseKey, queryValue), { maxLength: 3 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('path' as const), n: fc.nat() }) },
);

const qs = (pairs: Array<[string, string]>): string =>
  pairs.map(([k, v]) => `${encodeBytes(k)}=${v}`).join('&');
/** Node refuses request heads above 16 KiB with 431 before any route runs; near the edge, either. */
const headLimit = (path: string, expected: number[]): number[] =>
  path.length > 16_384 ? [431] : path.length > 15_000 ? [...expected, 431] : expected;

async function get(path: string): Promise<Answer & { location: string | undefined }> {
  const url = new URL(app.url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, method: 'GET', path, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), location: res.headers.location }),
      );
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      // An oversized head is refused with 431 and the socket closed, sometimes before we read the 431.
      if (path.length > 15_000 && (err.code === 'ECONNRESET' || err.code === 'EPIPE'))
        resolve({ status: 431, body: Buffer.alloc(0), location: undefined });
      else reject(err);
    });
    req.end();
  });
}

async function issuedState(): Promise<string> {
  const r = await get('/oauth/hubspot/install');
  expect(r.status).toBe(302);
  return new URL(r.location ?? '').searchParams.get('state') ?? '';
}

describe('OAuth install and callback under hostile query strings', () => {
  it('answers 4xx (or the redirect for a good install link), never 5xx, and escapes what it echoes', async () => {
    const started = Date.now();
    await fc.assert(
      fc.asyncProperty(fc.array(oauthRecipe, { minLength: 6, maxLength: 6 }), async (recipes) => {
        const mismatches: string[] = [];
        for (const r of recipes) {
          let path: string;
          let expected: number[];
          let kind: string = r.k;
          if (r.k === 'install') {
            const pairs: Array<[string, string]> = r.noise.map(([k, v]) => [k, v.raw]);
            const invalidValue =
              r.value.decoded === undefined || !/^\d{1,20}$/.test(r.value.decoded) ? r.value.raw : 'x1';
            if (r.portal === 'valid') pairs.push(['portalId', r.digits]);
            if (r.portal === 'invalid') pairs.push(['portalId', invalidValue]);
            if (r.portal === 'repeated') pairs.push(['portalId', r.digits], ['portalId', r.digits]);
            path = `/oauth/hubspot/install?${qs(pairs)}`;
            expected = r.portal === 'absent' || r.portal === 'valid' ? [302] : [400];
            kind = `install: portalId ${r.portal}`;
          } else if (r.k === 'callback') {
            const state = r.realState ? await issuedState() : 'not-a-state';
            figures.oauth.requests += r.realState ? 1 : 0;
            const pairs: Array<[string, string]> = r.noise.map(([k, v]) => [k, v.raw]);
            if (r.shape === 'code' || r.shape === 'both') pairs.push(['code', r.code.raw]);
            if (r.shape === 'error' || r.shape === 'both') pairs.push(['error', r.error.raw]);
            if (r.shape === 'repeated') pairs.push(['code', r.code.raw], ['code', r.code.raw]);
            if (r.description !== undefined) pairs.push(['error_description', r.description.raw]);
            if (r.shape !== 'none') pairs.push(['state', encodeBytes(state)]);
            path = `/oauth/hubspot/callback?${qs(pairs)}`;
            // No hostile callback can install anything: an unknown state, a refused code or an error.
            expected = [400];
            kind = `callback: ${r.shape}${r.realState ? ' with an issued state' : ''}`;
          } else {
            const paths = [
              '/oauth/hubspot/callback/%ZZ',
              '/oauth/hubspot/install/..',
              '/oauth/hubspot/%00',
              '/oauth/hubspot/install/%E0%A4%A',
            ];
            path = paths[r.n % paths.length] ?? '/oauth';
            expected = [404];
            kind = 'oauth: wrong path';
          }
          expected = headLimit(path, expected);
          const a = await get(path);
          figures.oauth.requests += 1;
          bump(figures.oauth.byKind, kind);
          bump(figures.oauth.byStatus, String(a.status));
          if (!expected.includes(a.status))
            mismatches.push(
              `${kind} ${path.slice(0, 120)}: expected ${expected.join('|')}, got ${a.status} ${a.body.toString('utf8').slice(0, 300)}`,
            );
          // Whatever HubSpot "reported" is shown as text, never as markup.
          if (a.body.toString('utf8').includes('<script>'))
            mismatches.push(`${kind}: unescaped markup in the page`);
        }
        expect(mismatches).toEqual([]);
        expect(app.exit).toBeUndefined();
      }),
      { numRuns: OAUTH_RUNS, endOnFailure: true },
    );
    figures.oauth.ms = Date.now() - started;
  }, 200_000);
});

describe('after all of it', () => {
  it('the app process is alive, answers its probes, never faulted and never logged the secret', async () => {
    expect(app.exit).toBeUndefined();
    expect((await get('/healthz')).status).toBe(200);
    expect((await get('/readyz')).status).toBe(200);
    const report = await app.report();
    expect(report.faults).toEqual({ uncaught: [], unhandled: [] });
    expect(report.secretLogged).toBe(false);
    expect(report.logLines).toBeGreaterThan(0);
    // No OAuth probe installed anything: the only tenant is the one the app started with.
    expect((await storage.listTenants()).map((t) => t.externalId)).toEqual([String(PORTAL)]);
  });
});
