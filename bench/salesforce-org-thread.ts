// The Salesforce sandbox for bench:e2e, in a worker thread of its own: the org's work (SOQL, writes,
// CometD delivery) runs beside the app, as a real org's runs on Salesforce's servers, instead of taking
// turns with the app on one event loop. The bench talks to it by messages; the app by HTTP and CometD.
import { parentPort, workerData } from 'node:worker_threads';
import { targetEffects } from '../connectors/sandbox-salesforce/index.js';
import { sandboxAppCredentials } from '../src/app/data-dir.js';
import { startSalesforceSandbox } from '../src/app/salesforce-sandbox.js';
import type { OrgRequest, OrgAnswer, LeadEffects, OrgThreadData } from './salesforce-org.js';

if (parentPort === null) throw new Error('salesforce-org-thread runs as a worker thread');
const port = parentPort;
const data = workerData as OrgThreadData;

const sf = await startSalesforceSandbox({
  port: 0,
  redirectUri: data.redirectUri,
  credentials: await sandboxAppCredentials(undefined, 'salesforce', 'sandbox-sf-'),
  options: { faults: { latencyMs: data.apiLatencyMs } },
});
const orgId = sf.orgId;
/** The leads the bench created, in order. */
const tracked: string[] = [];

function effects(): LeadEffects[] {
  const w = targetEffects(sf.crm.writes, orgId);
  const at = (list: { at: number }[] | undefined) => (list ?? []).map((r) => r.at);
  return tracked.map((id) => ({
    id,
    owners: at(w.owners.get(id)),
    tasks: at(w.tasks.get(id)),
    cadences: at(w.cadences.get(id)),
    notes: at(w.notes.get(id)),
  }));
}

async function answer(request: OrgRequest): Promise<OrgAnswer> {
  switch (request.kind) {
    case 'createLeads': {
      const leads = sf.demo.createLeads(request.n, 'generator');
      const createdAt = Date.now();
      const out = leads.map((l) => ({
        id: String(l['Id']),
        email: typeof l['Email'] === 'string' ? l['Email'] : undefined,
        website: typeof l['Website'] === 'string' ? l['Website'] : undefined,
      }));
      tracked.push(...out.map((l) => l.id));
      return { kind: 'createLeads', leads: out, createdAt };
    }
    case 'routed': {
      const w = targetEffects(sf.crm.writes, orgId);
      return {
        kind: 'routed',
        owners: tracked.filter((id) => w.owners.has(id)).length,
        ownersAndTasks: tracked.filter((id) => w.owners.has(id) && w.tasks.has(id)).length,
      };
    }
    case 'effects':
      return { kind: 'effects', leads: effects() };
    case 'calls':
      return { kind: 'calls', accepted: { ...sf.crm.calls.of(orgId).accepted } };
    case 'stop':
      await sf.crm.stop();
      return { kind: 'stop' };
  }
}

port.on('message', (message: { seq: number; request: OrgRequest }) => {
  answer(message.request).then(
    (a) => port.postMessage({ seq: message.seq, answer: a }),
    (error: unknown) => port.postMessage({ seq: message.seq, error: String(error) }),
  );
});
port.postMessage({
  ready: { url: sf.url, orgId, clientId: sf.app.clientId, clientSecret: sf.app.clientSecret },
});
