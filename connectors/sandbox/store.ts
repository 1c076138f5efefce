// One portal's CRM data. Ids are sequential per portal and per object type, so runs are reproducible.
import { type ObjectType, checkType, typeDef, PRIMARY_CONTACT_TO_COMPANY } from './associations.js';
import type { Clock } from '../sandbox-kit/clock.js';
import { SandboxHttpError, invalidProperties, notFound, validation } from './errors.js';
import type { WriteKind, WriteLog, WriteSource } from './write-log.js';

export interface CrmObject {
  id: string;
  type: ObjectType;
  properties: Record<string, string>;
  createdAt: number;
  updatedAt: number;
  archived: boolean;
  /**
   * Each property's values with when they were set, oldest first, kept from its first change on: a
   * property absent here still has the value it was created with (HubSpot keeps every property's
   * history; recording only changes keeps 100,000 imported contacts cheap).
   */
  history?: Record<string, PropertyVersion[]>;
  /** Who created it: the source of its first values in their history. */
  createdBy?: WriteSource;
}

/** One value a property held (`propertiesWithHistory`); `value` is '' once cleared. */
export interface PropertyVersion {
  value: string;
  at: number;
  source: WriteSource;
}

export interface Team {
  id: string;
  name: string;
  primary: boolean;
}

export interface Owner {
  id: string;
  /** HubSpot user id: used for sequences, never for `hubspot_owner_id`. */
  userId: number;
  email: string;
  firstName: string;
  lastName: string;
  type: 'PERSON' | 'QUEUE';
  teams: Team[];
  archived: boolean;
  createdAt: number;
  updatedAt: number;
  /** Sales Hub / Service Hub Pro+ seat: required to enroll in sequences. */
  salesSeat: boolean;
  /** Inboxes connected in HubSpot: the only valid `senderEmail` values for this user. */
  connectedInboxes: string[];
}

export interface Sequence {
  id: string;
  name: string;
  userId: number;
  folderId?: string;
  createdAt: number;
  updatedAt: number;
}

export interface Enrollment {
  id: string;
  sequenceId: string;
  contactId: string;
  userId: number;
  senderEmail: string;
  toEmail: string;
  enrolledAt: number;
}

export interface AssociationEdge {
  fromType: ObjectType;
  fromId: string;
  toType: ObjectType;
  toId: string;
  typeId: number;
  category: string;
}

/** Something the webhook dispatcher cares about; `traceId` is the write's `objectWriteTraceId`. */
export type ChangeEvent =
  | { kind: 'created'; type: ObjectType; id: string; source: WriteSource; at: number; traceId?: string }
  | {
      kind: 'propertyChange';
      type: ObjectType;
      id: string;
      property: string;
      value: string;
      source: WriteSource;
      at: number;
      traceId?: string;
    };

/** One change to a portal's data, as the journal records it (persist.ts): the state after the change. */
export type PortalOp =
  | { op: 'object'; object: CrmObject }
  | { op: 'edge'; edge: AssociationEdge }
  | { op: 'unlink'; fromType: ObjectType; fromId: string; toType: ObjectType; toId: string }
  | { op: 'owner'; owner: Owner }
  | { op: 'sequence'; sequence: Sequence }
  | { op: 'sequenceDeleted'; id: string }
  | { op: 'enrollment'; enrollment: Enrollment }
  | { op: 'counter'; kind: IdKind; next: number };

/** A portal's whole data, for a snapshot. */
export interface PortalSnapshot {
  portalId: number;
  objects: CrmObject[];
  owners: Owner[];
  sequences: Sequence[];
  enrollments: Enrollment[];
  edges: AssociationEdge[];
  counters: Record<IdKind, number>;
}

type IdKind = ObjectType | 'owners' | 'users' | 'sequences' | 'enrollments';

const ID_BASE: Record<ObjectType | 'owners' | 'users' | 'sequences' | 'enrollments', number> = {
  contacts: 101,
  companies: 20001,
  tasks: 30001,
  notes: 40001,
  owners: 70001,
  users: 9000001,
  sequences: 600001,
  enrollments: 800001,
};

