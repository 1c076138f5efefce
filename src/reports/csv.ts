// Reports as CSV (RFC 4180): a header, then one line per row, written as they are produced. A cell
// with a comma, quote or line break is quoted with its quotes doubled; a text cell that a spreadsheet
// would run as a formula (= + - @, tab, CR first) is prefixed with a quote (OWASP "CSV injection").
import type { Cell, Report } from './reports.js';

export function csvCell(cell: Cell): string {
  if (cell === null) return '';
  if (typeof cell === 'number') return Number.isFinite(cell) ? String(cell) : '';
  const text = /^[=+\-@\t\r]/.test(cell) ? `'${cell}` : cell;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export const csvLine = (cells: readonly Cell[]): string => cells.map(csvCell).join(',') + '\r\n';

/** Writes the report line by line to `write` (a stream's write, say). */
export function writeCsv(report: Report, write: (chunk: string) => void): void {
  write(csvLine(report.columns));
  for (const row of report.rows) write(csvLine(report.columns.map((c) => row[c] ?? null)));
}
