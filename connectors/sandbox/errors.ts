// HubSpot's error bodies (hubspot.md §4, §7.1). Wording marked UNCONFIRMED where HubSpot does not document it.
import type { Response } from 'express';

export type HubSpotCategory =
  | 'VALIDATION_ERROR'
  | 'OBJECT_NOT_FOUND'
  | 'INVALID_AUTHENTICATION'
  | 'EXPIRED_AUTHENTICATION'
  | 'MISSING_SCOPES'
  | 'RATE_LIMITS'
  | 'INTERNAL_ERROR'
  | 'CONFLICT';

export interface HubSpotErrorBody {
  status: 'error';
  message: string;
  correlationId: string;
  category: HubSpotCategory;
  context?: Record<string, string[]>;
  errors?: { message: string; code?: string; context?: Record<string, string[]> }[];
  links?: Record<string, string>;
  subCategory?: string;
}

/** Thrown by route handlers; the server's error middleware turns it into HubSpot's body. */
export class SandboxHttpError extends Error {
  constructor(
    readonly status: number,
    readonly category: HubSpotCategory,
    message: string,
    readonly extra: Partial<Pick<HubSpotErrorBody, 'context' | 'errors' | 'links' | 'subCategory'>> = {},
  ) {
    super(message);
  }
}

export function sendError(res: Response, err: SandboxHttpError, correlationId: string): void {
  const body: HubSpotErrorBody = {
    status: 'error',
    message: err.message,
    correlationId,
    category: err.category,
    ...err.extra,
  };
  res.status(err.status).json(body);
}

export const validation = (message: string, extra: SandboxHttpError['extra'] = {}): SandboxHttpError =>
  new SandboxHttpError(400, 'VALIDATION_ERROR', message, extra);

export const notFound = (id: string): SandboxHttpError =>
  new SandboxHttpError(404, 'OBJECT_NOT_FOUND', 'Object not found.  objectId are usually numeric.', {
    context: { id: [id] },
  });

/** HubSpot's "Property values were not valid: [...]" form for property-level validation failures. */
export function invalidProperties(
  items: { name: string; error: string; message: string }[],
): SandboxHttpError {
  const detail = items.map((i) => ({ isValid: false, message: i.message, error: i.error, name: i.name }));
  return validation(`Property values were not valid: ${JSON.stringify(detail)}`);
}

export const BATCH_LIMIT = 100;

/** UNCONFIRMED wording: HubSpot documents the 100-record limit, not its exact message. */
export function batchTooLarge(size: number): SandboxHttpError {
  return validation(`Batch input size ${size} exceeds the maximum of ${BATCH_LIMIT} inputs per request.`, {
    context: { inputs: [String(size)] },
  });
}