const REQUIRED_ON_CREATE: Partial<Record<ObjectType, string[]>> = {
  tasks: ['hs_timestamp'],
  notes: ['hs_timestamp'],
};

const WRITE_KIND: Record<ObjectType, { created: WriteKind; updated: WriteKind }> = {
  contacts: { created: 'contact.created', updated: 'contact.updated' },
  companies: { created: 'company.created', updated: 'company.updated' },
  tasks: { created: 'task.created', updated: 'task.created' },
  notes: { created: 'note.created', updated: 'note.created' },
};

function edgeKey(e: AssociationEdge): string {
  return `${e.fromType}|${e.fromId}|${e.toType}|${e.toId}|${e.typeId}`;
}

/** How a custom contact property is shown: a text field, or a multiple checkbox (HubSpot's `fieldType`). */
export type CustomPropertyField = 'text' | 'checkbox';

export class Portal {
  readonly objects: Record<ObjectType, Map<string, CrmObject>> = {
    contacts: new Map(),
    companies: new Map(),
    tasks: new Map(),
    notes: new Map(),
  };
  readonly owners = new Map<string, Owner>();
  readonly sequences = new Map<string, Sequence>();
  readonly enrollments: Enrollment[] = [];
  /**
   * Contact properties the portal's admin defined, by name, with how each is shown (the properties API
   * lists them with HubSpot's own and every other name a contact carries, as text): a rule may name one
   * before any contact has a value for it. A `checkbox` one is a multiple checkbox, whose value is the
   * options checked, joined by `;`.
   */
  readonly customContactProperties = new Map<string, CustomPropertyField>();
  private edges: AssociationEdge[] = [];
  private edgeKeys = new Set<string>();
  /**
   * Contact ids by lower-cased email, as written (an entry may be stale after an update; lookups check
   * the object itself): the uniqueness check on create would otherwise scan every contact, which makes
   * importing 100,000 contacts quadratic.
   */
  private readonly contactsByEmail = new Map<string, Set<string>>();
  private counters = { ...ID_BASE };
  private listeners: ((e: ChangeEvent) => void)[] = [];
  /** Told every change, when the sandbox keeps its data in a file. */
  journal: ((op: PortalOp) => void) | undefined;
  /** HubSpot auto-associates a new contact with the company owning its email domain. */
  autoAssociateByDomain = true;

  constructor(
    readonly portalId: number,
    private readonly clock: Clock,
    private readonly log: WriteLog,
  ) {}

  onChange(listener: (e: ChangeEvent) => void): void {
    this.listeners.push(listener);
  }

  private nextId(kind: IdKind): number {
    const id = this.counters[kind];
    this.counters[kind] = id + 1;
    this.journal?.({ op: 'counter', kind, next: id + 1 });
    return id;
  }

  /** Everything the portal holds (copies of the lists; the objects themselves are shared). */
  snapshot(): PortalSnapshot {
    return {
      portalId: this.portalId,
      objects: Object.values(this.objects).flatMap((m) => [...m.values()]),
      owners: [...this.owners.values()],
      sequences: [...this.sequences.values()],
      enrollments: [...this.enrollments],
      edges: [...this.edges],
      counters: { ...this.counters },
    };
  }

  /** Loads a snapshot into this (empty) portal; no journal entries, no events. */
  restore(snapshot: PortalSnapshot): void {
    for (const o of snapshot.objects) this.apply({ op: 'object', object: o });
    for (const o of snapshot.owners) this.apply({ op: 'owner', owner: o });
    for (const s of snapshot.sequences) this.apply({ op: 'sequence', sequence: s });
    for (const e of snapshot.enrollments) this.apply({ op: 'enrollment', enrollment: e });
    for (const e of snapshot.edges) this.apply({ op: 'edge', edge: e });
    this.counters = { ...this.counters, ...snapshot.counters };
  }

