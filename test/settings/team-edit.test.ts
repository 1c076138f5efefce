// Team edits on the YAML text: a rep's fields set, changed and removed in the team file's own keys, the
// rest of the file (comments, other reps, flow style) kept, and the result judged by the team loader.
import { describe, expect, it } from '@jest/globals';
import { loadTeam } from '../../src/rules/index.js';
import { changedFields, editRep } from '../../src/settings/team-edit.js';

const TEAM = `# The sales team
reps:
  ada@acme.io: { name: Ada, timezone: Europe/Berlin, weight: 2, cap: { per_day: 5 } }
  bo@acme.io: { timezone: Europe/Vienna }
queues:
  EMEA: { team: '410001' }
`;

const load = (source: string) => {
  const r = loadTeam(source, 'team.yaml');
  if (!r.ok) throw new Error(r.errors.map((e) => e.message).join('; '));
  return r.team;
};

describe('editRep', () => {
  it('sets, changes and removes fields, keeping everything else', () => {
    const edited = editRep(TEAM, 'Bo@Acme.io', {
      weight: 3,
      outOfOffice: ['2026-12-23..2027-01-02'],
      hours: ['Mon-Fri 08:00-16:00'],
      capPerWeek: 40,
      capPerDay: null,
    });
    expect(edited).toContain('# The sales team');
    const team = load(edited);
    expect(team.reps['bo@acme.io']).toMatchObject({
      weight: 3,
      caps: { perWeek: 40 },
      outOfOffice: [{ from: '2026-12-23', to: '2027-01-02' }],
    });
    expect(team.reps['bo@acme.io']?.hours).toHaveLength(1);
    expect(team.reps['ada@acme.io']).toMatchObject({ name: 'Ada', weight: 2, caps: { perDay: 5 } });
    expect(team.queues['EMEA']).toBeDefined();

    const uncapped = load(editRep(TEAM, 'ada@acme.io', { capPerDay: null, outOfOffice: [] }));
    expect(uncapped.reps['ada@acme.io']?.caps).toEqual({});
  });

  it('adds a new rep; an invalid value is left for the loader to refuse', () => {
    expect(load(editRep(TEAM, 'cy@acme.io', { timezone: 'Asia/Tokyo' })).reps['cy@acme.io']?.timezone).toBe(
      'Asia/Tokyo',
    );
    expect(loadTeam(editRep(TEAM, 'bo@acme.io', { timezone: 'Mars/Olympus' }), 'team.yaml').ok).toBe(false);
    expect(() => editRep('reps: [', 'bo@acme.io', { weight: 1 })).toThrow(/does not parse/);
  });

  it("names only the fields an edit changed, though the form sends them all (the history's note)", () => {
    // The Team page's form: every field, most as they were (hours in another spelling).
    const ada = {
      weight: 2,
      capPerDay: 6,
      capPerWeek: null,
      timezone: 'Europe/Berlin',
      hours: [],
      outOfOffice: ['2026-12-24..2026-12-31'],
    };
    const before = load(TEAM).reps['ada@acme.io'];
    expect(changedFields(ada, before, load(editRep(TEAM, 'ada@acme.io', ada)).reps['ada@acme.io'])).toEqual([
      'capPerDay',
      'outOfOffice',
    ]);
    const hours = { hours: ['mon-fri 9:00-17:00'] };
    const withHours = editRep(TEAM, 'bo@acme.io', hours);
    const again = { hours: ['Mon-Fri 09:00-17:00'] };
    expect(
      changedFields(
        again,
        load(withHours).reps['bo@acme.io'],
        load(editRep(withHours, 'bo@acme.io', again)).reps['bo@acme.io'],
      ),
    ).toEqual([]);
  });
});
