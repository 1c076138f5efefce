// The write-back planner: planned actions → the CRM writes they become, ids resolved from the directory,
// refusals with their reason. Pure: no storage, no CRM.
import { HUBSPOT_PROFILE } from '../../connectors/hubspot/profile.js';
import { SALESFORCE_PROFILE } from '../../connectors/salesforce/profile.js';
import type { Action } from '../../src/core/types.js';
import { describeFailure, TenantConfigError } from '../../src/pipeline/failures.js';
import { plannedAction } from '../../src/storage/actions.js';
import type { PlannedAction } from '../../src/storage/index.js';
import type { MergedTeam } from '../../src/pipeline/team.js';
import { needlessReason, planWrites } from '../../src/pipeline/write-plan.js';

const merged: MergedTeam = {
  team: { reps: {}, queues: {} },
  ownerByEmail: new Map([
    [
      'ada@acme.io',
      { id: 'o-1', senderId: 'u-1', email: 'ada@acme.io', name: 'Ada', active: true, teams: [] },
    ],
    ['bo@acme.io', { id: 'o-2', email: 'bo@acme.io', name: 'Bo', active: false, teams: [] }],
  ]),
  teamIdByName: { 'EMEA triage': 't-9' },
};

let nextId = 1;
function planned(action: Action, leadId = 'L1'): { job: string; a: PlannedAction } {
  const id = nextId++;
  return { job: `job-${id}`, a: plannedAction('t', leadId, `${leadId}:route:${id}`, id, action, 0) };
}

const task = { subject: 'Call', body: 'b', dueAt: 1_000, priority: 'high' as const };

