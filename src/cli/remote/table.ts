/**
 * Plain-text tables for the server commands: a header row, then one row per item, columns padded
 * to their widest cell and two spaces apart, no borders (they copy and `grep`/`awk` cleanly).
 * Written here rather than taken from a package: the commands need nothing more, and nothing in
 * node_modules does it without colours or box drawing.
 */

/** Longest cell; longer values are cut with `…` (the JSON form has them whole). */
const MAX_CELL = 60;

/** One cell's text: on one line, at most MAX_CELL characters, `-` for nothing. */
export function cell(value: unknown): string {
  if (value === null || value === undefined || value === '') return '-';
  const text = (typeof value === 'string' ? value : JSON.stringify(value)).replace(/\s+/g, ' ');
  const characters = [...text];
  return characters.length > MAX_CELL ? `${characters.slice(0, MAX_CELL - 1).join('')}…` : text;
}

/** The table as lines of text (ending with a newline); `rows` hold values, shown through `cell`. */
export function formatTable(headers: readonly string[], rows: readonly (readonly unknown[])[]): string {
  const texts = rows.map((row) => headers.map((_, column) => cell(row[column])));
  const widths = headers.map((header, column) =>
    Math.max([...header].length, ...texts.map((row) => [...(row[column] ?? '')].length)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((text, column) =>
        column === cells.length - 1 ? text : text + ' '.repeat((widths[column] ?? 0) - [...text].length),
      )
      .join('  ');
  return `${[line(headers), ...texts.map(line)].join('\n')}\n`;
}

/** An ISO timestamp without its milliseconds (`2026-01-31T12:00:00Z`), or `-`. */
export function shortTime(iso: string | null | undefined): string {
  return iso ? iso.replace(/\.\d+Z$/, 'Z') : '-';
}

/** `key: value` lines, keys padded to one width, for one object's fields. */
export function formatFields(fields: readonly (readonly [string, unknown])[]): string {
  const width = Math.max(...fields.map(([key]) => key.length)) + 1;
  return `${fields.map(([key, value]) => `${`${key}:`.padEnd(width)} ${cell(value)}`).join('\n')}\n`;
}

/** The message of an execution's or step's `error` (`{message, …}`), if any. */
export function errorMessage(error: unknown): string | undefined {
  if (error === null || error === undefined) return undefined;
  const message = (error as { message?: unknown }).message;
  return typeof message === 'string' ? message : JSON.stringify(error);
}
