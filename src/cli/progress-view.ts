/**
 * The live progress of one execution, as `weft run` and `weft executions watch` show it: on a
 * terminal a bar and each step's status, redrawn in place; elsewhere one plain line per change of a
 * step. Both commands feed it the same step fields (a store row for `run`, the API's step for
 * `watch`), so they look alike.
 */

/** What the view reads of a step. */
export interface ProgressStep {
  step_id: string;
  type: string;
  status: string;
  attempts: number;
}

/** Where progress goes; a TTY gets the redrawn view. */
export type ProgressOutput = NodeJS.WriteStream | { isTTY?: boolean; write(text: string): boolean };

const SYMBOLS: Record<string, string> = {
  pending: '·',
  queued: '○',
  running: '▶',
  waiting: '⏸',
  completed: '✔',
  failed: '✖',
  skipped: '↷',
  cancelled: '⊘',
};

const SETTLED = ['completed', 'failed', 'skipped', 'cancelled'];

function bar(settled: number, total: number, width = 30): string {
  const filled = total === 0 ? width : Math.round((settled / total) * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${settled}/${total}`;
}

/**
 * The exit code of a command that followed an execution to its end: 0 completed, 1 failed or
 * cancelled (what `weft run` and `weft executions watch` exit with).
 */
export function exitCodeOf(status: string): number {
  return status === 'completed' ? 0 : 1;
}

/** Draws progress: redrawn in place on a terminal, appended line by line elsewhere. */
export class ProgressView {
  readonly #seen = new Map<string, string>();
  #drawnLines = 0;

  constructor(private readonly out: ProgressOutput) {}

  render(status: string, steps: readonly ProgressStep[]): void {
    const settled = steps.filter((step) => SETTLED.includes(step.status)).length;
    if (this.out.isTTY) {
      const lines = [
        `${bar(settled, steps.length)} ${status}`,
        ...steps.map(
          (step) =>
            `  ${SYMBOLS[step.status] ?? '?'} ${step.step_id} (${step.type}) ${step.status}${step.attempts > 1 ? ` attempt ${step.attempts}` : ''}`,
        ),
      ];
      const up = this.#drawnLines > 0 ? `\u001b[${this.#drawnLines}A` : '';
      this.out.write(`${up}${lines.map((line) => `\u001b[2K${line}`).join('\n')}\n`);
      this.#drawnLines = lines.length;
      return;
    }
    for (const step of steps) {
      const key = `${step.status}#${step.attempts}`;
      if (this.#seen.get(step.step_id) === key || step.status === 'pending') continue;
      this.#seen.set(step.step_id, key);
      this.out.write(
        `[${settled}/${steps.length}] ${step.step_id}: ${step.status}${step.attempts > 1 ? ` (attempt ${step.attempts})` : ''}\n`,
      );
    }
  }

  /** A line of its own below the progress (on a terminal, the next render draws under it). */
  note(text: string): void {
    this.out.write(`${text}\n`);
    this.#drawnLines = 0;
  }

  /** The last line: the final status and, for a failure, its message. */
  finish(status: string, errorMessage: string | undefined): void {
    this.out.write(`execution ${status}${errorMessage ? `: ${errorMessage}` : ''}\n`);
  }
}
