// What every route needs, passed explicitly instead of a god object.
import type { NextFunction, Request, Response } from 'express';
import type { Clock, Prng } from '../sandbox-kit/clock.js';
import { SandboxHttpError, validation } from './errors.js';
import type { Portal } from './store.js';
import type { AccessToken } from './tokens.js';

/** How the CRM API behaves beyond its contract's minimum; tests and the admin API change it. */
export interface ApiBehaviour {
  /**
   * A record created less than this long ago is not yet found by search: HubSpot's "It may take a few
   * moments for newly created or updated CRM objects to appear in search results" (hubspot.md §4.3).
   */
  searchLagMs: number;
  /** Batch answers list their results in random order (nothing in HubSpot's contract fixes the order). */
  shuffleBatchResults: boolean;
}

export const DEFAULT_API_BEHAVIOUR: ApiBehaviour = { searchLagMs: 0, shuffleBatchResults: false };

export interface SandboxContext {
  clock: Clock;
  /** PRNG for ids and correlation ids (separate streams keep data stable when faults change). */
  prng: Prng;
  portals: Map<number, Portal>;
  correlationId(): string;
  behaviour: ApiBehaviour;
  /** PRNG for shuffling batch answers, apart from `prng` so that ids stay stable. */
  shuffler: Prng;
}

export interface AuthedLocals {
  portal: Portal;
  token: AccessToken;
}

export function authed(res: Response): AuthedLocals {
  const locals = res.locals as Partial<AuthedLocals>;
  if (locals.portal === undefined || locals.token === undefined) {
    throw new SandboxHttpError(401, 'INVALID_AUTHENTICATION', 'Authentication credentials not found.');
  }
  return { portal: locals.portal, token: locals.token };
}

/** 403 MISSING_SCOPES as HubSpot words it. */
export function requireScopes(...anyOf: string[]) {
  return (_req: Request, res: Response, next: NextFunction): void => {
    const { token } = authed(res);
    if (anyOf.some((s) => token.scopes.includes(s))) {
      next();
      return;
    }
    throw new SandboxHttpError(
      403,
      'MISSING_SCOPES',
      "This app hasn't been granted all required scopes to make this call. Read more about required scopes here: https://developers.hubspot.com/scopes.",
      {
        errors: [
          {
            message: 'One or more of the following scopes are required.',
            context: { requiredGranularScopes: anyOf },
          },
        ],
        links: { scopes: 'https://developers.hubspot.com/scopes' },
      },
    );
  };
}

export function queryString(req: Request, name: string): string | undefined {
  const v: unknown = (req.query as Record<string, unknown>)[name];
  if (Array.isArray(v)) return v.map(String).join(',');
  return typeof v === 'string' ? v : undefined;
}

export function queryList(req: Request, name: string): string[] | undefined {
  const v = queryString(req, name);
  return v === undefined || v === '' ? undefined : v.split(',').filter((s) => s !== '');
}

export function param(req: Request, name: string): string {
  const v = (req.params as Record<string, string | undefined>)[name];
  if (v === undefined) throw validation(`missing path parameter ${name}`);
  return v;
}
