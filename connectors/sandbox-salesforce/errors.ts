// Salesforce's REST error shapes (salesforce.md §2.4, errorcodes.htm): a request-level error is an array
// of `{message, errorCode, fields?}`; a record inside an sObject Collections answer carries
// `{statusCode, message, fields}` instead (jsforce reads `statusCode` there).
import type { Response } from 'express';

export interface RecordError {
  statusCode: string;
  message: string;
  fields: string[];
}

/** A refused request; the server's error middleware turns it into Salesforce's error array. */
export class SalesforceHttpError extends Error {
  constructor(
    readonly status: number,
    readonly errorCode: string,
    message: string,
    readonly fields?: string[],
  ) {
    super(message);
  }
}

/** A record the org refused to save, with every reason (as a real save reports them together). */
export class RecordRejected extends Error {
  constructor(readonly errors: RecordError[]) {
    super(errors.map((e) => `${e.statusCode}: ${e.message}`).join('; '));
  }
}

export function sendSalesforceError(res: Response, err: SalesforceHttpError): void {
  res.status(err.status).json([
    {
      message: err.message,
      errorCode: err.errorCode,
      ...(err.fields === undefined ? {} : { fields: err.fields }),
    },
  ]);
}

export const recordError = (statusCode: string, message: string, fields: string[] = []): RecordError => ({
  statusCode,
  message,
  fields,
});

/** A save refused through the single-record API: the first reason as a 400, as the REST API answers. */
export function asHttpError(err: RecordRejected): SalesforceHttpError {
  const first = err.errors[0] ?? recordError('UNKNOWN_EXCEPTION', 'record rejected');
  return new SalesforceHttpError(400, first.statusCode, first.message, first.fields);
}

export const notFound = (): SalesforceHttpError =>
  new SalesforceHttpError(404, 'NOT_FOUND', 'The requested resource does not exist');

export const malformedId = (id: string): SalesforceHttpError =>
  new SalesforceHttpError(400, 'MALFORMED_ID', `malformed id ${id}`);