  /** Replays one journaled change. */
  apply(change: PortalOp): void {
    switch (change.op) {
      case 'object':
        this.objects[change.object.type].set(change.object.id, change.object);
        this.indexEmail(change.object);
        return;
      case 'edge':
        this.addEdge(change.edge);
        return;
      case 'unlink':
        this.unlink(change.fromType, change.fromId, change.toType, change.toId);
        return;
      case 'owner':
        this.owners.set(change.owner.id, change.owner);
        return;
      case 'sequence':
        this.sequences.set(change.sequence.id, change.sequence);
        return;
      case 'sequenceDeleted':
        this.sequences.delete(change.id);
        return;
      case 'enrollment':
        this.enrollments.push(change.enrollment);
        return;
      case 'counter':
        this.counters[change.kind] = Math.max(this.counters[change.kind], change.next);
        return;
      default: {
        const never: never = change;
        throw new Error(`unknown portal change ${JSON.stringify(never)}`);
      }
    }
  }

  private emit(e: ChangeEvent): void {
    for (const l of this.listeners) l(e);
  }

  private write(
    kind: WriteKind,
    objectId: string,
    source: WriteSource,
    details: Record<string, string> = {},
  ) {
    this.log.append({ portalId: this.portalId, kind, objectId, at: this.clock.now(), source, details });
  }

  // ---- objects -------------------------------------------------------------------------------

  /** Throws HubSpot's validation error; checks every input before any write (batches are atomic). */
  validateProperties(type: ObjectType, props: Record<string, unknown>, creating: boolean): void {
    const problems: { name: string; error: string; message: string }[] = [];
    for (const name of creating ? (REQUIRED_ON_CREATE[type] ?? []) : []) {
      if (props[name] === undefined || props[name] === null || props[name] === '') {
        problems.push({ name, error: 'REQUIRED_FIELD', message: `${name} is required` });
      }
    }
    const owner = props['hubspot_owner_id'];
    if (owner !== undefined && owner !== null && owner !== '') {
      const found = this.owners.get(propString(owner));
      if (found === undefined || found.archived) {
        problems.push({
          name: 'hubspot_owner_id',
          error: 'INVALID_OWNER_ID',
          message: `${propString(owner)} is not a valid owner id`,
        });
      }
    }
    // `hubspot_team_id` takes the id of a team of the portal (as the owners API lists teams).
    const team = props['hubspot_team_id'];
    if (team !== undefined && team !== null && team !== '' && !this.hasTeam(propString(team))) {
      problems.push({
        name: 'hubspot_team_id',
        error: 'INVALID_OPTION',
        message: `${propString(team)} was not one of the allowed options`,
      });
    }
    if (type === 'contacts' && creating && typeof props['email'] === 'string') {
      const existing = this.findByProperty('contacts', 'email', props['email']);
      if (existing !== undefined) {
        throw new SandboxHttpError(409, 'CONFLICT', `Contact already exists. Existing ID: ${existing.id}`);
      }
    }
    if (problems.length > 0) throw invalidProperties(problems);
  }

  createObject(
    type: ObjectType,
    input: Record<string, unknown>,
    source: WriteSource,
    associations: { toId: string; typeId: number; category: string }[] = [],
    traceId?: string,
  ): CrmObject {
    this.validateProperties(type, input, true);
    for (const a of associations) this.resolveAssociationTarget(type, a.toId, a.typeId);
    const now = this.clock.now();
    const id = String(this.nextId(type));
    const iso = new Date(now).toISOString();
    const properties: Record<string, string> = {};
    for (const [k, v] of Object.entries(input))
      if (v !== null && v !== undefined) properties[k] = propString(v);
    Object.assign(properties, { hs_object_id: id, createdate: iso, lastmodifieddate: iso });
    if (type === 'contacts' && properties['email'] !== undefined) {
      properties['email'] = properties['email'].toLowerCase();
    }
    const obj: CrmObject = {
      id,
      type,
      properties,
      createdAt: now,
      updatedAt: now,
      archived: false,
      createdBy: source,
    };
    this.objects[type].set(id, obj);
    this.indexEmail(obj);
    this.journal?.({ op: 'object', object: obj });
    this.write(WRITE_KIND[type].created, id, source, pickDetails(properties));
    if (type === 'contacts' && properties['hubspot_owner_id']) {
      this.write('owner.set', id, source, { from: '', to: properties['hubspot_owner_id'] });
    }
    if (type === 'contacts' && properties['hubspot_team_id']) {
      this.write('team.set', id, source, { from: '', to: properties['hubspot_team_id'] });
    }
    for (const a of associations) this.associate(type, id, a.toId, a.typeId, a.category, source);
    if (type === 'contacts' && this.autoAssociateByDomain) this.autoAssociate(obj, source);
    this.emit({ kind: 'created', type, id, source, at: now, ...(traceId === undefined ? {} : { traceId }) });
    return obj;
  }

