// Reads flat records (leads, accounts) from CSV or JSON Lines, with errors that name row and column.
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { parse } from 'csv-parse/sync';

export type FlatRecord = Record<string, unknown>;

export class InputError extends Error {
  override readonly name = 'InputError';
}

export interface RecordsFile {
  records: FlatRecord[];
  /** Every column (CSV header or JSON key) seen in the file. */
  columns: Set<string>;
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

interface CsvParseError extends Error {
  code?: string;
  lines?: number;
  column?: number | string;
  record?: unknown;
}

function parseCsv(text: string, path: string): RecordsFile {
  let rows: FlatRecord[];
  try {
    rows = parse<FlatRecord>(text, { columns: true, skip_empty_lines: true, trim: true, bom: true });
  } catch (err) {
    const e = err as CsvParseError;
    // csv-parse counts lines from 1 including the header, which is how people read the file.
    const where = e.lines === undefined ? '' : `:${e.lines}`;
    const reason =
      e.code === 'CSV_RECORD_INCONSISTENT_COLUMNS' || e.code === 'CSV_RECORD_INCONSISTENT_FIELDS_LENGTH'
        ? 'the row has a different number of columns than the header'
        : e.message;
    throw new InputError(`${path}${where}: malformed CSV row: ${reason}`);
  }
  const columns = new Set<string>();
  for (const row of rows) for (const key of Object.keys(row)) columns.add(key);
  return { records: rows, columns };
}

function parseJsonLines(text: string, path: string): RecordsFile {
  const records: FlatRecord[] = [];
  const columns = new Set<string>();
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      throw new InputError(`${path}:${i + 1}: not valid JSON: ${(err as Error).message}`);
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new InputError(`${path}:${i + 1}: each line must be a JSON object`);
    }
    const record = value as FlatRecord;
    for (const [key, v] of Object.entries(record)) {
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
        throw new InputError(
          `${path}:${i + 1} field ${key}: nested objects are not supported; flatten the record`,
        );
      }
      columns.add(key);
    }
    records.push(record);
  });
  return { records, columns };
}

/** Reads a `.csv`, `.jsonl`/`.ndjson` or `.json` (array of objects) file of flat records. */
export async function readRecordsFile(path: string, what: string): Promise<RecordsFile> {
  const text = await readText(path, what);
  const ext = extname(path).toLowerCase();
  if (ext === '.csv') return parseCsv(text, path);
  if (ext === '.jsonl' || ext === '.ndjson') return parseJsonLines(text, path);
  if (ext === '.json') {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new InputError(`${path}: not valid JSON: ${(err as Error).message}`);
    }
    if (!Array.isArray(value)) throw new InputError(`${path}: expected a JSON array of objects`);
    return parseJsonLines(value.map((v) => JSON.stringify(v)).join('\n'), path);
  }
  throw new InputError(
    `${path}: unsupported ${what} file type "${ext || '(none)'}"; use .csv, .jsonl or .json`,
  );
}

export { readText };
