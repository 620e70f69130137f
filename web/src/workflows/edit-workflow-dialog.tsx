import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useCallback, useState } from 'react';
import type { Workflow, WorkflowDefinition } from '../../../src/sdk/types';
import { useClient } from '../api/weft-client';
import { Dialog } from '../ui/dialog';
import { ProblemBanner } from '../ui/problem-banner';
import { DefinitionEditor, type EditorState } from './definition-editor';

/** Edits a workflow's definition; saving makes the next version (PUT). */
export function EditWorkflowDialog(props: { workflow: Workflow; onClose: () => void }) {
  const client = useClient();
  const queryClient = useQueryClient();
  const [text, setText] = useState(() => JSON.stringify(props.workflow.definition, null, 2));
  const [state, setState] = useState<EditorState>({ definition: null, valid: false, checking: true });
  const onState = useCallback((next: EditorState) => setState(next), []);
  const save = useMutation({
    mutationFn: (definition: WorkflowDefinition) => client.workflows.update(props.workflow.id, definition),
    onSuccess: (updated) => {
      queryClient.setQueryData(['workflows', props.workflow.id], updated);
      queryClient.invalidateQueries({ queryKey: ['workflows'] });
      props.onClose();
    },
  });
  return (
    <Dialog title={`Edit ${props.workflow.name} (saves v${props.workflow.version + 1})`} onClose={props.onClose} wide>
      <DefinitionEditor text={text} onText={setText} onState={onState} rows={26} />
      {save.error ? <ProblemBanner error={save.error} title="Not saved." /> : null}
      <div className="footer">
        <button type="button" onClick={props.onClose}>
          Cancel
        </button>
        <button
          type="button"
          className="primary"
          disabled={!state.valid || !state.definition || save.isPending}
          onClick={() => state.definition && save.mutate(state.definition)}
        >
          {save.isPending ? 'Saving…' : 'Save new version'}
        </button>
      </div>
    </Dialog>
  );
}