  private autoAssociate(contact: CrmObject, source: WriteSource): void {
    const domain = contact.properties['email']?.split('@')[1];
    if (domain === undefined) return;
    const company = this.findByProperty('companies', 'domain', domain);
    if (company === undefined) return;
    this.associate('contacts', contact.id, company.id, PRIMARY_CONTACT_TO_COMPANY, 'HUBSPOT_DEFINED', source);
    this.associate('contacts', contact.id, company.id, 279, 'HUBSPOT_DEFINED', source);
  }

  getObject(type: ObjectType, id: string): CrmObject {
    const obj = this.objects[type].get(id);
    if (obj === undefined || obj.archived) throw notFound(id);
    return obj;
  }

  private indexEmail(obj: CrmObject): void {
    const email = obj.type === 'contacts' ? obj.properties['email']?.toLowerCase() : undefined;
    if (email === undefined) return;
    const ids = this.contactsByEmail.get(email);
    if (ids === undefined) this.contactsByEmail.set(email, new Set([obj.id]));
    else ids.add(obj.id);
  }

  findByProperty(type: ObjectType, property: string, value: string): CrmObject | undefined {
    const wanted = value.toLowerCase();
    if (type === 'contacts' && property === 'email') {
      // The lowest id (the first created), as the scan below would find it.
      let first: CrmObject | undefined;
      for (const id of this.contactsByEmail.get(wanted) ?? []) {
        const o = this.objects.contacts.get(id);
        if (o === undefined || o.archived || o.properties['email']?.toLowerCase() !== wanted) continue;
        if (first === undefined || Number(o.id) < Number(first.id)) first = o;
      }
      return first;
    }
    for (const o of this.objects[type].values()) {
      if (!o.archived && o.properties[property]?.toLowerCase() === wanted) return o;
    }
    return undefined;
  }

  updateObject(
    type: ObjectType,
    id: string,
    input: Record<string, unknown>,
    source: WriteSource,
    traceId?: string,
  ): CrmObject {
    const obj = this.getObject(type, id);
    this.validateProperties(type, input, false);
    const now = this.clock.now();
    const changed: [string, string][] = [];
    for (const [k, raw] of Object.entries(input)) {
      const v = raw === null || raw === undefined ? '' : propString(raw);
      if ((obj.properties[k] ?? '') === v) continue;
      changed.push([k, v]);
    }
    if (changed.length === 0) return obj;
    const before = obj.properties['hubspot_owner_id'] ?? '';
    const teamBefore = obj.properties['hubspot_team_id'] ?? '';
    const history = (obj.history ??= {});
    for (const [k, v] of changed) {
      const old = obj.properties[k];
      history[k] ??=
        old === undefined ? [] : [{ value: old, at: obj.createdAt, source: obj.createdBy ?? 'api' }];
      history[k].push({ value: v, at: now, source });
      // "Properties values can be cleared by passing an empty string."
      if (v === '') delete obj.properties[k];
      else obj.properties[k] = v;
    }
    obj.updatedAt = now;
    obj.properties['lastmodifieddate'] = new Date(now).toISOString();
    this.indexEmail(obj);
    this.journal?.({ op: 'object', object: obj });
    this.write(WRITE_KIND[type].updated, id, source, Object.fromEntries(changed));
    const after = obj.properties['hubspot_owner_id'] ?? '';
    if (type === 'contacts' && before !== after)
      this.write('owner.set', id, source, { from: before, to: after });
    const teamAfter = obj.properties['hubspot_team_id'] ?? '';
    if (type === 'contacts' && teamBefore !== teamAfter)
      this.write('team.set', id, source, { from: teamBefore, to: teamAfter });
    for (const [property, value] of changed) {
      this.emit({
        kind: 'propertyChange',
        type,
        id,
        property,
        value,
        source,
        at: now,
        ...(traceId === undefined ? {} : { traceId }),
      });
    }
    return obj;
  }

