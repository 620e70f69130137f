import { Handle, type Node, type NodeProps, Position, useStore } from '@xyflow/react';
import { memo } from 'react';
import { statusLook } from '../ui/status';
import { itemSummary, type StepNodeData } from './build-graph';

export type StepFlowNode = Node<StepNodeData, 'step'>;

/** The item statuses drawn in the bar under a `for_each` node, in order. */
function itemBar(items: NonNullable<StepNodeData['items']>) {
  return [
    ['completed', items.completed],
    ['failed', items.failed],
    ['cancelled', items.cancelled],
    ['running', items.running],
  ] as const;
}

/** Below this zoom a step is drawn as a box without text. */
const FAR_ZOOM = 0.4;
const farOut = (state: { transform: [number, number, number] }) => state.transform[2] < FAR_ZOOM;

/**
 * One step of the graph: id, type and live status (colour, symbol and word). The outer element
 * carries the hooks tests rely on: `data-step-id` and `data-status` (SPEC §7).
 */
export const StepNode = memo(function StepNode({ data }: NodeProps<StepFlowNode>) {
  const look = data.status ? statusLook(data.status) : null;
  // Zoomed far out (a 500-step graph fitted to the view) the text cannot be read: a coloured box
  // with the same hooks and tooltip is drawn instead, a tenth of the elements per step.
  const far = useStore(farOut);
  if (far) {
    return (
      <div
        className={`step-node far tone-${look?.tone ?? 'neutral'}${data.selected ? ' selected' : ''}`}
        data-step-id={data.stepId}
        data-status={data.status ?? 'definition'}
        title={`${data.stepId} (${data.type})${data.status ? `: ${data.status}` : ''}`}
      >
        <Handle type="target" position={Position.Left} isConnectable={false} />
        <Handle type="source" position={Position.Right} isConnectable={false} />
      </div>
    );
  }
  const total = Math.max(1, data.items?.total ?? 1);
  const tooltip = [
    `${data.stepId} (${data.type})`,
    data.status ? `status: ${data.status}` : null,
    data.attempts > 1 ? `${data.attempts} attempts` : null,
    data.runIf !== 'all_success' ? `run_if: ${data.runIf}` : null,
    data.conditional ? 'has a when condition' : null,
    data.fallbackType ? `fallback: ${data.fallbackType}${data.usedFallback ? ' (used)' : ''}` : null,
    data.waitingForSignal ? `waiting for signal "${data.waitingForSignal}"` : null,
  ]
    .filter(Boolean)
    .join('\n');
  return (
    <div
      className={`step-node tone-${look?.tone ?? 'neutral'}${data.selected ? ' selected' : ''}${data.forEach ? ' for-each' : ''}`}
      data-step-id={data.stepId}
      data-status={data.status ?? 'definition'}
      title={tooltip}
    >
      <Handle type="target" position={Position.Left} isConnectable={false} />
      <div className="title">
        {data.stepId}
        {data.forEach ? (
          <span className="label-chip" title="for_each: the step runs once per item" style={{ marginLeft: 6 }}>
            for each
          </span>
        ) : null}
      </div>
      <div className="meta">
        <span className="type">{data.type}</span>
        {data.usedFallback ? <span title="the fallback ran">⤷</span> : null}
        {look ? (
          <span className={`status tone-${look.tone}`}>
            <span aria-hidden="true">{look.symbol}</span> {look.label}
            {data.attempts > 1 ? ` ×${data.attempts}` : ''}
          </span>
        ) : null}
      </div>
      {data.type === 'wait_for_signal' && !data.forEach ? (
        <div className="items">
          {data.waitingForSignal ? `waits for “${data.waitingForSignal}”` : 'waits for a signal'}
        </div>
      ) : null}
      {data.type === 'workflow' && !data.forEach ? (
        <div className="items">
          {data.childExecutionId ? `child ${data.childExecutionId.slice(0, 14)}… ↗` : 'starts a child execution'}
        </div>
      ) : null}
      {data.forEach ? (
        data.items ? (
          <>
            <div className="items" data-item-counts={JSON.stringify(data.items)}>
              {itemSummary(data.items)}
            </div>
            <div className="items-bar" aria-hidden="true">
              {itemBar(data.items).map(([status, count]) => (
                <span
                  key={status}
                  className={`tone-${statusLook(status).tone}`}
                  style={{ width: `${(count / total) * 100}%`, background: 'var(--tone)' }}
                />
              ))}
            </div>
          </>
        ) : (
          <div className="items mono" style={{ overflow: 'hidden', textOverflow: 'ellipsis', whiteSpace: 'nowrap' }}>
            over {data.forEachSource}
          </div>
        )
      ) : null}
      <Handle type="source" position={Position.Right} isConnectable={false} />
    </div>
  );
});
