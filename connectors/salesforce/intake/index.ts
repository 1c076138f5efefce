// Salesforce's pulled intake: Change Data Capture on the Lead and Contact channels, one CdcStream per
// channel, on the org's jsforce connection.
import type { OpenedStream, PulledIntake, StreamLog, StreamResume, StreamSink } from '../../pulled-intake.js';
import { CdcStream, type CdcStreamOptions } from './cdc-stream.js';
import { CONTACT_CHANNEL, LEAD_CHANNEL } from './change-events.js';

export { CDC_RETENTION_MS, CdcStream } from './cdc-stream.js';
export { CONTACT_CHANNEL, LEAD_CHANNEL, mapChangeEvent, originClient } from './change-events.js';

export type SalesforceIntakeOptions = Pick<
  CdcStreamOptions,
  | 'conn'
  | 'refresh'
  | 'selfClient'
  | 'now'
  | 'retentionSafetyMs'
  | 'pollEveryMs'
  | 'pollOverlapMs'
  | 'settleMs'
  | 'maxBackoffMs'
> & {
  /** Default: Leads and Contacts. */
  channels?: readonly string[] | undefined;
};

export class SalesforceCdcIntake implements PulledIntake {
  readonly channels: readonly string[];

  constructor(private readonly options: SalesforceIntakeOptions) {
    this.channels = options.channels ?? [LEAD_CHANNEL, CONTACT_CHANNEL];
  }

  open(channel: string, resume: StreamResume | null, sink: StreamSink, log: StreamLog): OpenedStream {
    const { channels: _channels, ...rest } = this.options;
    return new CdcStream({ ...rest, channel, resume, sink, log }).start();
  }
}
