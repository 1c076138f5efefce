import { ConfigError, loadConfig } from '../../src/app/config.js';

const DAY = 24 * 60 * 60_000;

describe('retention configuration', () => {
  it('keeps done inbox rows 30 days, dead letters 90 and the audit trail a year by default', () => {
    expect(loadConfig({}).retention).toEqual({
      inboxDoneMs: 30 * DAY,
      deadLetterMs: 90 * DAY,
      decisionMs: 365 * DAY,
    });
  });

  it('reads the days from the environment', () => {
    const env = {
      RETENTION_INBOX_DAYS: '7',
      RETENTION_DEAD_LETTER_DAYS: '14',
      RETENTION_DECISION_DAYS: '30',
    };
    expect(loadConfig(env).retention).toEqual({
      inboxDoneMs: 7 * DAY,
      deadLetterMs: 14 * DAY,
      decisionMs: 30 * DAY,
    });
  });

  it.each([
    [
      { RETENTION_DECISION_DAYS: '60' },
      'RETENTION_DECISION_DAYS must be at least RETENTION_INBOX_DAYS and RETENTION_DEAD_LETTER_DAYS',
    ],
    [{ RETENTION_INBOX_DAYS: '0' }, 'RETENTION_INBOX_DAYS'],
    [{ RETENTION_DEAD_LETTER_DAYS: 'forever' }, 'RETENTION_DEAD_LETTER_DAYS'],
  ])('refuses %p', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });
});
