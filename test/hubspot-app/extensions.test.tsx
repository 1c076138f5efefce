// The HubSpot UI extensions (hubspot-app/src/app/{settings,cards}) rendered with @hubspot/ui-extensions'
// own test renderer, against the real settings server through a signed hubspot.fetch: what an admin sees
// in HubSpot's settings, what a rep sees on a contact, and the buttons that open the tab and re-route.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  Alert,
  Button,
  DescriptionListItem,
  List,
  LoadingButton,
  StatusTag,
  Text,
} from '@hubspot/ui-extensions';
import { createRenderer, RenderedNodeType, type RenderedChildNode } from '@hubspot/ui-extensions/testing';
import { RoutingCard } from '../../hubspot-app/src/app/cards/RoutingCard.js';
import { SettingsPage } from '../../hubspot-app/src/app/settings/Settings.js';
import { traceLines } from '../../src/settings/crm-extension.js';
import { dachLead, PUBLIC_URL, startSettings, T0, type SettingsHarness } from '../settings/support.js';
import { hubspotFetch } from './hubspot-fetch.js';

/** All the text under a node, as the user reads it (`.text` holds a node's own text children only). */
function textIn(node: { childNodes: RenderedChildNode[] }): string {
  return node.childNodes.map((c) => (c.nodeType === RenderedNodeType.Text ? c.text : textIn(c))).join('');
}

/** Polls a check that no re-render announces (a spy called); the renderer's waitFor re-checks on renders. */
async function eventually(check: () => void, timeoutMs = 15_000): Promise<void> {
  for (const until = Date.now() + timeoutMs; ; await new Promise((r) => setTimeout(r, 20))) {
    try {
      return check();
    } catch (error) {
      if (Date.now() > until) throw error;
    }
  }
}

/** Real HTTP under a loaded machine: give the server time before a check fails. */
const PATIENCE = { timeoutInMs: 15_000 };

let h: SettingsHarness;
beforeAll(async () => {
  h = await startSettings();
  await h.route(h.a, [dachLead('c-501')], T0);
});
afterAll(async () => {
  await h.close();
});

describe('the settings extension', () => {
  it('shows connection, published rule set, inbox and dead letters, and opens the full tab in an iframe modal', async () => {
    const { render, find, waitFor, mocks } = createRenderer('settings');
    const via = hubspotFetch(h, '101');
    render(
      <SettingsPage appUrl={PUBLIC_URL} fetch={via.fetch} openIframeModal={mocks.actions.openIframeModal} />,
    );
    await waitFor(() => expect(find(Button).text).toBe('Open routing settings'), PATIENCE);
    const item = (label: string) => textIn(find(DescriptionListItem, { label }));
    const active = await h.storage.activeRuleset(h.a.id);
    expect(item('Connection')).toBe('Connected');
    expect(item('Published rule set')).toBe(
      `${active!.name} (${active!.version}), 2026-11-23 10:00 UTC by install`,
    );
    expect(item('Inbox')).toBe('empty');
    expect(item('Dead letters')).toBe('none');
    expect(find(Text).text).toBe('Lead routing for Acme');

    find(Button).trigger('onClick');
    await eventually(() => expect(mocks.actions.openIframeModal.calls).toHaveLength(1));
    const [modal] = mocks.actions.openIframeModal.calls[0]!;
    expect(modal).toMatchObject({ title: 'lead-router settings', width: 1200, height: 900 });
    expect(modal.uri.startsWith(`${PUBLIC_URL}/settings/open?`)).toBe(true);
    // The link opens a session for Acme's tab.
    const opened = await fetch(h.url + modal.uri.slice(PUBLIC_URL.length), { redirect: 'manual' });
    expect([opened.status, opened.headers.get('location')]).toEqual([303, `/settings/${h.a.id}/rules`]);
    expect(via.calls).toEqual(['GET /api/crm/status', 'POST /api/crm/settings-link']);
  });

  it('says the app is not reachable for a portal that has not installed it', async () => {
    const { render, find, waitFor, mocks } = createRenderer('settings');
    render(
      <SettingsPage
        appUrl={PUBLIC_URL}
        fetch={hubspotFetch(h, '303').fetch}
        openIframeModal={mocks.actions.openIframeModal}
      />,
    );
    await waitFor(() => expect(find(Alert).text).toBe('this account has not installed the app'), PATIENCE);
    expect(find(Alert).props.variant).toBe('danger');
  });
});

describe('the contact card', () => {
  it('says why the contact was routed here (owner, rule, steps, SLA) and re-routes it', async () => {
    const { render, find, findAll, waitFor, mocks } = createRenderer('crm.record.sidebar');
    const via = hubspotFetch(h, '101');
    render(
      <RoutingCard
        appUrl={PUBLIC_URL}
        fetch={via.fetch}
        recordId="c-501"
        addAlert={mocks.actions.addAlert}
      />,
    );
    await waitFor(() => expect(find(LoadingButton).text).toBe('Re-route'), PATIENCE);
    const [decision] = await h.storage.decisionsFor(h.a.id, { leadId: 'c-501' }, 1);
    const item = (label: string) => textIn(find(DescriptionListItem, { label }));
    expect(item('Owner')).toBe(decision!.owner);
    expect(item('Rule')).toBe('Enterprise demo requests in DACH');
    expect(item('SLA')).toBe('first touch due by 2026-11-23 10:10 UTC');
    expect(find(StatusTag).props.variant).toBe('info');
    expect(findAll(Text)[0]!.text).toBe(decision!.summary);
    const trace = find(List)
      .findAll(Text)
      .map((n) => n.text);
    expect(trace).toEqual(traceLines(decision!.trace));
    expect(trace).toEqual(
      expect.arrayContaining([
        '✗ Existing customer goes to its account owner',
        '✓ Enterprise demo requests in DACH',
      ]),
    );

    const pending = (await h.storage.inboxStats(h.a.id)).pending;
    find(LoadingButton).trigger('onClick');
    await eventually(() => expect(mocks.actions.addAlert.calls).toHaveLength(1));
    expect(mocks.actions.addAlert.calls[0]![0]).toMatchObject({ type: 'success' });
    expect((await h.storage.inboxStats(h.a.id)).pending).toBe(pending + 1);
    await waitFor(() => expect(find(LoadingButton).props.loading).toBe(false), PATIENCE);
    expect(via.calls).toEqual(['GET /api/crm/records/c-501/routing', 'POST /api/crm/records/c-501/reroute']);
  });

  it('says when lead-router has not routed the contact, and offers no re-route', async () => {
    const { render, find, maybeFind, waitFor, mocks } = createRenderer('crm.record.sidebar');
    render(
      <RoutingCard
        appUrl={PUBLIC_URL}
        fetch={hubspotFetch(h, '202').fetch}
        recordId="c-501"
        addAlert={mocks.actions.addAlert}
      />,
    );
    await waitFor(() => expect(find(Text).text).toBe('lead-router has not routed this contact.'), PATIENCE);
    expect(maybeFind(LoadingButton)).toBeNull();
  });
});
