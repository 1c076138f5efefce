// HUBSPOT_DEFINED association type ids (hubspot.md §4.5) and their inverses.
import { validation } from './errors.js';

export type ObjectType = 'contacts' | 'companies' | 'tasks' | 'notes';

const TYPE_ALIASES: Record<string, ObjectType> = {
  contacts: 'contacts',
  contact: 'contacts',
  '0-1': 'contacts',
  companies: 'companies',
  company: 'companies',
  '0-2': 'companies',
  tasks: 'tasks',
  task: 'tasks',
  '0-27': 'tasks',
  notes: 'notes',
  note: 'notes',
  '0-46': 'notes',
};

export const OBJECT_TYPE_IDS: Record<ObjectType, string> = {
  contacts: '0-1',
  companies: '0-2',
  tasks: '0-27',
  notes: '0-46',
};

export function parseObjectType(raw: string): ObjectType {
  const t = TYPE_ALIASES[raw.toLowerCase()];
  if (t === undefined) throw validation(`Unknown object type: ${raw}`);
  return t;
}

interface TypeDef {
  id: number;
  from: ObjectType;
  to: ObjectType;
  inverse: number;
  label: string | null;
  /** The type createDefault uses for this pair. */
  isDefault: boolean;
}

const DEFS: TypeDef[] = [
  { id: 1, from: 'contacts', to: 'companies', inverse: 2, label: 'Primary', isDefault: false },
  { id: 2, from: 'companies', to: 'contacts', inverse: 1, label: 'Primary', isDefault: false },
  { id: 279, from: 'contacts', to: 'companies', inverse: 280, label: null, isDefault: true },
  { id: 280, from: 'companies', to: 'contacts', inverse: 279, label: null, isDefault: true },
  { id: 203, from: 'contacts', to: 'tasks', inverse: 204, label: null, isDefault: true },
  { id: 204, from: 'tasks', to: 'contacts', inverse: 203, label: null, isDefault: true },
  { id: 191, from: 'companies', to: 'tasks', inverse: 192, label: null, isDefault: true },
  { id: 192, from: 'tasks', to: 'companies', inverse: 191, label: null, isDefault: true },
  { id: 201, from: 'contacts', to: 'notes', inverse: 202, label: null, isDefault: true },
  { id: 202, from: 'notes', to: 'contacts', inverse: 201, label: null, isDefault: true },
  { id: 189, from: 'companies', to: 'notes', inverse: 190, label: null, isDefault: true },
  { id: 190, from: 'notes', to: 'companies', inverse: 189, label: null, isDefault: true },
];

export const PRIMARY_CONTACT_TO_COMPANY = 1;

export function typeDef(id: number): TypeDef | undefined {
  return DEFS.find((d) => d.id === id);
}

export function defaultTypeId(from: ObjectType, to: ObjectType): number {
  const def = DEFS.find((d) => d.from === from && d.to === to && d.isDefault);
  if (def === undefined) throw validation(`No default association between ${from} and ${to}`);
  return def.id;
}

/** Validates that a HUBSPOT_DEFINED type id links the two object types, as HubSpot's 400 does. */
export function checkType(from: ObjectType, to: ObjectType, typeId: number): TypeDef {
  const def = typeDef(typeId);
  if (def?.from !== from || def.to !== to) {
    throw validation(`${typeId} is not a valid association type between ${from} and ${to}`);
  }
  return def;
}
