// Rules: the draft in CodeMirror (YAML), checked as you type by the server's loader — the CLI's — with
// each error and warning inline at its line and column and listed below (warnings never stop a
// publication); the diff against the published version; publish with a note; the history of
// publications with a rollback to any of them.
import { yaml } from '@codemirror/lang-yaml';
import { linter, lintGutter, type Diagnostic } from '@codemirror/lint';
import { basicSetup, EditorView } from 'codemirror';
import {
  approvalsResponseSchema,
  decideResponseSchema,
  publishResponseSchema,
  rulesResponseSchema,
  validateResponseSchema,
} from '../schemas.js';
import { ApiError, call, describe as describeProblem, el, fail, status, when, type Problem } from './api.js';
import { clearDraft, loadDraft, saveDraft } from './draft.js';

/** The file the server names the draft by; a problem in another (the team file) is not in the editor. */
const DRAFT_FILE = 'rules.yaml';

/** Where a publication's and a rollback's answers are said: beside the Publish button, above the history. */
const PUBLISH_MESSAGE = 'publish-message';
const HISTORY_MESSAGE = 'history-message';

const describe = (p: Problem): string => describeProblem(p, DRAFT_FILE);

function showProblems(errors: Problem[], warnings: Problem[]): void {
  const box = document.getElementById('problems')!;
  box.replaceChildren(
    errors.length === 0
      ? el('p', { class: 'ok' }, 'No errors.')
      : el(
          'ul',
          { class: 'error', 'aria-label': 'Errors in the draft' },
          ...errors.map((p) => el('li', {}, describe(p))),
        ),
    ...(warnings.length === 0
      ? []
      : [
          // Said in words, not only in colour: a warning does not stop publishing.
          el(
            'ul',
            { class: 'warning', 'aria-label': 'Warnings in the draft (they do not stop publishing)' },
            ...warnings.map((p) => el('li', {}, `Warning: ${describe(p)}`)),
          ),
        ]),
  );
}

/** What a status line adds about the warnings of what was just published or requested. */
function warningsNote(warnings: Problem[]): string {
  if (warnings.length === 0) return '';
  return ` ${warnings.length === 1 ? '1 warning' : `${warnings.length} warnings`}, listed under the draft.`;
}

function showDiff(lines: string[]): void {
  const changed = lines.filter((l) => !l.startsWith(' '));
  document
    .getElementById('diff')!
    .replaceChildren(
      ...(changed.length === 0
        ? ['No changes against the published version.']
        : lines.map((l) =>
            el('div', { class: l.startsWith('+') ? 'diff-add' : l.startsWith('-') ? 'diff-del' : '' }, l),
          )),
    );
}

function toDiagnostics(
  view: EditorView,
  problems: Problem[],
  severity: Diagnostic['severity'],
): Diagnostic[] {
  const doc = view.state.doc;
  return problems
    .filter((p) => p.file === DRAFT_FILE)
    .map((p) => {
      const line = doc.line(Math.min(Math.max(p.line, 1), doc.lines));
      const from = Math.min(line.from + Math.max(p.column - 1, 0), line.to);
      return { from, to: Math.max(from, line.to), severity, message: describe(p) };
    });
}

