// The REST API under /services/data/vXX.X: query/queryMore, sObject basic and describe, create, read,
// update, sObject Collections (create, update, retrieve; at most 200 records; allOrNone) and the
// assignTargetToSalesCadence standard action. Auth, limits and faults run before (server.ts).
import { randomUUID } from 'node:crypto';
import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import type { Clock } from '../../sandbox-kit/clock.js';
import {
  SalesforceHttpError,
  RecordRejected,
  asHttpError,
  malformedId,
  notFound,
  recordError,
  type RecordError,
} from '../errors.js';
import { keyPrefix, toId18 } from '../ids.js';
import { Transaction, type Org, type PreparedWrite, type SRecord, type WriteContext } from '../org.js';
import type { SfSession } from '../oauth.js';
import { objectDef, objectOfPrefix, SOBJECTS, type ObjectDef } from '../schema.js';
import { runQuery, type OutRecord } from '../soql.js';

export const COLLECTION_LIMIT = 200;

export interface ApiLocals {
  org: Org;
  session: SfSession;
}

export function apiLocals(res: Response): ApiLocals {
  const l = res.locals as Partial<ApiLocals>;
  if (l.org === undefined || l.session === undefined)
    throw new SalesforceHttpError(401, 'INVALID_SESSION_ID', 'Session expired or invalid');
  return { org: l.org, session: l.session };
}

const param = (req: Request, name: string): string =>
  String((req.params as Record<string, string>)[name] ?? '');
const versionOf = (req: Request) => param(req, 'version').replace(/^v/, '');
const baseUrl = (req: Request) => `/services/data/v${versionOf(req)}`;

/**
 * The write's context from the request's headers (Sforce-Auto-Assign, Sforce-Call-Options,
 * Sforce-Duplicate-Rule-Header).
 */
export function writeContext(req: Request, session: SfSession): WriteContext {
  const header = (req.header('sforce-auto-assign') ?? 'TRUE').trim();
  const autoAssign = /^false$/i.test(header) ? false : /^true$/i.test(header) ? true : header;
  const client = /(?:^|,)\s*client=([^,]+)/.exec(req.header('sforce-call-options') ?? '')?.[1]?.trim();
  const origin = `com/salesforce/api/rest/${versionOf(req)}`;
  const duplicateRules = req.header('sforce-duplicate-rule-header') ?? '';
  return {
    userId: session.userId,
    autoAssign,
    allowSave: /(?:^|[;,])\s*allowSave\s*=\s*true\b/i.test(duplicateRules),
    changeOrigin: client === undefined ? origin : `${origin};client=${client}`,
    source: 'api',
  };
}

function sobjectOf(req: Request): ObjectDef {
  const obj = objectDef(param(req, 'type'));
  if (obj === undefined)
    throw new SalesforceHttpError(404, 'NOT_FOUND', `The requested resource does not exist`);
  return obj;
}

function outRecord(obj: ObjectDef, rec: SRecord, base: string, fields?: string[]): OutRecord {
  const out: OutRecord = {
    attributes: { type: obj.name, url: `${base}/sobjects/${obj.name}/${String(rec['Id'])}` },
  };
  const names = fields ?? [...obj.fields.keys()];
  for (const name of names) {
    const f = [...obj.fields.values()].find((x) => x.name.toLowerCase() === name.toLowerCase());
    if (f === undefined)
      throw new SalesforceHttpError(
        400,
        'INVALID_FIELD',
        `No such column '${name}' on sobject of type ${obj.name}`,
      );
    out[f.name] = rec[f.name] ?? null;
  }
  return out;
}

function describe(obj: ObjectDef) {
  return {
    name: obj.name,
    label: obj.label,
    labelPlural: obj.labelPlural,
    keyPrefix: obj.keyPrefix,
    createable: true,
    updateable: true,
    queryable: true,
    retrieveable: true,
    custom: false,
    urls: { sobject: `/sobjects/${obj.name}`, describe: `/sobjects/${obj.name}/describe` },
  };
}

interface Cursor {
  records: OutRecord[];
  totalSize: number;
  batch: number;
}

/** Open query cursors per org; the oldest are dropped past this many (real orgs cap them per user). */
const MAX_CURSORS = 50;

const cadenceInput = z.object({
  salesCadenceNameOrId: z.string().min(1),
  targetId: z.string().min(1),
  userId: z.string().optional(),
  startStepNameOrId: z.string().optional(),
  relatedToId: z.string().optional(),
});

