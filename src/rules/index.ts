// Public API of the rule and team loader.
export { formatDiagnostic, OWNER_ROLES, type Diagnostic, type OwnerRole } from './diagnostics.js';
export {
  hasInlineTeam,
  loadRuleSet,
  loadTeam,
  oncePerPerson,
  ruleSetVersion,
  teamVersion,
  unknownOwnerWarnings,
  type LoadOptions,
  type LoadResult,
  type TeamLoadResult,
} from './load.js';
export { parseDuration, parseHours, parseDateRange, isValidTimeZone, type Parsed } from './time.js';
export { describeCondition } from '../core/conditions.js';
export { compilePattern, canonicalField } from './parse-condition.js';
export type { CrmFacts } from './issues.js';
export type { OwnerDirectory } from './queue-owners.js';
