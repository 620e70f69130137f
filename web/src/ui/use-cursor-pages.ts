import { useCallback, useState } from 'react';

/** The cursor of the page shown and the stack of those before it; resets when `resetKey` changes. */
export function useCursorPages(resetKey: string) {
  const [state, setState] = useState<{ key: string; stack: Array<string | undefined> }>({
    key: resetKey,
    stack: [undefined],
  });
  const stack = state.key === resetKey ? state.stack : [undefined];
  const cursor = stack[stack.length - 1];
  const next = useCallback(
    (nextCursor: string | null | undefined) => {
      if (!nextCursor) return;
      setState({ key: resetKey, stack: [...stack, nextCursor] });
    },
    [resetKey, stack],
  );
  const previous = useCallback(() => {
    if (stack.length > 1) setState({ key: resetKey, stack: stack.slice(0, -1) });
  }, [resetKey, stack]);
  return { cursor, pageNumber: stack.length, next, previous };
}
