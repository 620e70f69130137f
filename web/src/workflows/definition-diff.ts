import { diffLines } from 'diff';

/**
 * A line diff of two definitions (pretty JSON, keys in their saved order) with unchanged runs
 * folded to a few lines of context. Pure: unit-tested in definition-diff.test.ts.
 */

/** One shown line: added, removed, unchanged, or a fold of unchanged lines. */
export interface DiffLine {
  kind: 'added' | 'removed' | 'same' | 'gap';
  text: string;
}

/** Lines of context kept around each change. */
const CONTEXT = 3;

/** The diff of `before` → `after`, with long unchanged runs folded. */
export function definitionDiff(before: unknown, after: unknown): { lines: DiffLine[]; added: number; removed: number } {
  const parts = diffLines(`${JSON.stringify(before, null, 2)}\n`, `${JSON.stringify(after, null, 2)}\n`);
  const lines: DiffLine[] = [];
  let added = 0;
  let removed = 0;
  parts.forEach((part, index) => {
    const text = part.value.endsWith('\n') ? part.value.slice(0, -1) : part.value;
    const partLines = text.split('\n');
    if (part.added || part.removed) {
      const kind = part.added ? 'added' : 'removed';
      if (part.added) added += partLines.length;
      else removed += partLines.length;
      for (const line of partLines) lines.push({ kind, text: line });
      return;
    }
    const first = index === 0;
    const last = index === parts.length - 1;
    const keepHead = first ? 0 : CONTEXT;
    const keepTail = last ? 0 : CONTEXT;
    if (partLines.length <= keepHead + keepTail + 1) {
      for (const line of partLines) lines.push({ kind: 'same', text: line });
      return;
    }
    for (const line of partLines.slice(0, keepHead)) lines.push({ kind: 'same', text: line });
    lines.push({ kind: 'gap', text: `… ${partLines.length - keepHead - keepTail} unchanged lines …` });
    for (const line of partLines.slice(partLines.length - keepTail)) lines.push({ kind: 'same', text: line });
  });
  return { lines, added, removed };
}
