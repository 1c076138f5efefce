// Shared pieces of the Salesforce contract tests: checksummed ids, a session on a fake org's tokens, and
// the documented answer shapes (REST query, sObject Collections, invocable actions, error bodies).
import type nock from 'nock';
import {
  SalesforceSession,
  type SalesforceApp,
  type SalesforceTokenSet,
  type SalesforceTokenStore,
} from '../../../connectors/salesforce/auth.js';
import { idChecksum } from '../../../connectors/salesforce/soql.js';

/** No real network, every interceptor used by the end of each test (the HubSpot suites' lifecycle). */
export { useNockContract as useNock } from '../hubspot/nock-contract.js';

export const INSTANCE = 'https://acme.my.salesforce.com';
export const LOGIN = 'https://login.salesforce.com';
export const API = '/services/data/v62.0';

/** A valid 18-character id: key prefix, a fixed middle, a counter, and its case checksum. */
export function sfId(prefix: string, n: number): string {
  const id15 = `${prefix}5g00000${String(n).padStart(5, '0')}`;
  return id15 + idChecksum(id15);
}

export const ORG_ID = sfId('00D', 1);
export const INSTALLER_ID = sfId('005', 99);

export const APP: SalesforceApp = {
  clientId: 'client-id',
  clientSecret: 'client-secret',
  redirectUri: 'https://router.example/oauth/salesforce/callback',
  loginUrl: LOGIN,
};

export function tokens(over: Partial<SalesforceTokenSet> = {}): SalesforceTokenSet {
  return {
    accessToken: 'access-1',
    refreshToken: 'refresh-1',
    instanceUrl: INSTANCE,
    orgId: ORG_ID,
    userId: INSTALLER_ID,
    issuedAt: 1,
    ...over,
  };
}

/** An in-memory token store that records each save, as the tenant store would keep them. */
export function memoryStore(): SalesforceTokenStore & { saved: SalesforceTokenSet[] } {
  const saved: SalesforceTokenSet[] = [];
  return {
    saved,
    load: (orgId) => Promise.resolve(saved.filter((t) => t.orgId === orgId).at(-1) ?? null),
    save: (_orgId, t) => {
      saved.push(t);
      return Promise.resolve();
    },
  };
}

export function session(store = memoryStore(), over: Partial<SalesforceTokenSet> = {}): SalesforceSession {
  return new SalesforceSession({ app: APP, tokens: tokens(over), store, now: () => 1_000 });
}

/** `GET /query?q=…` whose SOQL satisfies `match`, answering one page of records. */
export function query(
  scope: nock.Scope,
  match: (q: string) => boolean,
  records: Record<string, unknown>[],
  headers: Record<string, string> = {},
): nock.Scope {
  return scope
    .get(`${API}/query`)
    .query((params) => typeof params['q'] === 'string' && match(params['q']))
    .reply(
      200,
      { totalSize: records.length, done: true, records },
      { 'content-type': 'application/json', ...headers },
    );
}

export function record(type: string, fields: Record<string, unknown>): Record<string, unknown> {
  const id = typeof fields['Id'] === 'string' ? fields['Id'] : '';
  return { attributes: { type, url: `${API}/sobjects/${type}/${id}` }, ...fields };
}

/** A REST error body as Salesforce sends it: an array of `{ message, errorCode, fields? }`. */
export function errorBody(
  errorCode: string,
  message: string,
  fields?: string[],
): { message: string; errorCode: string; fields?: string[] }[] {
  return [{ message, errorCode, ...(fields === undefined ? {} : { fields }) }];
}

export const JSON_TYPE = { 'content-type': 'application/json' };
