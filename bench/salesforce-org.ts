// The bench's side of the Salesforce org thread (salesforce-org-thread.ts): starts it, and asks it to
// create leads and to say what was written to them.
import { Worker } from 'node:worker_threads';

export interface OrgThreadData {
  /** The app's OAuth callback, registered for the connected app the sandbox creates. */
  redirectUri: string;
  /** Latency the sandbox adds to every API call. */
  apiLatencyMs: number;
}

export type OrgRequest =
  | { kind: 'createLeads'; n: number }
  | { kind: 'routed' }
  | { kind: 'effects' }
  | { kind: 'calls' }
  | { kind: 'stop' };

export interface CreatedLead {
  id: string;
  email: string | undefined;
  website: string | undefined;
}

/** When each write lead-router made to a lead happened (epoch ms), by kind. */
export interface LeadEffects {
  id: string;
  owners: number[];
  tasks: number[];
  cadences: number[];
  notes: number[];
}

export type OrgAnswer =
  | { kind: 'createLeads'; leads: CreatedLead[]; createdAt: number }
  | { kind: 'routed'; owners: number; ownersAndTasks: number }
  | { kind: 'effects'; leads: LeadEffects[] }
  | { kind: 'calls'; accepted: Record<string, number> }
  | { kind: 'stop' };

type AnswerOf<K extends OrgRequest['kind']> = Extract<OrgAnswer, { kind: K }>;

export interface OrgReady {
  url: string;
  orgId: string;
  clientId: string;
  clientSecret: string;
}

export class OrgThread {
  private seq = 0;
  private readonly waiting = new Map<
    number,
    { resolve: (a: OrgAnswer) => void; reject: (e: Error) => void }
  >();

  private constructor(
    private readonly worker: Worker,
    readonly ready: OrgReady,
  ) {
    worker.on('message', (m: { seq: number; answer?: OrgAnswer; error?: string }) => {
      const w = this.waiting.get(m.seq);
      this.waiting.delete(m.seq);
      if (m.error !== undefined) w?.reject(new Error(`salesforce org thread: ${m.error}`));
      else if (m.answer !== undefined) w?.resolve(m.answer);
    });
    worker.on('error', (error) => {
      for (const w of this.waiting.values()) w.reject(error);
      this.waiting.clear();
    });
  }

  /** Starts the thread and waits for its org. A worker does not inherit tsx's hooks: it registers them. */
  static start(data: OrgThreadData): Promise<OrgThread> {
    const entry = new URL('./salesforce-org-thread.ts', import.meta.url).href;
    const boot = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); })`;
    const worker = new Worker(boot, { eval: true, workerData: data });
    return new Promise((resolve, reject) => {
      const exited = (code: number) => reject(new Error(`salesforce org thread exited with ${code}`));
      worker.once('error', reject);
      worker.once('exit', exited);
      worker.once('message', (m: { ready: OrgReady }) => {
        worker.off('error', reject);
        worker.off('exit', exited);
        resolve(new OrgThread(worker, m.ready));
      });
    });
  }

  ask<K extends OrgRequest['kind']>(request: Extract<OrgRequest, { kind: K }>): Promise<AnswerOf<K>> {
    const seq = ++this.seq;
    return new Promise<OrgAnswer>((resolve, reject) => {
      this.waiting.set(seq, { resolve, reject });
      this.worker.postMessage({ seq, request });
    }) as Promise<AnswerOf<K>>;
  }

  async stop(): Promise<void> {
    await this.ask({ kind: 'stop' });
    await this.worker.terminate();
  }
}