export function restRouter(clock: Clock): Router {
  const r = Router({ mergeParams: true });
  const cursors = new Map<string, Cursor>();
  let cursorSeq = 0;

  const answerQuery = (
    req: Request,
    res: Response,
    records: OutRecord[],
    totalSize: number,
    from: number,
    batch: number,
    locator?: string,
  ) => {
    const page = records.slice(from, from + batch);
    const next = from + batch;
    const done = next >= records.length;
    let key = locator;
    if (!done && key === undefined) {
      key = `01g8d0000${(++cursorSeq).toString(36).padStart(6, '0').toUpperCase()}`;
      cursors.set(key, { records, totalSize, batch });
      while (cursors.size > MAX_CURSORS) cursors.delete(cursors.keys().next().value as string);
    }
    res.json({
      totalSize,
      done,
      ...(done ? {} : { nextRecordsUrl: `${baseUrl(req)}/query/${key}-${next}` }),
      records: page,
    });
  };

  const query = (req: Request, res: Response) => {
    const { org } = apiLocals(res);
    const q = req.query['q'];
    if (typeof q !== 'string' || q.trim() === '')
      throw new SalesforceHttpError(400, 'MALFORMED_QUERY', 'A query string has to be specified');
    const answer = runQuery(org, q, { now: clock.now(), baseUrl: baseUrl(req) });
    // Sforce-Query-Options: batchSize=N (200..2000, default 2000).
    const asked = Number(/batchSize=(\d+)/i.exec(req.header('sforce-query-options') ?? '')?.[1] ?? 2000);
    const batch = Math.min(2000, Math.max(200, asked));
    answerQuery(req, res, answer.records, answer.totalSize, 0, batch);
  };
  r.get('/query', query);
  r.get('/queryAll', query);
  r.get('/query/:locator', (req, res) => {
    const [key = '', pos = ''] = param(req, 'locator').split('-');
    const cursor = cursors.get(key);
    const from = Number(pos);
    if (cursor === undefined || !Number.isInteger(from) || from <= 0)
      throw new SalesforceHttpError(400, 'INVALID_QUERY_LOCATOR', 'invalid query locator');
    answerQuery(req, res, cursor.records, cursor.totalSize, from, cursor.batch, key);
    if (from + cursor.batch >= cursor.records.length) cursors.delete(key);
  });

  r.get('/sobjects', (_req, res) => {
    res.json({
      encoding: 'UTF-8',
      maxBatchSize: COLLECTION_LIMIT,
      sobjects: [...SOBJECTS.values()].map(describe),
    });
  });
  r.get('/sobjects/:type', (req, res) => {
    res.json({ objectDescribe: describe(sobjectOf(req)), recentItems: [] });
  });
  r.get('/sobjects/:type/describe', (req, res) => {
    const { org } = apiLocals(res);
    const obj = sobjectOf(req);
    res.json({
      ...describe(obj),
      fields: [...obj.fields.values()].map((f) => ({
        name: f.name,
        type: f.type,
        label: f.name,
        createable: f.createable,
        updateable: f.updateable,
        nillable: !f.required,
        referenceTo: f.referenceTo ?? [],
        relationshipName: f.relationshipName ?? null,
        picklistValues: (org.picklistValues(f) ?? []).map((v) => ({ ...v, active: true })),
      })),
    });
  });

  r.post('/sobjects/:type', (req, res) => {
    const { org, session } = apiLocals(res);
    const obj = sobjectOf(req);
    const ctx = writeContext(req, session);
    try {
      const rec = org.create(obj.name, body(req), ctx, new Transaction(randomUUID()));
      res.status(201).json({ id: rec['Id'], success: true, errors: [] });
    } catch (err) {
      if (err instanceof RecordRejected) throw asHttpError(err);
      throw err;
    }
  });
  r.get('/sobjects/:type/:id', (req, res) => {
    const { org } = apiLocals(res);
    const obj = sobjectOf(req);
    const id = toId18(param(req, 'id'));
    if (id === undefined) throw malformedId(param(req, 'id'));
    const rec = org.get(id);
    if (rec === undefined || objectOfPrefix(keyPrefix(id))?.name !== obj.name) throw notFound();
    const fields =
      typeof req.query['fields'] === 'string' ? req.query['fields'].split(',').filter(Boolean) : undefined;
    res.json(outRecord(obj, rec, baseUrl(req), fields));
  });
  r.patch('/sobjects/:type/:id', (req, res) => {
    const { org, session } = apiLocals(res);
    const obj = sobjectOf(req);
    const id = toId18(param(req, 'id'));
    if (id === undefined) throw malformedId(param(req, 'id'));
    if (org.get(id) === undefined || objectOfPrefix(keyPrefix(id))?.name !== obj.name) throw notFound();
    try {
      org.update(id, body(req), writeContext(req, session), new Transaction(randomUUID()));
    } catch (err) {
      if (err instanceof RecordRejected) throw asHttpError(err);
      throw err;
    }
    res.status(204).end();
  });

  // sObject Collections: create (POST) and update (PATCH) up to 200 records of any types in one call.
  const collection = (mode: 'create' | 'update') => (req: Request, res: Response) => {
    const { org, session } = apiLocals(res);
    const parsed = z
      .object({ allOrNone: z.boolean().optional(), records: z.array(z.record(z.unknown())) })
      .safeParse(req.body);
    if (!parsed.success)
      throw new SalesforceHttpError(
        400,
        'JSON_PARSER_ERROR',
        `Invalid collection request: ${parsed.error.issues[0]?.message ?? ''}`,
      );
    const { allOrNone = false, records } = parsed.data;
    if (records.length > COLLECTION_LIMIT)
      throw new SalesforceHttpError(
        400,
        'EXCEEDED_ID_LIMIT',
        `record limit reached. cannot submit more than ${COLLECTION_LIMIT} records into this call`,
      );
    const ctx = writeContext(req, session);
    const tx = new Transaction(randomUUID());
    const prepare = (rec: Record<string, unknown>): PreparedWrite | RecordError[] => {
      const { attributes, id, ...fields } = rec;
      const type = (attributes as { type?: unknown } | undefined)?.type;
      try {
        if (mode === 'create') {
          if (typeof type !== 'string')
            return [recordError('INVALID_TYPE', 'Must specify a type in attributes', [])];
          return org.prepareCreate(type, fields, ctx);
        }
        if (typeof id !== 'string')
          return [recordError('MISSING_ARGUMENT', 'Id not specified in an update call', [])];
        return org.prepareUpdate(typeof type === 'string' ? type : undefined, id, fields, ctx);
      } catch (err) {
        if (err instanceof RecordRejected) return err.errors;
        throw err;
      }
    };
    if (allOrNone) {
      const prepared = records.map((rec) => prepare(rec));
      if (prepared.some((p) => Array.isArray(p))) {
        // Nothing is written; valid records report the rollback (ALL_OR_NONE_OPERATION_ROLLED_BACK).
        res.json(
          prepared.map((p) => ({
            id: null,
            success: false,
            errors: Array.isArray(p)
              ? p
              : [
                  recordError(
                    'ALL_OR_NONE_OPERATION_ROLLED_BACK',
                    'Record rolled back because not all records were valid and the request was using AllOrNone header',
                    [],
                  ),
                ],
          })),
        );
        return;
      }
      const ready = prepared.filter((p): p is PreparedWrite => !Array.isArray(p));
      res.json(ready.map((p) => ({ id: org.commit(p, ctx, tx)['Id'], success: true, errors: [] })));
      return;
    }
    res.json(
      records.map((rec) => {
        const p = prepare(rec);
        if (Array.isArray(p))
          return {
            id: typeof rec['id'] === 'string' && mode === 'update' ? rec['id'] : null,
            success: false,
            errors: p,
          };
        return { id: org.commit(p, ctx, tx)['Id'], success: true, errors: [] };
      }),
    );
  };
  r.post('/composite/sobjects', collection('create'));
  r.patch('/composite/sobjects', collection('update'));

  // Retrieve many: POST {ids, fields} (what jsforce sends) or GET ?ids=&fields=.
  const retrieveMany = (req: Request, res: Response, ids: string[], fields: string[]) => {
    const { org } = apiLocals(res);
    const obj = sobjectOf(req);
    if (ids.length > 2000) throw new SalesforceHttpError(400, 'EXCEEDED_ID_LIMIT', 'too many ids');
    res.json(
      ids.map((raw) => {
        const id = toId18(raw);
        const rec = id === undefined ? undefined : org.get(id);
        return rec === undefined || objectOfPrefix(keyPrefix(String(rec['Id'])))?.name !== obj.name
          ? null
          : outRecord(obj, rec, baseUrl(req), fields);
      }),
    );
  };
  r.post('/composite/sobjects/:type', (req, res) => {
    const b = z.object({ ids: z.array(z.string()), fields: z.array(z.string()).min(1) }).safeParse(req.body);
    if (!b.success) throw new SalesforceHttpError(400, 'JSON_PARSER_ERROR', 'ids and fields are required');
    retrieveMany(req, res, b.data.ids, b.data.fields);
  });
  r.get('/composite/sobjects/:type', (req, res) => {
    const list = (name: string) =>
      typeof req.query[name] === 'string' ? String(req.query[name]).split(',').filter(Boolean) : [];
    if (list('fields').length === 0)
      throw new SalesforceHttpError(400, 'MALFORMED_QUERY', 'fields is required');
    retrieveMany(req, res, list('ids'), list('fields'));
  });

  r.post('/actions/standard/assignTargetToSalesCadence', (req, res) => {
    const { org, session } = apiLocals(res);
    const parsed = z.object({ inputs: z.array(z.unknown()).min(1) }).safeParse(req.body);
    if (!parsed.success)
      throw new SalesforceHttpError(
        400,
        'JSON_PARSER_ERROR',
        'The request body must contain an "inputs" list',
      );
    const ctx = writeContext(req, session);
    const tx = new Transaction(randomUUID());
    res.json(parsed.data.inputs.map((raw) => enroll(org, raw, ctx, tx)));
  });

  r.get('/limits', (_req, res) => {
    const info = String(res.getHeader('Sforce-Limit-Info') ?? '');
    const [, used = '0', max = '0'] = /api-usage=(\d+)\/(\d+)/.exec(info) ?? [];
    res.json({ DailyApiRequests: { Max: Number(max), Remaining: Number(max) - Number(used) } });
  });
  return r;
}

