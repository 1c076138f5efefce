// Queues are never a silent catch-all: a lead routed to a queue lands on the queue's CRM target (an
// owner, or a team plus a task naming it), through the real connector and the sandbox CRM, whose write
// log is the judge. A queue write that cannot land is a dead letter with its reason, never "done".
import { DEMO_TEAMS } from '../../connectors/sandbox/index.js';
import { setup, TENANT, useSandbox } from './support.js';

const sandbox = useSandbox();

const RULES = `
name: Queue test
routes:
  - name: Desk
    when: { title: Desk }
    assign: { queue: desk }
    task: { subject: 'Desk: {{email}}', due: 30m, priority: high }
  - name: Nowhere
    when: { title: Nowhere }
    assign: { queue: nowhere }
  - name: Sam
    when: { title: Sam }
    assign: { rep: sam@acme.io }
fallback: { queue: triage }
team:
  reps:
    sam@acme.io: { timezone: America/New_York }
  queues:
    triage: { team: SMB }
    desk: { owner: nina@acme.io }
    nowhere: { team: '999999' }
`;

describe('queues in the CRM', () => {
  it('a lead no rule caught gets the fallback queue’s team and a task naming it, once', async () => {
    const env = await setup(sandbox(), { rules: RULES });
    const lead = env.demo.portal.createObject(
      'contacts',
      { email: 'stray@bluelabs.example', jobtitle: 'Intern' },
      'import',
    );
    await env.enqueueCreated([lead]);
    await env.drain(env.worker());

    expect(await env.storage.inboxStats(TENANT)).toMatchObject({ done: 1, failed: 0 });
    const teams = env.writes('team.set', lead.id);
    expect(teams.map((w) => w.details)).toEqual([{ from: '', to: DEMO_TEAMS.SMB }]);
    expect(env.writes('owner.set', lead.id)).toEqual([]);
    const [association] = env.tasksFor(lead.id);
    const [task] = env.writes('task.created', association!.objectId);
    expect(task!.details['hs_task_subject']).toBe(
      'Pick up stray@bluelabs.example from queue triage (team SMB)',
    );
    expect(env.decisions.map((d) => d.decision.fallbacks)).toEqual([['no_route_matched']]);

    // Redelivered: nothing is written twice.
    const before = sandbox().crm.writes.list({ portalId: env.portalId, source: 'api' }).length;
    await env.enqueueCreated([lead], 'again');
    await env.drain(env.worker('w2'));
    expect(sandbox().crm.writes.list({ portalId: env.portalId, source: 'api' })).toHaveLength(before);
    await env.close();
  });

  it('a queue with an owner target makes that owner the lead’s owner, with the route’s task', async () => {
    const env = await setup(sandbox(), { rules: RULES });
    const lead = env.demo.portal.createObject(
      'contacts',
      { email: 'desk@bluelabs.example', jobtitle: 'Desk' },
      'import',
    );
    await env.enqueueCreated([lead]);
    await env.drain(env.worker());

    expect(await env.storage.inboxStats(TENANT)).toMatchObject({ done: 1, failed: 0 });
    const nina = env.demo.owners.find((o) => o.email === 'nina@acme.io')!;
    expect(env.writes('owner.set', lead.id).map((w) => w.details['to'])).toEqual([nina.id]);
    const [association] = env.tasksFor(lead.id);
    const [task] = env.writes('task.created', association!.objectId);
    expect(task!.details['hs_task_subject']).toBe('Desk: desk@bluelabs.example');
    expect(task!.details['hubspot_owner_id']).toBe(nina.id);
    await env.close();
  });

  it('a queue whose target the CRM does not have is a dead letter with the reason, never done', async () => {
    const env = await setup(sandbox(), { rules: RULES });
    const lead = env.demo.portal.createObject(
      'contacts',
      { email: 'lost@bluelabs.example', jobtitle: 'Nowhere' },
      'import',
    );
    await env.enqueueCreated([lead]);
    await env.drain(env.worker());

    const dead = await env.storage.deadLetters(TENANT);
    expect(dead.map((d) => d.event.objectId)).toEqual([lead.id]);
    // Our own check, before any call: HubSpot refused nothing.
    expect(dead[0]!.lastError).toBe(
      `assign contact ${lead.id} to queue nowhere: configuration error: queue nowhere: HubSpot lists no team named or numbered 999999; ` +
        `create task for contact ${lead.id} for queue nowhere: configuration error: queue nowhere: HubSpot lists no team named or numbered 999999`,
    );
    expect(env.tasksFor(lead.id)).toEqual([]);
    expect(env.writes('team.set', lead.id)).toEqual([]);
    const actions = await env.storage.actionsForDecision(TENANT, `${lead.id}:route`);
    expect(actions.map((a) => [a.action.kind, a.status])).toEqual([
      ['set_queue', 'failed'],
      ['queue_task', 'failed'],
    ]);
    await env.close();
  });
});
