// The seam of a pushed intake: a CRM that calls us (signed webhooks). The connector verifies the raw
// request and turns the body into events; the app's HTTP route finds each account's tenant, records the
// events in the inbox (the same inbox a pulled stream feeds, connectors/pulled-intake.ts) and answers.
import type { CrmEvent, CrmProvider } from './connector.js';

/** A request as received: nothing parsed yet, the body as raw bytes. */
export interface PushedRequest {
  method: string;
  /** The full public URI the CRM called, as received (still encoded). */
  uri: string;
  rawBody: Buffer;
  headers: Record<string, string | string[] | undefined>;
}

/** What one verified body holds, by CRM account (the tenant's external id). */
export interface PushedEvents {
  events: { accountId: string; event: CrmEvent }[];
  /** Changes that were lead-router's own writes coming back: dropped, only counted. */
  echoes: number;
  /** Records the account asked to be erased (a privacy deletion): purged, never routed. */
  privacyDeletions: { accountId: string; leadId: string }[];
  /** Events nothing routes on (other objects, deletions): counted, not dropped silently. */
  ignored: number;
}

export interface PushedIntake {
  readonly provider: CrmProvider;
  /** The CRM's name in log lines ("HubSpot will retry"). */
  readonly crmName: string;
  /** What the CRM calls one account ("portal", "org"), in log lines. */
  readonly accountNoun: string;
  /**
   * Checks the request on its raw bytes, in constant time, within the timestamp window, before anything
   * is parsed. `reason` is for our log only; the caller is told nothing about which check failed.
   */
  verify(request: PushedRequest, now: number): { ok: true } | { ok: false; reason: string };
  /** The verified body's events; `kind` says what was wrong in general, `reason` exactly where. */
  parse(rawBody: Buffer): { ok: true; batch: PushedEvents } | { ok: false; kind: string; reason: string };
}