function body(req: Request): Record<string, unknown> {
  const b: unknown = req.body;
  if (b === null || typeof b !== 'object' || Array.isArray(b))
    throw new SalesforceHttpError(400, 'JSON_PARSER_ERROR', 'The request body must be a JSON object');
  return b as Record<string, unknown>;
}

/**
 * One input of assignTargetToSalesCadence: the cadence (active, by name or id), a Lead or Contact not
 * already running a cadence, and the user who works it (given, or the target's owner when a user).
 * The statusCodes of refusals are UNCONFIRMED (salesforce.md §9); their messages say what is wrong.
 */
function enroll(org: Org, raw: unknown, ctx: WriteContext, tx: Transaction) {
  const fail = (statusCode: string, message: string, fields: string[] = []) => ({
    actionName: 'assignTargetToSalesCadence',
    errors: [{ statusCode, message, fields }],
    isSuccess: false,
    outputValues: null,
  });
  const input = cadenceInput.safeParse(raw);
  if (!input.success)
    return fail('REQUIRED_FIELD_MISSING', 'salesCadenceNameOrId and targetId are required', [
      'salesCadenceNameOrId',
      'targetId',
    ]);
  const { salesCadenceNameOrId: nameOrId, targetId, userId } = input.data;
  const byId = toId18(nameOrId);
  const cadence = org
    .all('ActionCadence')
    .find((c) => c['Id'] === byId || String(c['Name']).toLowerCase() === nameOrId.toLowerCase());
  if (cadence === undefined || cadence['State'] !== 'Active')
    return fail('INVALID_INPUT', `No active sales cadence found for "${nameOrId}".`, [
      'salesCadenceNameOrId',
    ]);
  const target = org.get(targetId);
  const targetType = target === undefined ? undefined : objectOfPrefix(keyPrefix(String(target['Id'])))?.name;
  if (target === undefined || (targetType !== 'Lead' && targetType !== 'Contact'))
    return fail('INVALID_CROSS_REFERENCE_KEY', `The target ${targetId} is not a lead or contact.`, [
      'targetId',
    ]);
  const running = org
    .all('ActionCadenceTracker')
    .some((t) => t['TargetId'] === target['Id'] && t['State'] === 'Running');
  if (running)
    return fail(
      'INVALID_INPUT',
      `The target ${String(target['Id'])} is already assigned to a sales cadence.`,
      ['targetId'],
    );
  const worker = userId ?? String(target['OwnerId']);
  const user = org.get(worker);
  if (user === undefined || keyPrefix(String(user['Id'])) !== '005')
    return fail(
      'INVALID_INPUT',
      'The target is owned by a queue: give the userId of the rep who works the cadence.',
      ['userId'],
    );
  if (user['IsActive'] !== true)
    return fail('INACTIVE_OWNER_OR_USER', `The user ${worker} is inactive.`, ['userId']);
  const tracker = org.create(
    'ActionCadenceTracker',
    { ActionCadenceId: cadence['Id'], TargetId: target['Id'], OwnerId: user['Id'] },
    { ...ctx, autoAssign: false },
    tx,
  );
  org.writes.append({
    orgId: org.orgId,
    kind: 'cadence.enrolled',
    sobject: targetType,
    objectId: String(target['Id']),
    at: Date.parse(String(tracker['CreatedDate']).replace('+0000', 'Z')),
    source: ctx.source,
    details: {
      cadenceId: String(cadence['Id']),
      cadence: String(cadence['Name']),
      userId: String(user['Id']),
      trackerId: String(tracker['Id']),
    },
  });
  return { actionName: 'assignTargetToSalesCadence', errors: null, isSuccess: true, outputValues: {} };
}
