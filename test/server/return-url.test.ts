// Which returnUrl a Marketplace install may redirect to (the HTTP cases are in oauth.test.ts).
import { allowedReturnUrl } from '../../src/server/return-url.js';

describe('allowedReturnUrl', () => {
  it.each([
    'https://app.hubspot.com/x',
    'https://app-eu1.hubspot.com/x',
    'https://app-na2.hubspot.com/x',
    'https://hubspot.com/',
    'https://APP.HubSpot.com/x',
  ])('accepts %s', (raw) => {
    expect(allowedReturnUrl(raw)?.protocol).toBe('https:');
  });

  it('accepts a trusted stand-in origin (the sandbox) but not its neighbours', () => {
    expect(allowedReturnUrl('http://127.0.0.1:4000/back', ['http://127.0.0.1:4000'])).not.toBeNull();
    expect(allowedReturnUrl('http://127.0.0.1:4001/back', ['http://127.0.0.1:4000'])).toBeNull();
  });
});
