// Which `returnUrl` an install started on the HubSpot Marketplace may send the browser back to. HubSpot
// passes it with the authorization code ("Understand app installation flow", developers.hubspot.com/docs/
// apps/developer-platform/list-apps/understand-app-install-flow); anyone can forge such a link, so only a
// HubSpot origin is followed — never an open redirect.

/** `hubspot.com` and its subdomains (app.hubspot.com, app-eu1.hubspot.com, app-na2.hubspot.com, …). */
function isHubSpotHost(hostname: string): boolean {
  return hostname === 'hubspot.com' || hostname.endsWith('.hubspot.com');
}

/**
 * The URL to redirect to, normalized by the WHATWG parser, or null when `raw` is not a plain https URL
 * on a HubSpot host (or on one of `trustedOrigins`, which stand in for HubSpot: the sandbox CRM). Refuses
 * user info (`https://app.hubspot.com@evil.io`), explicit ports, and look-alikes
 * (`hubspot.com.evil.io`, `evilhubspot.com`).
 */
export function allowedReturnUrl(raw: string, trustedOrigins: readonly string[] = []): URL | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return null;
  }
  if (url.username !== '' || url.password !== '') return null;
  if (trustedOrigins.some((origin) => sameOrigin(url, origin))) return url;
  if (url.protocol !== 'https:' || url.port !== '') return null;
  return isHubSpotHost(url.hostname) ? url : null;
}

function sameOrigin(url: URL, origin: string): boolean {
  try {
    return new URL(origin).origin === url.origin;
  } catch {
    return false;
  }
}
