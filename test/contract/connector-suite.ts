// The connector contract: what the pipeline relies on from every CRM connector, run against each one over
// its sandbox CRM with real HTTP. Read leads, find accounts, list owners and queues, set owners in batch,
// create tasks, enroll, write notes, find existing writes, tell first touch, classify errors and limits.
// A CRM's test file supplies the fixture: the connector, and the few things only the CRM itself can do
// (create leads as a form would, say who owns a record, touch a lead as a rep would, inject a fault).
import type { CrmConnector, DirectoryOwner } from '../../connectors/connector.js';

export interface ContractFixture {
  connector: CrmConnector;
  /** Creates `n` new leads in the CRM as its web forms would (not through the connector). */
  createLeads(n: number): Promise<string[]>;
  /** The lead's email as the CRM stores it. */
  emailOf(leadId: string): Promise<string>;
  /** A well-formed lead id the CRM does not hold. */
  missingId: string;
  /** A well-formed owner id the CRM does not hold. */
  unknownOwnerId: string;
  /** An active owner who can own leads and send the sequence, by email. */
  ownerEmail: string;
  /** The lead's owner id as the CRM stores it now. */
  ownerIdOf(leadId: string): Promise<string | undefined>;
  /** An account the CRM holds with a website domain and an owner. */
  knownAccount: { domain: string; ownerEmail: string };
  /** A sequence or cadence the CRM holds (by name), that an active owner can send. */
  sequenceName: string;
  /** The owner works the lead the way the CRM records a first touch (a logged call, a completed task). */
  touch(leadId: string, owner: DirectoryOwner): Promise<void>;
  /** The next `count` calls are answered with the CRM's rate limit ('429') or a server error ('500'). */
  failNext(kind: '429' | '500', count: number): void;
  /** Epoch ms the connector's clock reads (due times are built from it). */
  now: number;
}

