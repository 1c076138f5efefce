import { loadRuleSet } from '../../../src/rules/index.js';

const FILE = (sla: string, extra = ''): string => `pools:
  p: { members: [ada@acme.io, bo@acme.io] }
routes:
  - name: r
    assign: { pool: p }
    sla: ${sla}
fallback: { queue: triage }
${extra}team:
  reps:
    ada@acme.io: { timezone: Europe/Berlin, hours: "Mon-Fri 09:00-17:00" }
    bo@acme.io: { timezone: Europe/Berlin }
  queues: { triage: { team: Triage } }
`;

function errors(src: string): string[] {
  const r = loadRuleSet(src, 'rules/t.yaml');
  if (r.ok) return [];
  return r.errors.map((e) => `${e.line}:${e.column} ${e.path}: ${e.message}`);
}

describe('SLA rules', () => {
  it('reads a clock and chained steps', () => {
    const r = loadRuleSet(
      FILE(`
      first_touch: 10m
      clock: working_hours
      steps:
        - { after: 5m, remind: notify }
        - { after: 15m, reroute: true }
        - { after: 1h, escalate: { queue: triage } }`),
      'rules/t.yaml',
    );
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    expect(r.ruleSet.routes[0]!.sla).toEqual({
      firstTouchMs: 600_000,
      onBreach: { kind: 'remind' },
      clock: 'working_hours',
      steps: [
        { afterMs: 300_000, kind: 'remind', via: 'notify' },
        { afterMs: 900_000, kind: 'reroute' },
        { afterMs: 3_600_000, kind: 'escalate', to: { kind: 'queue', name: 'triage' } },
      ],
    });
  });

  it('keeps the on_breach shorthand as it was, and as one step when a clock is given', () => {
    const plain = loadRuleSet(FILE('{ first_touch: 10m, on_breach: reroute }'), 'rules/t.yaml');
    if (!plain.ok) throw new Error('invalid');
    expect(plain.ruleSet.routes[0]!.sla).toEqual({ firstTouchMs: 600_000, onBreach: { kind: 'reroute' } });
    const clocked = loadRuleSet(
      FILE('{ first_touch: 10m, clock: working_hours, on_breach: reroute }'),
      'rules/t.yaml',
    );
    if (!clocked.ok) throw new Error('invalid');
    expect(clocked.ruleSet.routes[0]!.sla?.steps).toEqual([{ afterMs: 600_000, kind: 'reroute' }]);
  });

  it('reads an escalation to the owner’s manager, and a rep’s manager in the team file', () => {
    const r = loadRuleSet(
      FILE('{ first_touch: 10m, steps: [{ after: 1h, escalate: manager }] }').replace(
        'bo@acme.io: { timezone: Europe/Berlin }',
        'bo@acme.io: { timezone: Europe/Berlin, manager: " Zoe@Acme.io" }',
      ),
      'rules/t.yaml',
    );
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    expect(r.ruleSet.routes[0]!.sla?.steps).toEqual([
      { afterMs: 3_600_000, kind: 'escalate', to: { kind: 'manager' } },
    ]);
    expect(r.ruleSet.team?.reps['bo@acme.io']?.manager).toBe('zoe@acme.io');
    expect(r.ruleSet.team?.reps['ada@acme.io']?.manager).toBeUndefined();
    const shorthand = loadRuleSet(
      FILE('{ first_touch: 10m, on_breach: { escalate: manager } }'),
      'rules/t.yaml',
    );
    if (!shorthand.ok) throw new Error(JSON.stringify(shorthand.errors));
    expect(shorthand.ruleSet.routes[0]!.sla?.onBreach).toEqual({ kind: 'escalate', to: { kind: 'manager' } });
  });

  it('rejects a manager that is not an email', () => {
    const found = errors(
      FILE('{ first_touch: 10m }').replace(
        'bo@acme.io: { timezone: Europe/Berlin }',
        'bo@acme.io: { timezone: Europe/Berlin, manager: Zoe }',
      ),
    );
    expect(found.join('\n')).toMatch(
      /^11:\d+ team\.reps\["bo@acme\.io"\]\.manager: a manager is named by email/,
    );
  });

  it('reads what counts as a touch for the rule set', () => {
    const r = loadRuleSet(
      FILE('{ first_touch: 10m }', 'touch: [activity, task_completed]\n'),
      'rules/t.yaml',
    );
    if (!r.ok) throw new Error('invalid');
    expect(r.ruleSet.touch).toEqual(['activity', 'task_completed']);
  });

  it.each([
    [
      '{ first_touch: 10m, on_breach: remind, steps: [{ after: 10m, remind: task }] }',
      /^6:\d+ routes\[0\]\.sla\.steps: give on_breach .* or steps, not both/,
    ],
    [
      '{ first_touch: 10m, steps: [{ after: 15m, reroute: true }, { after: 5m, remind: task }] }',
      /^6:\d+ routes\[0\]\.sla\.steps\[1\]\.after: steps run in order/,
    ],
    ['{ first_touch: 10m, steps: [{ after: 5m, remind: text }] }', /remind is task or notify.*|did you mean/],
    [
      '{ first_touch: 10m, steps: [{ after: 5m, remind: task, reroute: true }] }',
      /exactly one of remind, reroute, escalate/,
    ],
    [
      '{ first_touch: 10m, steps: [{ after: 5, reroute: true }] }',
      /steps\[0\]\.after: a duration needs a unit/,
    ],
    [
      '{ first_touch: 10m, steps: [{ after: 5m, escalate: { rep: zed@acme.io } }] }',
      /unknown rep "zed@acme.io"/,
    ],
    [
      '{ first_touch: 10m, steps: [{ after: 5m, escalate: { queue: triage } }, { after: 9m, reroute: true }] }',
      /nothing follows an escalation/,
    ],
    ['{ first_touch: 10m, clock: office }', /clock/],
    ['{ first_touch: 10m, on_breach: { escalate: boss } }', /or \{ escalate: manager \}/],
    ['{ first_touch: 10m, steps: [] }', /steps takes a list of 1 to 10 steps/],
    ['{ first_touch: 10m, steps: [{ after: 5m, remind: task, later: 1 }] }', /unknown key "later"/],
  ])('rejects %s with file, line and column', (sla, message) => {
    const found = errors(FILE(sla));
    expect(found.length).toBeGreaterThan(0);
    expect(found.join('\n')).toMatch(message);
  });

  it('rejects an unknown touch signal with a suggestion', () => {
    const r = loadRuleSet(FILE('{ first_touch: 10m }', 'touch: [activty]\n'), 'rules/t.yaml');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors[0]).toMatchObject({ line: 8, path: 'touch[0]', suggestion: 'activity' });
  });
});