  /** A property's values, oldest first: its recorded changes, else the value it was created with. */
  propertyHistory(obj: CrmObject, name: string): PropertyVersion[] {
    const recorded = obj.history?.[name];
    if (recorded !== undefined) return recorded;
    const value = obj.properties[name];
    return value === undefined ? [] : [{ value, at: obj.createdAt, source: obj.createdBy ?? 'api' }];
  }

  // ---- associations --------------------------------------------------------------------------

  private resolveAssociationTarget(fromType: ObjectType, toId: string, typeId: number): ObjectType {
    const def = typeDef(typeId);
    if (def?.from !== fromType) {
      throw validation(`${typeId} is not a valid association type id for ${fromType}`);
    }
    this.getObject(def.to, toId);
    return def.to;
  }

  /** Adds the edge and its inverse (HubSpot associations are bidirectional). Idempotent. */
  associate(
    fromType: ObjectType,
    fromId: string,
    toId: string,
    typeId: number,
    category: string,
    source: WriteSource,
  ): void {
    const toType = this.resolveAssociationTarget(fromType, toId, typeId);
    this.getObject(fromType, fromId);
    const def = checkType(fromType, toType, typeId);
    const added = this.addEdge({ fromType, fromId, toType, toId, typeId, category });
    this.addEdge({
      fromType: toType,
      fromId: toId,
      toType: fromType,
      toId: fromId,
      typeId: def.inverse,
      category,
    });
    if (added) {
      this.write('association.created', fromId, source, { toType, toId, typeId: String(typeId) });
    }
  }

  private addEdge(edge: AssociationEdge): boolean {
    // Keyed, so a portal with tens of thousands of associations does not scan them all per write.
    const key = edgeKey(edge);
    if (this.edgeKeys.has(key)) return false;
    this.edgeKeys.add(key);
    this.edges.push(edge);
    this.journal?.({ op: 'edge', edge });
    return true;
  }

  removeAssociations(fromType: ObjectType, fromId: string, toType: ObjectType, toId: string): void {
    this.unlink(fromType, fromId, toType, toId);
    this.journal?.({ op: 'unlink', fromType, fromId, toType, toId });
  }

  private unlink(fromType: ObjectType, fromId: string, toType: ObjectType, toId: string): void {
    this.edges = this.edges.filter(
      (e) =>
        !(
          (e.fromType === fromType && e.fromId === fromId && e.toType === toType && e.toId === toId) ||
          (e.fromType === toType && e.fromId === toId && e.toType === fromType && e.toId === fromId)
        ),
    );
    this.edgeKeys = new Set(this.edges.map(edgeKey));
  }

  /** Edges from one object to a type, grouped by target, in insertion order. */
  associationsOf(fromType: ObjectType, fromId: string, toType: ObjectType): Map<string, AssociationEdge[]> {
    const grouped = new Map<string, AssociationEdge[]>();
    for (const e of this.edges) {
      if (e.fromType !== fromType || e.fromId !== fromId || e.toType !== toType) continue;
      const list = grouped.get(e.toId) ?? [];
      list.push(e);
      grouped.set(e.toId, list);
    }
    return grouped;
  }

