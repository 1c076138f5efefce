import { startServer, type Harness } from './helpers.js';

let h: Harness;
beforeEach(async () => {
  h = await startServer();
});
afterEach(async () => {
  await h.close();
});

describe('health probes', () => {
  it('/healthz answers 200 { ok: true }', async () => {
    const res = await fetch(`${h.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });
  });

  it('/readyz answers 200 while the database answers', async () => {
    const res = await fetch(`${h.url}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true, database: 'ok', crm: 'ok' });
  });

  it('/readyz answers 503 once the database is gone, /healthz stays 200', async () => {
    await h.storage.close();
    const ready = await fetch(`${h.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ ok: false, database: 'unavailable' });
    expect((await fetch(`${h.url}/healthz`)).status).toBe(200);
  });

  it('/ is a page linking what there is to look at (was {"error":"not found"})', async () => {
    const res = await fetch(`${h.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await res.text();
    expect(html).toContain('<a href="/healthz">Health</a>');
    expect(html).toContain('<a href="/readyz">Readiness</a>');
  });

  it('unknown paths answer 404', async () => {
    expect((await fetch(`${h.url}/nope`)).status).toBe(404);
  });
});
