// Live account lookups shared while in flight: a batch joins the call another batch has in flight for
// the same domains and asks for the rest in one call of its own; nothing is kept once answered (the
// next batch asks the CRM again and sees what changed), a failed call fails its joiners and is not
// kept, and tenants never share. The CRM is a function whose calls the test answers by hand.
import { InFlightLookups } from '../../src/pipeline/in-flight-lookups.js';

interface Pending {
  keys: string[];
  answer: (values: Record<string, string>) => void;
  fail: (error: Error) => void;
}

function crm() {
  const calls: Pending[] = [];
  const lookup = (keys: string[]): Promise<Map<string, string>> =>
    new Promise((resolve, reject) =>
      calls.push({
        keys: [...keys],
        answer: (values) => resolve(new Map(Object.entries(values))),
        fail: reject,
      }),
    );
  return { calls, lookup };
}

const plain = (m: Map<string, string>): Record<string, string> => Object.fromEntries(m);

describe('InFlightLookups', () => {
  it('joins the call in flight for the same keys and asks for the rest in one call', async () => {
    const shared = new InFlightLookups<string, string>();
    const c = crm();
    const first = shared.joined('t1', c.lookup)(['acme.io', 'beta.io']);
    const second = shared.joined('t1', c.lookup)(['beta.io', 'gamma.io', 'delta.io', 'gamma.io']);
    expect(c.calls.map((x) => x.keys)).toEqual([
      ['acme.io', 'beta.io'],
      ['gamma.io', 'delta.io'],
    ]);
    expect(shared.inFlight('t1')).toBe(4);
    c.calls[0]!.answer({ 'acme.io': 'nina', 'beta.io': 'omar' });
    c.calls[1]!.answer({ 'gamma.io': 'pia' });
    // A key the CRM has nothing for is absent from the answer, as the CRM's own.
    expect(plain(await first)).toEqual({ 'acme.io': 'nina', 'beta.io': 'omar' });
    expect(plain(await second)).toEqual({ 'beta.io': 'omar', 'gamma.io': 'pia' });
    expect(shared.inFlight('t1')).toBe(0);
  });

  it('keeps nothing once answered: the next batch asks the CRM again and sees the change', async () => {
    const shared = new InFlightLookups<string, string>();
    const c = crm();
    const first = shared.joined('t1', c.lookup)(['acme.io']);
    c.calls[0]!.answer({ 'acme.io': 'nina' });
    expect(plain(await first)).toEqual({ 'acme.io': 'nina' });
    const again = shared.joined('t1', c.lookup)(['acme.io']);
    expect(c.calls).toHaveLength(2);
    c.calls[1]!.answer({ 'acme.io': 'omar' });
    expect(plain(await again)).toEqual({ 'acme.io': 'omar' });
  });

  it('fails the batches that joined a failed call, and the next one asks again', async () => {
    const shared = new InFlightLookups<string, string>();
    const c = crm();
    const first = shared.joined('t1', c.lookup)(['acme.io']);
    const joined = shared.joined('t1', c.lookup)(['acme.io']);
    expect(c.calls).toHaveLength(1);
    c.calls[0]!.fail(new Error('REQUEST_LIMIT_EXCEEDED'));
    await expect(first).rejects.toThrow('REQUEST_LIMIT_EXCEEDED');
    await expect(joined).rejects.toThrow('REQUEST_LIMIT_EXCEEDED');
    expect(shared.inFlight('t1')).toBe(0);
    const retry = shared.joined('t1', c.lookup)(['acme.io']);
    expect(c.calls).toHaveLength(2);
    c.calls[1]!.answer({ 'acme.io': 'nina' });
    expect(plain(await retry)).toEqual({ 'acme.io': 'nina' });
  });

  it('never shares between tenants', async () => {
    const shared = new InFlightLookups<string, string>();
    const c = crm();
    const one = shared.joined('t1', c.lookup)(['acme.io']);
    const two = shared.joined('t2', c.lookup)(['acme.io']);
    expect(c.calls).toHaveLength(2);
    c.calls[0]!.answer({ 'acme.io': 'nina' });
    c.calls[1]!.answer({ 'acme.io': 'ivo' });
    expect(plain(await one)).toEqual({ 'acme.io': 'nina' });
    expect(plain(await two)).toEqual({ 'acme.io': 'ivo' });
  });

  it('asks for nothing when every key is in flight, and answers an empty ask with nothing', async () => {
    const shared = new InFlightLookups<string, string>();
    const c = crm();
    const first = shared.joined('t1', c.lookup)(['acme.io']);
    const joined = shared.joined('t1', c.lookup)(['acme.io']);
    expect(plain(await shared.joined('t1', c.lookup)([]))).toEqual({});
    expect(c.calls).toHaveLength(1);
    c.calls[0]!.answer({ 'acme.io': 'nina' });
    expect(plain(await joined)).toEqual({ 'acme.io': 'nina' });
    await first;
  });
});
