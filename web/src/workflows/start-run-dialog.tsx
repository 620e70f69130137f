import { useMutation, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useMemo, useState } from 'react';
import { useNavigate } from 'react-router';
import type { Workflow } from '../../../src/sdk/types';
import { useClient } from '../api/weft-client';
import { Dialog } from '../ui/dialog';
import { ProblemBanner } from '../ui/problem-banner';
import { type FormField, formFields, formInput } from './schema-form';

function FieldInput(props: { field: FormField; value: string; onChange: (value: string) => void; error?: string }) {
  const { field } = props;
  const id = `input-${field.name}`;
  const common = { id, name: field.name, 'aria-invalid': props.error ? true : undefined, required: field.required };
  return (
    <div className="field" data-field={field.name}>
      <label htmlFor={id}>
        {field.title}
        {field.required ? (
          <span aria-hidden="true" style={{ color: 'var(--status-danger)' }}>
            {' '}
            *
          </span>
        ) : null}
        <span className="subtle small"> {field.kind === 'json' ? 'JSON' : field.kind}</span>
      </label>
      {field.kind === 'boolean' ? (
        <label className="row">
          <input
            {...common}
            required={false}
            type="checkbox"
            checked={props.value === 'true'}
            onChange={(event) => props.onChange(String(event.target.checked))}
          />
          {props.value === 'true' ? 'true' : 'false'}
        </label>
      ) : field.kind === 'enum' ? (
        <select {...common} value={props.value} onChange={(event) => props.onChange(event.target.value)}>
          <option value="">—</option>
          {field.options.map((option) => (
            <option key={JSON.stringify(option)} value={JSON.stringify(option)}>
              {typeof option === 'string' ? option : JSON.stringify(option)}
            </option>
          ))}
        </select>
      ) : field.multiline ? (
        <textarea
          {...common}
          rows={field.kind === 'json' ? 5 : 3}
          value={props.value}
          onChange={(event) => props.onChange(event.target.value)}
        />
      ) : (
        <input
          {...common}
          type={field.inputType}
          step={field.kind === 'number' ? 'any' : undefined}
          value={props.value}
          onChange={(event) => props.onChange(event.target.value)}
        />
      )}
      {field.description ? <span className="description">{field.description}</span> : null}
      {props.error ? <span className="error">{props.error}</span> : null}
    </div>
  );
}

/** Starts a run of a workflow from a form generated from its `input_schema` (SPEC §7). */
export function StartRunDialog(props: { workflow: Workflow; onClose: () => void }) {
  const client = useClient();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const schema = (props.workflow.definition as { input_schema?: unknown }).input_schema;
  const form = useMemo(() => formFields(schema), [schema]);
  const [texts, setTexts] = useState<Record<string, string>>(() =>
    Object.fromEntries(form.fields.map((field) => [field.name, field.initial])),
  );
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [reference, setReference] = useState('');

  const start = useMutation({
    mutationFn: (input: unknown) =>
      client.executions.start(props.workflow.id, {
        input,
        ...(reference.trim() ? { reference: reference.trim() } : {}),
      }),
    onSuccess: (execution) => {
      queryClient.invalidateQueries({ queryKey: ['executions'] });
      navigate(`/executions/${execution.id}`);
    },
  });

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const result = formInput(form, texts);
    setErrors(result.errors);
    if (Object.keys(result.errors).length === 0) start.mutate(result.input);
  };

  return (
    <Dialog title={`Start a run of ${props.workflow.name}`} onClose={props.onClose}>
      <form onSubmit={submit} noValidate className="field" style={{ gap: 12 }} aria-label="Start form">
        {form.fields.map((field) => (
          <FieldInput
            key={field.name}
            field={field}
            value={texts[field.name] ?? ''}
            error={errors[field.name]}
            onChange={(value) => setTexts((current) => ({ ...current, [field.name]: value }))}
          />
        ))}
        <div className="field">
          <label htmlFor="reference">
            Reference <span className="subtle small">optional, your own id</span>
          </label>
          <input
            id="reference"
            name="reference"
            value={reference}
            onChange={(event) => setReference(event.target.value)}
          />
        </div>
        {start.error ? <ProblemBanner error={start.error} title="Not started." /> : null}
        <div className="footer">
          <button type="button" onClick={props.onClose}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={start.isPending || !props.workflow.enabled}>
            {start.isPending ? 'Starting…' : props.workflow.enabled ? 'Start run' : 'Disabled'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
