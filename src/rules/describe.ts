// Readable text for a condition, as the decision trace shows it: `country in [DE, AT, CH]`.
import type { Condition, FieldValue } from '../core/types.js';

function show(v: FieldValue): string {
  return v === null ? 'null' : String(v);
}

const SYMBOL = { eq: '=', neq: '≠', gt: '>', gte: '>=', lt: '<', lte: '<=' } as const;

export function describeCondition(c: Condition): string {
  switch (c.kind) {
    case 'always':
      return 'always';
    case 'all':
      return c.of
        .map((x) => (x.kind === 'any' ? `(${describeCondition(x)})` : describeCondition(x)))
        .join(' and ');
    case 'any':
      return c.of
        .map((x) => (x.kind === 'all' ? `(${describeCondition(x)})` : describeCondition(x)))
        .join(' or ');
    case 'not':
      return `not (${describeCondition(c.of)})`;
    case 'territory':
      return `territory ${c.name}`;
    case 'account_matched':
      return c.value ? 'account matched' : 'no account matched';
    case 'account_owner_active':
      return c.value ? 'account owner active' : 'account owner inactive';
    case 'free_mail':
      return c.value ? 'email is free mail' : 'email is not free mail';
    case 'within_hours':
      return c.pool !== undefined
        ? `within working hours of pool ${c.pool}`
        : `within working hours of rep ${c.rep ?? '?'}`;
    case 'compare': {
      const cs = 'caseSensitive' in c && c.caseSensitive ? ' (case-sensitive)' : '';
      switch (c.op) {
        case 'exists':
          return `${c.field} is present`;
        case 'missing':
          return `${c.field} is missing`;
        case 'eq':
        case 'neq':
          return `${c.field} ${SYMBOL[c.op]} ${show(c.value)}${cs}`;
        case 'contains':
          return `${c.field} contains "${show(c.value)}"${cs}`;
        case 'starts_with':
          return `${c.field} starts with "${show(c.value)}"${cs}`;
        case 'ends_with':
          return `${c.field} ends with "${show(c.value)}"${cs}`;
        case 'in':
          return `${c.field} in [${c.values.map(show).join(', ')}]${cs}`;
        case 'not_in':
          return `${c.field} not in [${c.values.map(show).join(', ')}]${cs}`;
        case 'gt':
        case 'gte':
        case 'lt':
        case 'lte':
          return `${c.field} ${SYMBOL[c.op]} ${c.value}`;
        case 'between':
          return `${c.field} between ${c.min} and ${c.max}`;
        case 'regex':
          return `${c.field} matches /${c.pattern.source}/`;
      }
    }
  }
}
