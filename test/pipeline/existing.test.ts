// Recognizing a create an earlier attempt made, among what the CRM holds for the lead.
import { hubspotNoteText } from '../../connectors/hubspot/profile.js';
import { matchEnrollment, matchNote, matchTask, sameNoteText } from '../../src/pipeline/existing.js';

const DUE = Date.parse('2026-11-26T13:00:00.000Z');

describe('sameNoteText', () => {
  it.each([
    ['the text as sent', 'Routed to Ada (pool emea-ae)', 'Routed to Ada (pool emea-ae)', true],
    [
      'line breaks and runs of spaces collapsed',
      'Routed to Ada rule 2  matched',
      'Routed to Ada\n  rule 2\tmatched',
      true,
    ],
    ['as rich text', '<p>Routed to Ada</p><p>rule 2<br/>matched</p>', 'Routed to Ada\nrule 2\nmatched', true],
    ['escaped as rich text', '<p>A &amp; B &lt;3 &#8594; x&nbsp;y</p>', 'A & B <3 → x y', true],
    ['markup-like text kept as sent', 'size <b> or <i>', 'size <b> or <i>', true],
    [
      'an unknown entity, and a code point out of range, stay as written',
      '<p>a &bogus; &#99999999;</p>',
      'a &bogus; &#99999999;',
      true,
    ],
    ['another text', '<p>Routed to Bo</p>', 'Routed to Ada', false],
    ['a text that only starts the same', '<p>Routed to Ada</p>', 'Routed to Ada (pool emea-ae)', false],
  ])('%s', (_name, stored, sent, same) => {
    expect(sameNoteText(stored, sent, hubspotNoteText)).toBe(same);
  });
});

describe('matchNote', () => {
  const ours = 'Lead amy@britco.co.uk → Ada Lovelace\nRoute: EMEA mid-market (employees ≥ 200 & < 1000)';
  it('finds our note stored as rich text, escaped', () => {
    const stored =
      '<div><p>Lead amy@britco.co.uk → Ada Lovelace</p><p>Route: EMEA mid-market (employees ≥ 200 &amp; &lt; 1000)</p></div>';
    expect(
      matchNote(
        [
          { id: 'n1', body: 'another note', at: 1 },
          { id: 'n2', body: stored, at: 2 },
        ],
        ours,
        hubspotNoteText,
      )?.id,
    ).toBe('n2');
  });
  it('finds nothing when no note says the same', () => {
    expect(
      matchNote([{ id: 'n1', body: '<p>Lead amy@britco.co.uk → Bo Berg</p>', at: 1 }], ours, hubspotNoteText),
    ).toBeUndefined();
    expect(matchNote([], ours, hubspotNoteText)).toBeUndefined();
  });
});

describe('matchTask', () => {
  const wanted = { subject: 'New lead amy@britco.co.uk', dueAt: DUE, ownerId: '41' };
  it.each([
    ['the same task', { id: 't', subject: wanted.subject, dueAt: DUE, ownerId: '41' }, 't'],
    [
      'due time stored without milliseconds',
      { id: 't', subject: wanted.subject, dueAt: DUE - 999, ownerId: '41' },
      't',
    ],
    ['another subject', { id: 't', subject: 'Call amy', dueAt: DUE, ownerId: '41' }, undefined],
    ['due another time', { id: 't', subject: wanted.subject, dueAt: DUE + 60_000, ownerId: '41' }, undefined],
    ['another owner', { id: 't', subject: wanted.subject, dueAt: DUE, ownerId: '42' }, undefined],
    ['no owner', { id: 't', subject: wanted.subject, dueAt: DUE }, undefined],
  ])('%s', (_name, task, expected) => {
    expect(matchTask([task], wanted)?.id).toBe(expected);
  });
});

describe('matchEnrollment', () => {
  it('adopts an enrollment in the same sequence only', () => {
    expect(matchEnrollment({ id: 'e1', sequenceId: '7' }, '7')).toEqual({ id: 'e1', sequenceId: '7' });
    expect(matchEnrollment({ id: 'e1', sequenceId: '8' }, '7')).toBeUndefined();
    expect(matchEnrollment(undefined, '7')).toBeUndefined();
  });
});
