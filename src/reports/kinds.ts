// The report kinds and groupings, apart from the reports themselves so that the settings API's schemas
// (and the pages' script that parses with them) can name them without pulling in the computations.
export const REPORT_KINDS = ['speed', 'sla', 'reroutes', 'distribution', 'fallbacks'] as const;
export type ReportKind = (typeof REPORT_KINDS)[number];

export const REPORT_GROUPS = ['rule', 'pool', 'rep'] as const;
/** How rows are grouped; absent: one row for the whole window. */
export type ReportGroup = (typeof REPORT_GROUPS)[number];
