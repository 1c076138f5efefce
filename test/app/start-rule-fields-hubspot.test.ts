// A rule file that names a contact property the HubSpot portal lacks is reported outside the settings
// tab, as for a Salesforce org: the app started with it (over the HubSpot sandbox, its demo portal
// installed through OAuth with the optional scope crm.schemas.contacts.read) reads the portal's contact
// properties and logs each such rule with the file, line, field and a did-you-mean among them;
// `validate --tenant` says the same. The demo rules as they are log no field warning. A portal installed
// without the scope is not checked, and the log names the scope to grant.
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from '@jest/globals';
import { loadConfig, type AppConfig } from '../../src/app/config.js';
import { startApp, type RunningApp } from '../../src/app/start.js';
import { createLogger } from '../../src/log.js';
import { until } from '../e2e/salesforce-support.js';
import { cliInProcess } from '../support/cli-in-process.js';

const DEMO = 'rules/hubspot-demo';
const SCHEMA_SCOPE = 'crm.schemas.contacts.read';
const NOT_A_PROPERTY = (name: string) =>
  `"${name}" is not a field of this HubSpot portal's contacts, so it never has a value there`;

/** The demo rules with the custom property misspelt in a condition and a placeholder no property. */
async function misspeltRules(): Promise<{ path: string; lines: { field: number; placeholder: number } }> {
  const dir = await mkdtemp(join(tmpdir(), 'lead-router-hubspot-fields-'));
  const demo = await readFile(`${DEMO}/rules.yaml`, 'utf8');
  const condition = 'when: { territory: north-america, demo_requested: true';
  const subject = "task: { subject: 'Demo request from {{company}}";
  expect(demo).toContain(condition);
  expect(demo).toContain(subject);
  const source = demo
    .replace(condition, 'when: { territory: north-america, demo_requsted: true')
    .replace(subject, "task: { subject: 'Demo request from {{company}} in {{industri}}");
  const path = join(dir, 'rules.yaml');
  await writeFile(path, source);
  await writeFile(join(dir, 'team.yaml'), await readFile(`${DEMO}/team.yaml`, 'utf8'));
  const lineOf = (text: string) => source.split('\n').findIndex((l) => l.includes(text)) + 1;
  return { path, lines: { field: lineOf('demo_requsted'), placeholder: lineOf('{{industri}}') } };
}

interface Started {
  app: RunningApp;
  config: AppConfig;
  logs: Record<string, unknown>[];
  tenantId: string;
  portalId: string;
}

async function start(rules: string): Promise<Started> {
  const logs: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _e, done) {
      for (const line of chunk.toString().split('\n'))
        if (line.trim() !== '') logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const config = loadConfig({
    PORT: '0',
    SANDBOX_PORT: '0',
    DATA_DIR: await mkdtemp(join(tmpdir(), 'lead-router-hubspot-fields-data-')),
    DEMO_RATE: '0',
    RULES: rules,
  });
  const app = await startApp(config, { logger: createLogger({ level: 'info', stream }), generate: false });
  const portalId = app.sandbox!.portalId;
  const tenant = await app.storage.findTenant('hubspot', portalId);
  return { app, config, logs, tenantId: tenant!.id, portalId };
}

const logged = (s: Started, message: string) => s.logs.filter((r) => r['message'] === message);
const checks = (s: Started) =>
  s.logs.filter(
    (r) => r['message'] === 'rule fields checked' || /^could not check/.test(String(r['message'])),
  );

/** A port nothing listens on: taken from the system, then let go. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * `lead-router validate` in-process, on the app's database and its sandbox portal (the port it took), as
 * the README runs it beside `npm start`.
 */
const validate = (s: Started, ...argv: string[]) =>
  cliInProcess(
    { DATA_DIR: s.config.dataDir, SANDBOX_PORT: new URL(s.app.sandbox!.url).port, DATABASE_URL: undefined },
    ['validate', ...argv],
  );

