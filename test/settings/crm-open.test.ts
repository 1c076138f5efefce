// The canvas entry of a server that cannot check a signed request (a public client: no consumer secret)
// says which setting is missing, instead of asking the user to open the tab from their CRM.
import { randomBytes } from 'node:crypto';
import express from 'express';
import { listenOn } from '../../src/server/index.js';
import { SettingsAccess } from '../../src/settings/index.js';
import { crmOpenRouter, CRM_OPEN_PATH } from '../../src/settings/crm-open.js';

it('a canvas request to a server without SALESFORCE_CLIENT_SECRET is answered 503, naming the setting', async () => {
  let asked = 0;
  const app = express();
  app.use(
    crmOpenRouter({
      access: new SettingsAccess(randomBytes(32)),
      storage: {
        findTenant: () => {
          asked += 1;
          return Promise.resolve(null);
        },
      },
      clock: () => 0,
    }),
  );
  const running = await listenOn(app, 0, '127.0.0.1');
  try {
    const res = await fetch(running.url + CRM_OPEN_PATH, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ signed_request: 'x.y' }).toString(),
    });
    expect(res.status).toBe(503);
    expect(await res.text()).toContain('set SALESFORCE_CLIENT_SECRET');
    expect(asked).toBe(0);
  } finally {
    await running.close();
  }
});
