import { describe, expect, it } from '@jest/globals';
import { toNumberedPlaceholders } from '../../src/storage/db.js';
import { openStorage, StorageError } from '../../src/storage/index.js';
import { T0, addTenant } from './helpers.js';

describe('toNumberedPlaceholders', () => {
  it.each([
    ['SELECT 1', 'SELECT 1'],
    ['a = ? AND b = ?', 'a = $1 AND b = $2'],
    ["x = '?' AND y = ?", "x = '?' AND y = $1"],
    ['"we?ird" = ? OR z = ?', '"we?ird" = $1 OR z = $2'],
    ["s = 'it''s ?' AND t = ?", "s = 'it''s ?' AND t = $1"],
  ])('%s', (sql, expected) => {
    expect(toNumberedPlaceholders(sql)).toBe(expected);
  });
});

describe('openStorage', () => {
  it('refuses a URL that is not PostgreSQL', async () => {
    await expect(openStorage({ url: 'mysql://localhost/x' })).rejects.toMatchObject({ kind: 'config' });
  });

  it('refuses to store or read a token without a cipher', async () => {
    const s = await openStorage({ file: ':memory:' });
    try {
      await addTenant(s, 'a');
      await expect(s.setTenantToken('a', 'secret', T0)).rejects.toBeInstanceOf(StorageError);
      expect((await s.getTenant('a'))?.hasToken).toBe(false);
    } finally {
      await s.close();
    }
  });

  it('refuses an unsafe PostgreSQL schema name before connecting', async () => {
    await expect(
      openStorage({ url: 'postgres://127.0.0.1:1/none', schema: 'x; DROP TABLE y' }),
    ).rejects.toMatchObject({ kind: 'invalid' });
  });
});
