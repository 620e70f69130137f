import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useCallback, useState } from 'react';
import { useNavigate } from 'react-router';
import type { WorkflowDefinition } from '../../../src/sdk/types';
import { useClient } from '../api/weft-client';
import { Dialog } from '../ui/dialog';
import { ProblemBanner } from '../ui/problem-banner';
import { DefinitionEditor, type EditorState } from './definition-editor';

const BLANK = `{
  "name": "My workflow",
  "steps": [
    {"id": "hello", "type": "noop", "input": {"greeting": "{{ input.name }}"}}
  ]
}`;

/** Creates a workflow from a starter template or pasted JSON, validated as it is typed. */
export function CreateWorkflowDialog(props: { onClose: () => void }) {
  const client = useClient();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [text, setText] = useState(BLANK);
  const [state, setState] = useState<EditorState>({ definition: null, valid: false, checking: true });
  const templates = useQuery({ queryKey: ['templates'], queryFn: ({ signal }) => client.templates.list({ signal }) });
  const onState = useCallback((next: EditorState) => setState(next), []);

  const create = useMutation({
    mutationFn: (definition: WorkflowDefinition) => client.workflows.create(definition),
    onSuccess: (workflow) => {
      queryClient.invalidateQueries({ queryKey: ['workflows'] });
      navigate(`/workflows/${workflow.id}`);
    },
  });

  return (
    <Dialog title="New workflow" onClose={props.onClose} wide>
      <div className="row">
        <label htmlFor="template">Start from</label>
        <select
          id="template"
          name="template"
          defaultValue=""
          onChange={(event) => {
            const template = templates.data?.items.find((item) => item.id === event.target.value);
            setText(template ? JSON.stringify(template.definition, null, 2) : BLANK);
          }}
        >
          <option value="">a blank definition</option>
          {(templates.data?.items ?? []).map((template) => (
            <option key={template.id} value={template.id}>
              template: {template.name}
            </option>
          ))}
        </select>
        <span className="subtle small">or paste a definition below (SPEC §1).</span>
      </div>
      <DefinitionEditor text={text} onText={setText} onState={onState} />
      {create.error ? <ProblemBanner error={create.error} title="Not created." /> : null}
      <div className="footer">
        <button type="button" onClick={props.onClose}>
          Cancel
        </button>
        <button
          type="button"
          className="primary"
          disabled={!state.valid || !state.definition || create.isPending}
          onClick={() => state.definition && create.mutate(state.definition)}
        >
          {create.isPending ? 'Creating…' : 'Create workflow'}
        </button>
      </div>
    </Dialog>
  );
}