describe('rules naming contact properties the HubSpot portal lacks, outside the settings tab', () => {
  let s: Started | undefined;
  afterEach(async () => {
    await s?.app.stop();
    s = undefined;
  });

  it('start-up logs each with file, line, field and did-you-mean; validate --tenant says so', async () => {
    const { path, lines } = await misspeltRules();
    s = await start(path);
    const started = s;
    await until('the rule field check', () => checks(started).length >= 1, 30_000);
    const meta = { tenantId: s.tenantId, provider: 'hubspot', account: s.portalId, file: path };
    expect(logged(s, 'rule names a field this HubSpot portal does not have')).toEqual([
      expect.objectContaining({
        ...meta,
        level: 'warn',
        line: lines.field,
        field: 'demo_requsted',
        suggestion: 'demo_requested',
        warning: expect.stringContaining(`${path}:${lines.field}:`),
      }),
      expect.objectContaining({
        ...meta,
        level: 'warn',
        line: lines.placeholder,
        field: 'industri',
        suggestion: 'industry',
      }),
    ]);
    expect(logged(s, 'rule fields checked')).toEqual([expect.objectContaining({ ...meta, problems: 2 })]);

    const cli = await validate(s, path, '--tenant', s.portalId);
    expect(cli.code).toBe(0);
    const fieldWarnings = cli.err.filter((l) => l.includes(path));
    expect(fieldWarnings).toHaveLength(2);
    expect(fieldWarnings[0]).toContain(`${path}:${lines.field}:`);
    expect(fieldWarnings[0]).toContain(`${NOT_A_PROPERTY('demo_requsted')} (did you mean "demo_requested"?)`);
    expect(fieldWarnings[1]).toContain(`${NOT_A_PROPERTY('industri')} (did you mean "industry"?)`);
    expect(cli.out).toEqual([expect.stringContaining(`checked against hubspot portal ${s.portalId}`)]);
  }, 120_000);

  it('the demo rules as they are log no field warning, and validate --tenant finds none', async () => {
    s = await start(`${DEMO}/rules.yaml`);
    const started = s;
    await until('the rule field check', () => checks(started).length >= 1, 30_000);
    // The one team warning is the demo's Quinn, whom the portal has deactivated (routing skips him).
    expect(checks(s)).toEqual([
      expect.objectContaining({ message: 'rule fields checked', problems: 0, owners: 1 }),
    ]);
    expect(logged(s, 'rule names a field this HubSpot portal does not have')).toEqual([]);
    expect(logged(s, 'team names a rep this HubSpot portal does not have')).toEqual([
      expect.objectContaining({ owner: 'quinn@acme.io' }),
    ]);
    const cli = await validate(s, `${DEMO}/rules.yaml`, '--tenant', s.portalId);
    expect(cli.code).toBe(0);
    expect(cli.err).toEqual([
      expect.stringContaining('the user quinn@acme.io is deactivated in this HubSpot portal'),
    ]);

    // Run beside an app started on another SANDBOX_PORT: the error says where it looked, and what to set.
    const closed = await freePort();
    const elsewhere = await cliInProcess(
      { DATA_DIR: s.config.dataDir, SANDBOX_PORT: String(closed), DATABASE_URL: undefined },
      ['validate', `${DEMO}/rules.yaml`, '--tenant', s.portalId],
    );
    expect(elsewhere.code).toBe(1);
    expect(elsewhere.err).toEqual([
      expect.stringMatching(
        new RegExp(
          `^error: could not check rule fields against hubspot portal ${s.portalId}: HubSpot unreachable: .* \\(the sandbox CRM runs inside npm start and was looked for at http://127\\.0\\.0\\.1:${closed}: start the app, or give this command the SANDBOX_PORT the app runs with\\)$`,
        ),
      ),
    ]);
  }, 120_000);

  it('validate --tenant warns of a multiple-checkbox property compared with its values joined, once the portal has one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lead-router-hubspot-fields-'));
    const demo = await readFile(`${DEMO}/rules.yaml`, 'utf8');
    const condition = 'when: { territory: north-america, demo_requested: true';
    expect(demo).toContain(condition);
    const source = demo.replace(condition, `${condition}, interests: "Routing;Scoring"`);
    const path = join(dir, 'rules.yaml');
    await writeFile(path, source);
    await writeFile(join(dir, 'team.yaml'), await readFile(`${DEMO}/team.yaml`, 'utf8'));
    const line = source.split('\n').findIndex((l) => l.includes('interests:')) + 1;
    s = await start(path);
    const started = s;
    await until('the rule field check', () => checks(started).length >= 1, 30_000);
    // The portal's admin makes `interests` a multiple checkbox: its contacts' values reach the rules split.
    s.app.sandbox!.demo.portal.customContactProperties.set('interests', 'checkbox');
    const cli = await validate(s, path, '--tenant', s.portalId);
    expect(cli.code).toBe(0);
    expect(cli.err.filter((l) => l.includes(path))).toEqual([
      expect.stringMatching(
        new RegExp(
          `^warning: ${path}:${line}:\\d+ routes\\[\\d+\\]\\.when\\.interests: "interests" is a multi-select in this HubSpot portal: each of its values is compared on its own, so "Routing;Scoring" never matches; use in: \\[Routing, Scoring\\]$`,
        ),
      ),
    ]);
  }, 120_000);

  it('a portal installed without the properties scope is not checked, and the log names the scope', async () => {
    s = await start(`${DEMO}/rules.yaml`);
    const started = s;
    await until('the rule field check', () => checks(started).length >= 1, 30_000);
    // A second portal whose admin does not grant the optional scope.
    const other = s.app.sandbox!.crm.createPortal().portalId;
    s.app.sandbox!.crm.tokens.withholdScopes(other, [SCHEMA_SCOPE]);
    const res = await fetch(`${s.app.url}/oauth/hubspot/install?portalId=${other}`, { redirect: 'follow' });
    expect(res.status).toBe(200);
    await until('the check after the install', () => checks(started).length >= 2, 30_000);
    const tenant = await s.app.storage.findTenant('hubspot', String(other));
    expect(checks(s)[1]).toMatchObject({
      level: 'warn',
      message: `could not check rule fields: HubSpot app is missing scope: ${SCHEMA_SCOPE} (reinstall the app to grant it)`,
      tenantId: tenant!.id,
      account: String(other),
    });
  }, 120_000);
});