describe('planWrites', () => {
  it('resolves owners by email (any case) and keeps what the caller attached', () => {
    const e = planned({ kind: 'set_owner', email: 'ADA@acme.io' });
    const plan = planWrites([e], merged, HUBSPOT_PROFILE);
    expect(plan.owners).toEqual([{ ...e, input: { leadId: 'L1', ownerId: 'o-1' } }]);
    expect(plan.refused).toEqual([]);
  });

  it('refuses an owner the directory does not list, naming the CRM, as the configuration’s error', () => {
    const plan = planWrites(
      [planned({ kind: 'create_task', assignee: 'cy@acme.io', ...task })],
      merged,
      HUBSPOT_PROFILE,
    );
    expect(plan.tasks).toEqual([]);
    expect(plan.refused.map((r) => describeFailure(r.error, 'HubSpot'))).toEqual([
      'configuration error: no HubSpot owner with the email cy@acme.io',
    ]);
    expect(plan.refused[0]!.error).toBeInstanceOf(TenantConfigError);
    expect(plan.refused[0]!.error.kind).toBe('invalid');
  });

  it('a queue lands on its owner or its team; a team task names the team and has no owner', () => {
    const toOwner = planned({
      kind: 'set_queue',
      queue: 'smb',
      target: { kind: 'owner', owner: 'ada@acme.io' },
    });
    const toTeam = planned({
      kind: 'set_queue',
      queue: 'emea',
      target: { kind: 'team', team: 'EMEA triage' },
    });
    const teamTask = planned({
      kind: 'queue_task',
      queue: 'emea',
      target: { kind: 'team', team: 't-9' },
      ...task,
    });
    const plan = planWrites([toOwner, toTeam, teamTask], merged, HUBSPOT_PROFILE);
    expect(plan.owners.map((o) => o.input)).toEqual([{ leadId: 'L1', ownerId: 'o-1' }]);
    expect(plan.teams.map((t) => t.input)).toEqual([{ leadId: 'L1', teamId: 't-9' }]);
    expect(plan.tasks.map((t) => t.input)).toEqual([
      {
        leadId: 'L1',
        key: teamTask.a.key,
        ownerId: undefined,
        subject: 'Call (team EMEA triage)',
        body: 'b',
        dueAt: 1_000,
        priority: 'high',
      },
    ]);
  });

  it('in a CRM without teams, a queue owned by a queue of the CRM named as in its Setup gets that queue’s id', () => {
    // Salesforce's directory lists its Lead queues by Name and DeveloperName (teamIdByName).
    const sf: MergedTeam = { ...merged, teamIdByName: { EMEA: '00G-emea', EMEA_Queue: '00G-emea' } };
    const queued = (owner: string) =>
      planned({ kind: 'set_queue', queue: 'emea', target: { kind: 'owner', owner } });
    const byCrm = (crm: typeof HUBSPOT_PROFILE) =>
      planWrites(
        ['EMEA', 'EMEA_Queue', '00G-emea', '00G-other', 'constructor'].map(queued),
        sf,
        crm,
      ).owners.map((o) => o.input.ownerId);
    // Anything else is an id, sent as is for the CRM to check; HubSpot's teams are never owners.
    expect(byCrm(SALESFORCE_PROFILE)).toEqual([
      '00G-emea',
      '00G-emea',
      '00G-emea',
      '00G-other',
      'constructor',
    ]);
    expect(byCrm(HUBSPOT_PROFILE)).toEqual(['EMEA', 'EMEA_Queue', '00G-emea', '00G-other', 'constructor']);
  });

  it('a Salesforce queue named by its 15-character id is the directory’s queue: owned by its 18-character id, no task', () => {
    const id18 = SALESFORCE_PROFILE.storedId('00G8d0000000001');
    expect(id18).toHaveLength(18);
    const sf: MergedTeam = { ...merged, teamIdByName: { APAC: id18 } };
    const target = { kind: 'owner', owner: '00G8d0000000001' } as const;
    const plan = planWrites(
      [
        planned({ kind: 'set_queue', queue: 'apac', target }),
        planned({ kind: 'queue_task', queue: 'apac', target, ...task }),
      ],
      sf,
      SALESFORCE_PROFILE,
    );
    expect(plan.owners.map((o) => o.input.ownerId)).toEqual([id18]);
    expect([plan.tasks.length, plan.needless.length]).toEqual([0, 1]);
  });

  it('a Salesforce Lead queue’s task is done with nothing written, saying why; a user’s or a HubSpot queue’s is written', () => {
    const sf: MergedTeam = { ...merged, teamIdByName: { EMEA: '00G-emea', EMEA_Queue: '00G-emea' } };
    const queueTask = (owner: string) =>
      ({ kind: 'queue_task', queue: 'emea', target: { kind: 'owner', owner }, ...task }) as const;
    const actions = ['EMEA_Queue', '00G-emea', 'ada@acme.io'].map(queueTask);
    const reason = "a Salesforce queue cannot own a task; the queue's members take the lead from its list";
    const onSalesforce = planWrites(
      actions.map((a) => planned(a)),
      sf,
      SALESFORCE_PROFILE,
    );
    expect(onSalesforce.needless.map((n) => [n.a.action, n.reason])).toEqual([
      [actions[0], reason],
      [actions[1], reason],
    ]);
    expect(onSalesforce.tasks.map((t) => t.input.ownerId)).toEqual(['o-1']);
    // What the lead's summary leaves out, for the same reason.
    expect(actions.map((a) => needlessReason(a, sf, SALESFORCE_PROFILE))).toEqual([
      reason,
      reason,
      undefined,
    ]);
    const onHubSpot = planWrites(
      actions.map((a) => planned(a)),
      sf,
      HUBSPOT_PROFILE,
    );
    expect([onHubSpot.needless, onHubSpot.tasks.length]).toEqual([[], 3]);
    expect(actions.map((a) => needlessReason(a, sf, HUBSPOT_PROFILE))).toEqual([
      undefined,
      undefined,
      undefined,
    ]);
  });

  it('refuses a queue without a target, or whose owner is deactivated', () => {
    const plan = planWrites(
      [
        planned({ kind: 'set_queue', queue: 'lost' }),
        planned({ kind: 'set_queue', queue: 'smb', target: { kind: 'owner', owner: 'bo@acme.io' } }),
      ],
      merged,
      SALESFORCE_PROFILE,
    );
    expect(plan.refused.map((r) => r.error.message)).toEqual([
      'queue lost has no CRM target: give it an owner or a team in the team file',
      'queue smb: Salesforce owner bo@acme.io is deactivated',
    ]);
  });

  it('a team target where the CRM has no teams is the configuration’s error, not sent and not the CRM’s refusal', () => {
    const target = { kind: 'team', team: 'EMEA triage' } as const;
    const plan = planWrites(
      [
        planned({ kind: 'set_queue', queue: 'emea', target }),
        planned({ kind: 'queue_task', queue: 'emea', target, ...task }),
      ],
      merged,
      SALESFORCE_PROFILE,
    );
    expect([plan.teams, plan.tasks]).toEqual([[], []]);
    const reason =
      "configuration error: queue emea targets team EMEA triage, but Salesforce has no teams: give it an owner instead, { owner: a user's email, or a Lead queue's name or id (00G…) }";
    expect(plan.refused.map((r) => describeFailure(r.error, 'Salesforce'))).toEqual([reason, reason]);
    expect(
      plan.refused.every((r) => r.error instanceof TenantConfigError && r.error.kind === 'invalid'),
    ).toBe(true);
  });

  it('tasks carry the action key; enrollments pass through; notes are left for the note flush', () => {
    const t = planned({ kind: 'create_task', assignee: 'ada@acme.io', ...task });
    const en = planned({ kind: 'enroll_sequence', sequence: { name: 'Nurture' }, sender: 'ada@acme.io' });
    const note = planned({ kind: 'write_note', text: 'why' });
    const plan = planWrites([t, en, note], merged, HUBSPOT_PROFILE);
    expect(plan.tasks.map((x) => x.input)).toEqual([
      {
        leadId: 'L1',
        key: t.a.key,
        ownerId: 'o-1',
        subject: 'Call',
        body: 'b',
        dueAt: 1_000,
        priority: 'high',
      },
    ]);
    expect(plan.enrollments).toEqual([{ ...en, sequence: { name: 'Nurture' }, sender: 'ada@acme.io' }]);
    expect([plan.owners, plan.teams, plan.refused]).toEqual([[], [], []]);
  });
});
