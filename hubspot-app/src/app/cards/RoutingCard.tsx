// "Why was this contact routed here?" on the contact record: the owner lead-router chose, the rule that
// matched, how the destination was resolved, the first-touch SLA, and a button that routes the contact
// again under the current rules. Data comes from the app's JSON API through hubspot.fetch, which HubSpot
// signs; this bundle holds no secret, only the app's public URL (filled in by `lead-router hubspot-project`).
import { useCallback, useEffect, useState } from 'react';
import {
  Alert,
  DescriptionList,
  DescriptionListItem,
  Flex,
  List,
  LoadingButton,
  LoadingSpinner,
  StatusTag,
  Text,
  hubspot,
} from '@hubspot/ui-extensions';
import type { AddAlertAction } from '@hubspot/ui-extensions';

const APP_URL = '{{PUBLIC_URL}}';

/** GET /api/crm/records/:id/routing (recordRoutingResponseSchema in the app's src/settings/schemas.ts). */
export interface Routing {
  recordId: string;
  decision: {
    decidedAt: number;
    owner: string | null;
    destination: string;
    rule: string | null;
    rulesetVersion: string;
    summary: string;
    steps: string[];
  } | null;
  sla: { state: 'armed' | 'met' | 'breached' | 'cancelled'; dueAt: number } | null;
}

export type Fetch = typeof hubspot.fetch;

export interface RoutingCardProps {
  appUrl: string;
  fetch: Fetch;
  recordId: string;
  addAlert: AddAlertAction;
}

async function readJson<T>(response: Promise<Response>): Promise<T> {
  const res = await response;
  const body = (await res.json().catch(() => ({}))) as T & { error?: string };
  if (!res.ok) throw new Error(body.error ?? `the app answered ${res.status}`);
  return body;
}

const when = (ms: number): string => `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;

const SLA = {
  armed: { variant: 'info', text: 'first touch due' },
  met: { variant: 'success', text: 'met' },
  breached: { variant: 'danger', text: 'breached' },
  cancelled: { variant: 'default', text: 'no longer tracked' },
} as const;

export function RoutingCard({ appUrl, fetch, recordId, addAlert }: RoutingCardProps) {
  const base = `${appUrl}/api/crm/records/${encodeURIComponent(recordId)}`;
  const [routing, setRouting] = useState<Routing | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [rerouting, setRerouting] = useState(false);

  const load = useCallback(() => {
    readJson<Routing>(fetch(`${base}/routing`)).then(setRouting, (e: Error) => setError(e.message));
  }, [base, fetch]);
  useEffect(load, [load]);

  const reroute = () => {
    setRerouting(true);
    readJson<{ queued: boolean }>(fetch(`${base}/reroute`, { method: 'POST' }))
      .then(
        ({ queued }) =>
          addAlert({
            type: 'success',
            message: queued
              ? 'Queued: lead-router routes this contact again under the current rules.'
              : 'A re-route of this contact is already waiting.',
          }),
        (e: Error) => addAlert({ type: 'danger', title: 'Re-route refused', message: e.message }),
      )
      .finally(() => setRerouting(false));
  };

  if (error !== null)
    return (
      <Alert title="lead-router is not reachable" variant="danger">
        {error}
      </Alert>
    );
  if (routing === null) return <LoadingSpinner label="Loading routing" />;
  const { decision, sla } = routing;
  if (decision === null) return <Text>lead-router has not routed this contact.</Text>;
  return (
    <Flex direction="column" gap="sm">
      <Text>{decision.summary}</Text>
      <DescriptionList direction="row">
        <DescriptionListItem label="Owner">
          <Text>{decision.owner ?? decision.destination}</Text>
        </DescriptionListItem>
        <DescriptionListItem label="Rule">
          <Text>{decision.rule ?? 'fallback (no rule matched)'}</Text>
        </DescriptionListItem>
        <DescriptionListItem label="Decided">
          <Text>
            {when(decision.decidedAt)}, rules {decision.rulesetVersion}
          </Text>
        </DescriptionListItem>
        <DescriptionListItem label="SLA">
          {sla === null ? (
            <Text>none</Text>
          ) : (
            <StatusTag variant={SLA[sla.state].variant}>
              {SLA[sla.state].text}
              {sla.state === 'armed' ? ` by ${when(sla.dueAt)}` : ''}
            </StatusTag>
          )}
        </DescriptionListItem>
      </DescriptionList>
      {decision.steps.length > 0 && (
        <List variant="ordered">
          {decision.steps.map((step, i) => (
            <Text key={i}>{step}</Text>
          ))}
        </List>
      )}
      <LoadingButton variant="secondary" loading={rerouting} onClick={reroute}>
        Re-route
      </LoadingButton>
    </Flex>
  );
}

hubspot.extend<'crm.record.sidebar'>(({ context, actions }) => (
  <RoutingCard
    appUrl={APP_URL}
    fetch={hubspot.fetch}
    recordId={String(context.crm.objectId)}
    addAlert={actions.addAlert}
  />
));
