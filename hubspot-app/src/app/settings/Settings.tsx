// lead-router's settings page inside HubSpot: whether routing is healthy at a glance (connection, the
// published rule set, inbox and dead letters) and a button that opens the full settings tab in an iframe
// modal. Everything comes from the app's JSON API through hubspot.fetch, which HubSpot signs; this bundle
// holds no secret, only the app's public URL (filled in by `lead-router hubspot-project`).
import { useEffect, useState } from 'react';
import {
  Alert,
  Button,
  DescriptionList,
  DescriptionListItem,
  Flex,
  LoadingSpinner,
  StatusTag,
  Text,
  hubspot,
} from '@hubspot/ui-extensions';
import type { OpenIframeModalAction } from '@hubspot/ui-extensions';

const APP_URL = '{{PUBLIC_URL}}';

/** GET /api/crm/status (crmStatusResponseSchema in the app's src/settings/schemas.ts). */
export interface Status {
  tenant: string;
  crm: { ok: boolean; detail: string };
  published: { version: string; name: string; publishedAt: number | null; publishedBy: string | null } | null;
  inbox: { pending: number; oldestPendingAgeMs: number | null };
  deadLetters: number;
}

export type Fetch = typeof hubspot.fetch;

export interface SettingsPageProps {
  appUrl: string;
  fetch: Fetch;
  openIframeModal: OpenIframeModalAction;
}

async function readJson<T>(response: Promise<Response>): Promise<T> {
  const res = await response;
  const body = (await res.json().catch(() => ({}))) as T & { error?: string };
  if (!res.ok) throw new Error(body.error ?? `the app answered ${res.status}`);
  return body;
}

const when = (ms: number): string => `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;

function inboxText({ pending, oldestPendingAgeMs }: Status['inbox']): string {
  if (pending === 0) return 'empty';
  const age = oldestPendingAgeMs === null ? '' : `, oldest ${Math.round(oldestPendingAgeMs / 1000)} s`;
  return `${pending} waiting${age}`;
}

export function SettingsPage({ appUrl, fetch, openIframeModal }: SettingsPageProps) {
  const [status, setStatus] = useState<Status | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    readJson<Status>(fetch(`${appUrl}/api/crm/status`)).then(setStatus, (e: Error) => setError(e.message));
  }, [appUrl, fetch]);

  // The link is short-lived, so it is asked for on the click, not on load.
  const openTab = () => {
    readJson<{ url: string }>(fetch(`${appUrl}/api/crm/settings-link`, { method: 'POST' })).then(
      ({ url }) => openIframeModal({ uri: url, title: 'lead-router settings', width: 1200, height: 900 }),
      (e: Error) => setError(e.message),
    );
  };

  if (error !== null)
    return (
      <Alert title="lead-router is not reachable" variant="danger">
        {error}
      </Alert>
    );
  if (status === null) return <LoadingSpinner label="Loading lead-router status" />;
  const { published } = status;
  return (
    <Flex direction="column" gap="sm">
      <Text format={{ fontWeight: 'bold' }}>Lead routing for {status.tenant}</Text>
      <DescriptionList direction="row">
        <DescriptionListItem label="Connection">
          <StatusTag variant={status.crm.ok ? 'success' : 'danger'}>
            {status.crm.ok ? 'Connected' : status.crm.detail}
          </StatusTag>
        </DescriptionListItem>
        <DescriptionListItem label="Published rule set">
          <Text>
            {published === null
              ? 'nothing published'
              : `${published.name} (${published.version})` +
                (published.publishedAt === null
                  ? ''
                  : `, ${when(published.publishedAt)} by ${published.publishedBy ?? 'unknown'}`)}
          </Text>
        </DescriptionListItem>
        <DescriptionListItem label="Inbox">
          <Text>{inboxText(status.inbox)}</Text>
        </DescriptionListItem>
        <DescriptionListItem label="Dead letters">
          <StatusTag variant={status.deadLetters === 0 ? 'success' : 'warning'}>
            {status.deadLetters === 0 ? 'none' : `${status.deadLetters} to replay`}
          </StatusTag>
        </DescriptionListItem>
      </DescriptionList>
      <Button variant="primary" onClick={openTab}>
        Open routing settings
      </Button>
    </Flex>
  );
}

hubspot.extend<'settings'>(({ actions }) => (
  <SettingsPage appUrl={APP_URL} fetch={hubspot.fetch} openIframeModal={actions.openIframeModal} />
));