export async function rulesPage(): Promise<void> {
  let rules = await call(rulesResponseSchema, '/rules');
  const published = rules.active?.source ?? '';
  const view = new EditorView({
    doc: loadDraft() ?? published,
    parent: document.getElementById('editor')!,
    extensions: [
      basicSetup,
      yaml(),
      lintGutter(),
      EditorView.contentAttributes.of({ 'aria-label': 'Rule set (YAML)' }),
      EditorView.updateListener.of((u) => {
        if (u.docChanged) saveDraft(u.state.doc.toString());
      }),
      linter(
        async (v) => {
          const checked = await call(validateResponseSchema, '/rules/validate', {
            method: 'POST',
            body: { source: v.state.doc.toString() },
          });
          showProblems(checked.errors, checked.warnings);
          showDiff(checked.diff);
          return [
            ...toDiagnostics(v, checked.errors, 'error'),
            ...toDiagnostics(v, checked.warnings, 'warning'),
          ];
        },
        { delay: 400 },
      ),
    ],
  });

  const history = (): void => {
    const active = rules.active?.version;
    document.getElementById('history')!.replaceChildren(
      ...rules.publications.map((p) => {
        const action =
          p.rulesetVersion === active
            ? el('span', {}, 'active')
            : el(
                'button',
                { type: 'button', 'aria-label': `Roll back to ${p.rulesetVersion} (${when(p.publishedAt)})` },
                'Roll back',
              );
        action.addEventListener('click', () => {
          const note =
            (document.getElementById('note') as HTMLInputElement).value.trim() ||
            `roll back to ${p.rulesetVersion}`;
          call(publishResponseSchema, '/rules/rollback', {
            method: 'POST',
            body: { version: p.rulesetVersion, note },
          })
            .then(async (outcome) => {
              if (outcome.status === 'pending_approval') {
                status(
                  `Roll back to ${p.rulesetVersion} requested (request ${outcome.request.id}): it waits for a second admin's approval.${warningsNote(outcome.warnings)}`,
                  'ok',
                  HISTORY_MESSAGE,
                );
                return refresh();
              }
              status(
                `Rolled back to ${p.rulesetVersion}.${warningsNote(outcome.warnings)}`,
                'ok',
                HISTORY_MESSAGE,
              );
              return refresh(true);
            })
            .catch((error: unknown) => fail(error, HISTORY_MESSAGE));
        });
        return el(
          'tr',
          {},
          el('td', {}, when(p.publishedAt)),
          el('td', {}, p.publishedBy),
          el('td', {}, p.approvedBy ?? ''),
          el('td', {}, p.rulesetVersion),
          el('td', {}, p.teamVersion ?? ''),
          el('td', {}, p.note),
          el('td', {}, action),
        );
      }),
    );
  };

  const requests = (): void => {
    document.getElementById('requests')!.replaceChildren(
      ...rules.requests.map((r) => {
        const actions = el('td', {});
        if (r.state === 'pending')
          for (const decision of ['approve', 'reject'] as const) {
            const label = decision === 'approve' ? 'Approve' : 'Reject';
            const button = el('button', { type: 'button', 'aria-label': `${label} request ${r.id}` }, label);
            button.addEventListener('click', () => {
              call(decideResponseSchema, `/approvals/${r.id}/${decision}`, { method: 'POST' })
                .then(async (outcome) => {
                  if (outcome.status === 'published') {
                    status(
                      `Request ${r.id} approved: ${outcome.publication.rulesetVersion} is published; workers route with it from their next batch.`,
                    );
                    return refresh(true);
                  }
                  status(`Request ${r.id} rejected.`);
                  return refresh();
                })
                .catch(fail);
            });
            actions.append(button, ' ');
          }
        return el(
          'tr',
          {},
          el('td', {}, when(r.requestedAt)),
          el('td', {}, r.requestedBy),
          el('td', {}, r.rulesetVersion),
          el('td', {}, r.teamVersion ?? ''),
          el('td', {}, r.note),
          el('td', {}, r.decidedBy === null ? r.state : `${r.state} by ${r.decidedBy}`),
          actions,
        );
      }),
    );
  };

  const checkbox = document.getElementById('require-approval') as HTMLInputElement;
  const showApprovals = (a: { required: boolean; offRequestedBy?: string | undefined }): void => {
    checkbox.checked = a.required;
    document.getElementById('approval-state')!.textContent = !a.required
      ? 'Publishing takes effect at once.'
      : a.offRequestedBy !== undefined
        ? `${a.offRequestedBy} asked to stop requiring approval: another admin unticking the box confirms it.`
        : 'A publication, a rollback or a team edit waits until a second admin approves it below.';
  };
  checkbox.addEventListener('change', () => {
    call(approvalsResponseSchema, '/approvals', { method: 'PUT', body: { required: checkbox.checked } })
      .then((a) => {
        showApprovals(a);
        status(a.required ? 'Approvals are required.' : 'Approvals are no longer required.');
      })
      .catch(fail);
  });

  /** Reloads history and requests; `published`: the active version changed, so the editor shows it. */
  async function refresh(published = false): Promise<void> {
    rules = await call(rulesResponseSchema, '/rules');
    if (published) {
      clearDraft();
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: rules.active?.source ?? '' } });
      showDiff([]);
    }
    history();
    requests();
  }
  history();
  requests();
  showApprovals(await call(approvalsResponseSchema, '/approvals'));

  const noteInput = document.getElementById('note') as HTMLInputElement;
  noteInput.addEventListener('input', () => noteInput.removeAttribute('aria-invalid'));
  document.getElementById('publish')!.addEventListener('click', () => {
    noteInput.removeAttribute('aria-invalid');
    call(publishResponseSchema, '/rules/publish', {
      method: 'POST',
      body: {
        source: view.state.doc.toString(),
        note: noteInput.value,
        basedOn: rules.active?.version ?? null,
      },
    })
      .then(async (outcome) => {
        noteInput.value = '';
        // The editor still holds what was published: its warnings stay in view.
        showProblems([], outcome.warnings);
        if (outcome.status === 'pending_approval') {
          status(
            `Requested ${outcome.request.rulesetVersion} (request ${outcome.request.id}): it is published once a second admin approves it.${warningsNote(outcome.warnings)}`,
            'ok',
            PUBLISH_MESSAGE,
          );
          return refresh();
        }
        status(
          `Published ${outcome.publication.rulesetVersion}: workers route with it from their next batch.${warningsNote(outcome.warnings)}`,
          'ok',
          PUBLISH_MESSAGE,
        );
        clearDraft();
        rules = await call(rulesResponseSchema, '/rules');
        history();
        requests();
        showDiff([]);
      })
      .catch((error: unknown) => {
        if (error instanceof ApiError && error.errors.length > 0) {
          showProblems(error.errors, []);
          fail(new Error(`${error.message}: they are listed above the note.`), PUBLISH_MESSAGE);
          return;
        }
        // The API names the field it refuses first (`note: say why …`).
        if (error instanceof ApiError && error.message.startsWith('note:'))
          noteInput.setAttribute('aria-invalid', 'true');
        fail(error, PUBLISH_MESSAGE);
      });
  });
}
