import { useEffect, useMemo, useRef, useState } from 'react';
import type { ValidationReport, WorkflowDefinition } from '../../../src/sdk/types';
import { errorMessage, useClient, WeftApiError } from '../api/weft-client';
import { locateJson, locatePath } from './json-locations';

/** One problem shown under the editor, at its path and line. */
interface ShownProblem {
  path: string;
  message: string;
  line: number | null;
  start: number | null;
  end: number | null;
}

/** What the editor reports upward: the parsed definition when it is valid. */
export interface EditorState {
  definition: WorkflowDefinition | null;
  valid: boolean;
  checking: boolean;
}

/**
 * A JSON editor for a definition with the server's validation as you type (debounced): every
 * error is listed with its path and line; clicking one selects it in the text.
 */
export function DefinitionEditor(props: {
  text: string;
  onText: (text: string) => void;
  onState: (state: EditorState) => void;
  rows?: number;
}) {
  const client = useClient();
  const area = useRef<HTMLTextAreaElement>(null);
  const [report, setReport] = useState<{
    text: string;
    problems: ShownProblem[];
    warnings: ShownProblem[];
    valid: boolean;
  } | null>(null);
  const [checking, setChecking] = useState(false);
  const { onState } = props;

  const scanned = useMemo(() => locateJson(props.text), [props.text]);

  useEffect(() => {
    if (scanned.problem) {
      onState({ definition: null, valid: false, checking: false });
      return;
    }
    const controller = new AbortController();
    const timer = setTimeout(async () => {
      setChecking(true);
      onState({ definition: null, valid: false, checking: true });
      const place = (path: string, message: string): ShownProblem => {
        const location = locatePath(scanned.locations, path);
        return {
          path,
          message,
          line: location?.line ?? null,
          start: location?.start ?? null,
          end: location?.end ?? null,
        };
      };
      try {
        const definition = JSON.parse(props.text) as WorkflowDefinition;
        const result: ValidationReport = await client.workflows.validate(definition, { signal: controller.signal });
        const problems = result.errors.map((error) => place(error.path, error.message));
        setReport({
          text: props.text,
          problems,
          warnings: result.warnings.map((w) => place(w.path, w.message)),
          valid: result.valid,
        });
        onState({ definition: result.valid ? definition : null, valid: result.valid, checking: false });
      } catch (error) {
        if (controller.signal.aborted) return;
        const problems =
          error instanceof WeftApiError && error.errors.length > 0
            ? error.errors.map((field) => place(field.path.replace(/^\/body/, ''), field.message))
            : [place('', errorMessage(error))];
        setReport({ text: props.text, problems, warnings: [], valid: false });
        onState({ definition: null, valid: false, checking: false });
      } finally {
        if (!controller.signal.aborted) setChecking(false);
      }
    }, 350);
    return () => {
      clearTimeout(timer);
      controller.abort();
    };
  }, [client, props.text, scanned, onState]);

  const select = (problem: { start: number | null; end: number | null }) => {
    const textarea = area.current;
    if (!textarea || problem.start === null || problem.end === null) return;
    textarea.focus();
    textarea.setSelectionRange(problem.start, problem.end);
    const lineHeight = textarea.scrollHeight / Math.max(1, props.text.split('\n').length);
    const line = props.text.slice(0, problem.start).split('\n').length;
    textarea.scrollTop = Math.max(0, (line - 4) * lineHeight);
  };

  const current = report && report.text === props.text ? report : null;
  return (
    <div className="field">
      <textarea
        ref={area}
        aria-label="Definition (JSON)"
        name="definition"
        spellCheck={false}
        rows={props.rows ?? 22}
        value={props.text}
        onChange={(event) => props.onText(event.target.value)}
      />
      <div
        aria-live="polite"
        data-validation={scanned.problem ? 'syntax' : current ? (current.valid ? 'valid' : 'invalid') : 'checking'}
      >
        {scanned.problem ? (
          <ul className="error-list">
            <li>
              <button
                type="button"
                className="link"
                onClick={() => select({ start: scanned.problem?.offset ?? 0, end: (scanned.problem?.offset ?? 0) + 1 })}
              >
                line {scanned.problem.line}, column {scanned.problem.column}
              </button>
              : JSON syntax: {scanned.problem.message}
            </li>
          </ul>
        ) : checking || !current ? (
          <span className="subtle small">Checking…</span>
        ) : current.valid ? (
          <span className="small status tone-success">✓ Valid definition</span>
        ) : (
          <ul className="error-list" aria-label="Validation errors">
            {current.problems.map((problem) => (
              <li key={`${problem.path}:${problem.message}`} data-error-path={problem.path}>
                <code>{problem.path || '/'}</code>
                {problem.line !== null ? (
                  <>
                    {' '}
                    (
                    <button type="button" className="link" onClick={() => select(problem)}>
                      line {problem.line}
                    </button>
                    )
                  </>
                ) : null}
                : {problem.message}
              </li>
            ))}
          </ul>
        )}
        {current && current.warnings.length > 0 ? (
          <ul className="error-list" style={{ color: 'var(--status-paused)' }} aria-label="Warnings">
            {current.warnings.map((warning) => (
              <li key={`${warning.path}:${warning.message}`}>
                <code>{warning.path}</code>: {warning.message}
              </li>
            ))}
          </ul>
        ) : null}
      </div>
    </div>
  );
}