  /** Every edge from one type to another as fromId → toIds, in one pass (search by association). */
  associatedIds(fromType: ObjectType, toType: ObjectType): Map<string, Set<string>> {
    const out = new Map<string, Set<string>>();
    for (const e of this.edges) {
      if (e.fromType !== fromType || e.toType !== toType) continue;
      const ids = out.get(e.fromId) ?? new Set<string>();
      ids.add(e.toId);
      out.set(e.fromId, ids);
    }
    return out;
  }

  // ---- owners, sequences, enrollments -------------------------------------------------------

  /** A team of the portal: HubSpot lists teams only through their owners. */
  hasTeam(id: string): boolean {
    for (const o of this.owners.values()) if (o.teams.some((t) => t.id === id)) return true;
    return false;
  }

  /** A person (the default) or a `QUEUE` owner: a shared owner record leads can be assigned to. */
  addOwner(
    input: Omit<Owner, 'id' | 'userId' | 'createdAt' | 'updatedAt' | 'type'> & { type?: Owner['type'] },
  ): Owner {
    const now = this.clock.now();
    const owner: Owner = {
      ...input,
      type: input.type ?? 'PERSON',
      id: String(this.nextId('owners')),
      userId: this.nextId('users'),
      createdAt: now,
      updatedAt: now,
    };
    this.owners.set(owner.id, owner);
    this.journal?.({ op: 'owner', owner });
    return owner;
  }

  ownerByUserId(userId: number): Owner | undefined {
    for (const o of this.owners.values()) if (o.userId === userId) return o;
    return undefined;
  }

  ownerByEmail(email: string): Owner | undefined {
    const wanted = email.toLowerCase();
    for (const o of this.owners.values()) if (o.email.toLowerCase() === wanted) return o;
    return undefined;
  }

  /**
   * Deactivates or reactivates the owner's user. HubSpot keeps a deactivated user's owner record, archived:
   * it then fails as `hubspot_owner_id` and as a sequence sender.
   */
  setOwnerActive(ownerId: string, active: boolean): Owner {
    const owner = this.owners.get(ownerId);
    if (owner === undefined) throw notFound(ownerId);
    owner.archived = !active;
    owner.updatedAt = this.clock.now();
    this.journal?.({ op: 'owner', owner });
    return owner;
  }

  addSequence(name: string, userId: number): Sequence {
    const now = this.clock.now();
    const seq: Sequence = {
      id: String(this.nextId('sequences')),
      name,
      userId,
      createdAt: now,
      updatedAt: now,
    };
    this.sequences.set(seq.id, seq);
    this.journal?.({ op: 'sequence', sequence: seq });
    return seq;
  }

  sequenceByName(name: string): Sequence | undefined {
    const wanted = name.trim().toLowerCase();
    for (const s of this.sequences.values()) if (s.name.trim().toLowerCase() === wanted) return s;
    return undefined;
  }

  /** Deletes a sequence, as a user can in HubSpot; enrollments made in it stay on record. */
  deleteSequence(sequenceId: string): boolean {
    const deleted = this.sequences.delete(sequenceId);
    if (deleted) this.journal?.({ op: 'sequenceDeleted', id: sequenceId });
    return deleted;
  }

  addEnrollment(input: Omit<Enrollment, 'id' | 'enrolledAt'>, source: WriteSource): Enrollment {
    const enrollment: Enrollment = {
      ...input,
      id: String(this.nextId('enrollments')),
      enrolledAt: this.clock.now(),
    };
    this.enrollments.push(enrollment);
    this.journal?.({ op: 'enrollment', enrollment });
    this.write('enrollment.created', input.contactId, source, {
      enrollmentId: enrollment.id,
      sequenceId: input.sequenceId,
      userId: String(input.userId),
      senderEmail: input.senderEmail,
    });
    return enrollment;
  }
}

/** A few identifying fields for the write log; never whole records. */
function pickDetails(props: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of ['email', 'domain', 'hubspot_owner_id', 'hs_task_subject']) {
    const v = props[k];
    if (v !== undefined) out[k] = v;
  }
  return out;
}

/** HubSpot property values are strings; numbers and booleans are sent as such by clients. */
function propString(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}