export function connectorContract(name: string, setup: () => Promise<ContractFixture>): void {
  describe(`${name} connector contract`, () => {
    let f: ContractFixture;
    let owner: DirectoryOwner;

    beforeAll(async () => {
      f = await setup();
      const directory = await f.connector.directory();
      const sender = directory.owners.find(
        (o) => o.email === f.ownerEmail && o.active && o.senderId !== undefined,
      );
      if (sender === undefined)
        throw new Error(`${name}: ${f.ownerEmail} is not an active owner who can send`);
      owner = sender;
    });

    it('reads leads in batch, keyed by the ids asked; a missing id is absent', async () => {
      const ids = await f.createLeads(3);
      const leads = await f.connector.readLeads([...ids, f.missingId], []);
      expect([...leads.keys()].sort()).toEqual([...ids].sort());
      for (const id of ids) {
        const lead = leads.get(id)!;
        expect(lead.id).toBe(id);
        expect(lead.email).toBe((await f.emailOf(id)).toLowerCase());
        expect(lead.emailDomain).toBe(lead.email?.split('@')[1]);
      }
    });

    it('finds accounts by domain with their owner as a rep email', async () => {
      const found = await f.connector.findAccountsByDomain([
        f.knownAccount.domain,
        'no-such-company-anywhere.example',
      ]);
      const accounts = found.get(f.knownAccount.domain) ?? [];
      expect(accounts.length).toBeGreaterThan(0);
      expect(
        accounts.some(
          (a) => a.domains.includes(f.knownAccount.domain) && a.owner === f.knownAccount.ownerEmail,
        ),
      ).toBe(true);
      expect(found.get('no-such-company-anywhere.example') ?? []).toEqual([]);
    });

    it('lists owners (active and not) by lower-case email, and queues or teams by name', async () => {
      const directory = await f.connector.directory();
      expect(directory.owners.some((o) => o.active)).toBe(true);
      expect(directory.owners.some((o) => !o.active)).toBe(true);
      for (const o of directory.owners) expect(o.email).toBe(o.email.toLowerCase());
      expect(Object.keys(directory.queues).length).toBeGreaterThan(0);
    });

    it('sets owners in batch, one result per write in order, and a bad owner fails alone', async () => {
      const ids = await f.createLeads(3);
      const results = await f.connector.setOwners([
        { leadId: ids[0]!, ownerId: owner.id },
        { leadId: ids[1]!, ownerId: f.unknownOwnerId },
        { leadId: ids[2]!, ownerId: owner.id },
      ]);
      expect(results.map((r) => r.ok)).toEqual([true, false, true]);
      expect(results[1]).toMatchObject({
        ok: false,
        error: { kind: expect.stringMatching(/^(invalid|not_found)$/) as unknown },
      });
      expect(await f.ownerIdOf(ids[0]!)).toBe(owner.id);
      expect(await f.ownerIdOf(ids[2]!)).toBe(owner.id);
    });

    it('creates tasks in batch and finds them again on the lead (subject, due time, owner)', async () => {
      const [lead, other, bare] = await f.createLeads(3);
      const dueAt = f.now + 3_600_000;
      const results = await f.connector.createTasks([
        {
          leadId: lead!,
          key: 't1',
          ownerId: owner.id,
          subject: 'Call back',
          body: 'routed',
          dueAt,
          priority: 'high',
        },
        {
          leadId: lead!,
          key: 't2',
          ownerId: owner.id,
          subject: 'Send deck',
          body: 'routed',
          dueAt: dueAt + 60_000,
          priority: 'low',
        },
        {
          leadId: other!,
          key: 't3',
          ownerId: owner.id,
          subject: 'Other',
          body: 'routed',
          dueAt,
          priority: 'low',
        },
      ]);
      expect(results.every((r) => r.ok && r.id !== undefined)).toBe(true);
      // Several leads looked up at once: each task under its own lead; a lead without tasks is absent.
      const byLead = await f.connector.findTasks([lead!, other!, bare!]);
      expect([...byLead.keys()].sort()).toEqual([lead!, other!].sort());
      expect(byLead.get(other!)?.map((t) => [t.id, t.subject])).toEqual([
        [results[2]?.ok ? results[2].id : '', 'Other'],
      ]);
      const found = byLead.get(lead!) ?? [];
      const call = found.find((t) => t.subject === 'Call back');
      expect(call).toBeDefined();
      expect(Math.abs(call!.dueAt - dueAt)).toBeLessThan(1_000);
      expect(call!.ownerId).toBe(owner.id);
      expect(found.map((t) => t.id).sort()).toEqual(
        results
          .slice(0, 2)
          .map((r) => (r.ok ? r.id : ''))
          .sort(),
      );
    });

    it('writes notes and finds them again with the text sent', async () => {
      const [lead, other, bare] = await f.createLeads(3);
      const text = 'Routed by rule "EMEA enterprise": country = DE & employees ≥ 1000';
      const results = await f.connector.writeNotes([
        { leadId: lead!, key: 'n1', ownerId: owner.id, text },
        { leadId: other!, key: 'n2', ownerId: owner.id, text: 'Routed by rule "catch-all"' },
      ]);
      expect(results.map((r) => r.ok)).toEqual([true, true]);
      const byLead = await f.connector.findNotes([lead!, other!, bare!]);
      const texts = (id: string) =>
        (byLead.get(id) ?? []).map((n) => f.connector.profile.noteText(n.body).replace(/\s+/g, ' ').trim());
      expect([texts(lead!), texts(other!), byLead.has(bare!)]).toEqual([
        [text],
        ['Routed by rule "catch-all"'],
        false,
      ]);
    });

    it('enrolls in batch, one result per enrollment, and finds the enrollment again', async () => {
      const ids = await f.createLeads(2);
      const sequence = (await f.connector.sequences()).find((s) => s.name === f.sequenceName);
      expect(sequence).toBeDefined();
      // The owner owns the leads first, as the pipeline writes the owner before it enrolls.
      await f.connector.setOwners(ids.map((leadId) => ({ leadId, ownerId: owner.id })));
      const results = await f.connector.enroll(
        ids.map((leadId, i) => ({
          leadId,
          key: `e${i}`,
          sequenceId: sequence!.id,
          senderId: owner.senderId!,
          senderEmail: owner.email,
        })),
      );
      expect(results).toHaveLength(2);
      expect(results.every((r) => r.ok)).toBe(true);
      expect(await f.connector.findEnrollment(ids[0]!)).toMatchObject({ sequenceId: sequence!.id });
      const [fresh] = await f.createLeads(1);
      expect(await f.connector.findEnrollment(fresh!)).toBeUndefined();
    });

    it('tells first touch: not after our own writes, yes after the owner worked the lead', async () => {
      const [lead] = await f.createLeads(1);
      const since = f.now - 60_000;
      await f.connector.setOwners([{ leadId: lead!, ownerId: owner.id }]);
      await f.connector.createTasks([
        {
          leadId: lead!,
          key: 'x',
          ownerId: owner.id,
          subject: 'Follow up',
          body: '',
          dueAt: f.now,
          priority: 'medium',
        },
      ]);
      const signals = ['activity', 'contacted', 'task_completed'] as const;
      const before = await f.connector.touchedLeads([{ leadId: lead!, since }], signals);
      expect(before.get(lead!)).toEqual({ ownerId: owner.id });
      await f.touch(lead!, owner);
      const after = await f.connector.touchedLeads(
        [
          { leadId: lead!, since },
          { leadId: 'gone', since },
        ],
        signals,
      );
      expect(after.get(lead!)).toMatchObject({ ownerId: owner.id, touchedAt: expect.any(Number) });
      expect(after.get(lead!)!.touchedAt).toBeGreaterThanOrEqual(since);
      expect(after.has('gone')).toBe(false);
    });

    it('classifies the rate limit as rate_limited and retries a read past one server error', async () => {
      const [lead] = await f.createLeads(1);
      f.failNext('429', 1);
      await expect(f.connector.readLeads([lead!], [])).rejects.toMatchObject({ kind: 'rate_limited' });
      f.failNext('500', 1);
      expect((await f.connector.readLeads([lead!], [])).has(lead!)).toBe(true);
      expect(await f.connector.checkConnection()).toEqual({ ok: true });
    });
  });
}
