// What a Salesforce API call is, by method and path shape, for the shared call counter: the benchmarks
// count owner, task and cadence calls per lead from these names.

export function sfCallKind(method: string, path: string): string {
  const p = path.replace(/^\/services\/data\/v[\d.]+/, '');
  if (p.startsWith('/query/')) return 'queryMore';
  if (p === '/query' || p === '/queryAll') return 'query';
  if (p === '/composite/sobjects') return method === 'PATCH' ? 'collections.update' : 'collections.create';
  if (p.startsWith('/composite/sobjects/')) return 'collections.retrieve';
  if (p.startsWith('/actions/standard/')) return `action.${p.slice('/actions/standard/'.length)}`;
  const sobject = /^\/sobjects\/([^/]+)(\/([^/]+))?(\/describe)?$/.exec(p);
  if (sobject !== null) {
    const type = sobject[1] ?? '';
    if (sobject[4] !== undefined || sobject[3] === 'describe') return `describe.${type}`;
    if (method === 'POST') return `create.${type}`;
    if (method === 'PATCH') return `update.${type}`;
    return sobject[2] === undefined ? `describe.${type}` : `read.${type}`;
  }
  return `${method} ${p}`;
}
