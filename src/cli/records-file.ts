// Reads flat records (leads, accounts) from CSV or JSON Lines, with errors that name row and column.
// A bad row is reported and skipped, so one typo in a large file does not discard the rest.
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { parse, type CsvError } from 'csv-parse/sync';
import { leadFieldForColumn } from '../core/normalize.js';
import type { Lead } from '../core/types.js';

export type FlatRecord = Record<string, unknown>;

export class InputError extends Error {
  override readonly name = 'InputError';
}

export interface FileRow {
  record: FlatRecord;
  /** The row's line in the file, counted from 1 with the CSV header as line 1; how people find it. */
  line: number;
}

/** A row that could not be read or used: where it is and why. */
export interface RowProblem {
  line: number;
  column?: string | undefined;
  message: string;
}

export interface RecordsFile {
  rows: FileRow[];
  /** Every column (CSV header or JSON key) seen in the file, in the order first seen. */
  columns: Set<string>;
  /** Rows that could not be read, in file order. */
  problems: RowProblem[];
}

/** The longest value an error message repeats; a 10 MB cell is named, not echoed. */
const MAX_SHOWN_VALUE = 60;

/** `value` as JSON, cut to a readable length with its full size said when cut. */
export function showValue(value: unknown): string {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  if (text.length <= MAX_SHOWN_VALUE) return JSON.stringify(text);
  return `${JSON.stringify(text.slice(0, MAX_SHOWN_VALUE))}… (${text.length} characters)`;
}

/** `path row 3 column employees: …` (or `path:3: …` for a row that could not be read). */
export function formatProblem(path: string, p: RowProblem): string {
  return p.column === undefined
    ? `${path}:${p.line}: ${p.message}`
    : `${path} row ${p.line} column ${p.column}: ${p.message}`;
}

async function readText(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new InputError(`${what} file not found: ${path}`);
    if (code === 'EISDIR') throw new InputError(`${what} file is a directory: ${path}`);
    throw new InputError(`cannot read ${what} file ${path}: ${(err as Error).message}`);
  }
}

function lineOf(e: CsvError): number {
  return typeof e.lines === 'number' ? e.lines : 0;
}

function csvReason(e: CsvError): string {
  return e.code === 'CSV_RECORD_INCONSISTENT_COLUMNS' || e.code === 'CSV_RECORD_INCONSISTENT_FIELDS_LENGTH'
    ? 'the row has a different number of columns than the header'
    : e.message;
}

/** CSV text (a header row, then one record per row); `path` names it in a fatal error. */
export function parseCsv(text: string, path: string): RecordsFile {
  const problems: RowProblem[] = [];
  let rows: FileRow[];
  try {
    // csv-parse types the result as the raw record even when `on_record` maps it.
    rows = parse<FlatRecord, FileRow>(text, {
      columns: true,
      skip_empty_lines: true,
      trim: true,
      bom: true,
      // csv-parse counts lines from 1 including the header, which is how people read the file.
      on_record: (record, context) => ({ record, line: context.lines }),
      skip_records_with_error: true,
      on_skip: (err) => {
        if (err !== undefined)
          problems.push({ line: lineOf(err), message: `malformed CSV row: ${csvReason(err)}` });
        return undefined;
      },
    }) as unknown as FileRow[];
  } catch (err) {
    // Errors that end the file (an unclosed quote, a bad header) cannot be skipped row by row.
    const e = err as CsvError;
    const where = lineOf(e) > 0 ? `:${lineOf(e)}` : '';
    throw new InputError(`${path}${where}: malformed CSV: ${csvReason(e)}`);
  }
  const columns = new Set<string>();
  for (const row of rows) for (const key of Object.keys(row.record)) columns.add(key);
  // A header-only file still names its columns.
  if (rows.length === 0) {
    const header = parse(text, { to_line: 1, bom: true, trim: true })[0] ?? [];
    for (const key of header) if (key !== '') columns.add(key);
  }
  return { rows, columns, problems };
}

function parseJsonLines(lines: readonly string[]): RecordsFile {
  const rows: FileRow[] = [];
  const columns = new Set<string>();
  const problems: RowProblem[] = [];
  lines.forEach((text, i) => {
    const line = i + 1;
    if (text.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      problems.push({ line, message: `not valid JSON: ${(err as Error).message.slice(0, 200)}` });
      return;
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      problems.push({ line, message: 'each line must be a JSON object' });
      return;
    }
    const record = value as FlatRecord;
    const nested = Object.keys(record).find((key) => {
      const v = record[key];
      return v !== null && typeof v === 'object' && !Array.isArray(v);
    });
    if (nested !== undefined) {
      problems.push({
        line,
        column: nested,
        message: 'nested objects are not supported; flatten the record',
      });
      return;
    }
    for (const key of Object.keys(record)) columns.add(key);
    rows.push({ record, line });
  });
  return { rows, columns, problems };
}

/** Reads a `.csv`, `.jsonl`/`.ndjson` or `.json` (array of objects) file of flat records. */
export async function readRecordsFile(path: string, what: string): Promise<RecordsFile> {
  const text = await readText(path, what);
  const ext = extname(path).toLowerCase();
  if (ext === '.csv') return parseCsv(text, path);
  if (ext === '.jsonl' || ext === '.ndjson') return parseJsonLines(text.split(/\r?\n/));
  if (ext === '.json') {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new InputError(`${path}: not valid JSON: ${(err as Error).message}`);
    }
    if (!Array.isArray(value)) throw new InputError(`${path}: expected a JSON array of objects`);
    // "Line" here is the element's position, counted from 1.
    return parseJsonLines(value.map((v) => JSON.stringify(v)));
  }
  throw new InputError(
    `${path}: unsupported ${what} file type "${ext || '(none)'}"; use .csv, .jsonl or .json`,
  );
}

/** Normalized fields that must parse when their column has a value. */
const TYPED_FIELDS: Partial<Record<keyof Lead, string>> = {
  employees: 'a number',
  annualRevenue: 'a number',
  score: 'a number',
  createdAt: 'a date (use ISO 8601)',
};

/** Every cell of the row whose value does not parse as its lead field needs. */
export function leadProblems(row: FileRow, lead: Lead): RowProblem[] {
  const problems: RowProblem[] = [];
  for (const [column, value] of Object.entries(row.record)) {
    if (value === '' || value === null || value === undefined) continue;
    const field = leadFieldForColumn(column);
    const expected = field === undefined ? undefined : TYPED_FIELDS[field];
    if (field !== undefined && expected !== undefined && lead[field] === undefined)
      problems.push({ line: row.line, column, message: `${showValue(value)} is not ${expected}` });
  }
  return problems;
}
