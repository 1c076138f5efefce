// The write log's per-contact effects are the exactly-once witness of the scale tests and benches; a
// task and a note may carry the same id (ids count per object type), and must not be taken for each other.
import { contactEffects } from '../../connectors/sandbox/index.js';
import { WriteLog, type WriteRecord } from '../../connectors/sandbox/write-log.js';

describe('contactEffects', () => {
  it('tells a task from a note with the same id by the association’s type', () => {
    const log = new WriteLog();
    const write = (kind: WriteRecord['kind'], objectId: string, details: Record<string, string> = {}) =>
      log.append({ portalId: 1, kind, objectId, at: 0, source: 'api', details });
    write('task.created', '40001');
    write('association.created', '40001', { toType: 'contacts', toId: '101', typeId: '204' });
    write('note.created', '40001');
    write('association.created', '40001', { toType: 'contacts', toId: '102', typeId: '202' });
    const effects = contactEffects(log, 1);
    expect([...effects.tasks.keys()]).toEqual(['101']);
    expect([...effects.notes.keys()]).toEqual(['102']);
  });
});
