import { ConfigError, loadConfig } from '../../src/app/config.js';

const HOUR = 60 * 60_000;

describe('notification give-up window', () => {
  it('retries a notification for 24 hours by default', () => {
    expect(loadConfig({}).notifyGiveUpMs).toBe(24 * HOUR);
  });

  it('reads the hours from NOTIFY_GIVE_UP_HOURS', () => {
    expect(loadConfig({ NOTIFY_GIVE_UP_HOURS: '0.5' }).notifyGiveUpMs).toBe(HOUR / 2);
  });

  it.each(['0', '-1', 'never'])('refuses NOTIFY_GIVE_UP_HOURS=%p', (hours) => {
    expect(() => loadConfig({ NOTIFY_GIVE_UP_HOURS: hours })).toThrow(ConfigError);
    expect(() => loadConfig({ NOTIFY_GIVE_UP_HOURS: hours })).toThrow('NOTIFY_GIVE_UP_HOURS');
  });
});

describe('log level', () => {
  it('is unset by default, and takes any of winston’s levels', () => {
    expect(loadConfig({}).logLevel).toBeUndefined();
    expect(loadConfig({ LOG_LEVEL: '' }).logLevel).toBeUndefined();
    expect(loadConfig({ LOG_LEVEL: 'debug' }).logLevel).toBe('debug');
  });

  it.each(['loud', 'INFO'])('refuses LOG_LEVEL=%p, naming the levels', (level) => {
    expect(() => loadConfig({ LOG_LEVEL: level })).toThrow(ConfigError);
    expect(() => loadConfig({ LOG_LEVEL: level })).toThrow(/LOG_LEVEL.*error.*warn.*info/);
  });
});
