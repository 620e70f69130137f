// Source positions for the test report. The test files run bundled (scripts/compile-tests.mjs)
// and without `--enable-source-maps`: with it, the first stack trace a file's process formats
// parses the source map of the chunk every file shares, about a second of CPU in each of ~110
// processes, which also held one file's event loop past an expression's 1 s time limit. Only a
// failing test's report needs the TypeScript lines, so the runner maps those here, in its own
// process, from the same .map files.
import { readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** A position in a bundled test file: `file:///…/.test-build/…/x.js:12:5` or the plain path. */
const BUNDLED_POSITION = /(file:\/\/)?(\/[^\s()'"`]*?\/\.test-build\/[^\s()'"`:]+\.js):(\d+):(\d+)/g;

/** The parsed map of each bundled file seen (null: none could be read). */
const maps = new Map();

function mapOf(file) {
  if (!maps.has(file)) {
    let map = null;
    try {
      map = { dir: path.dirname(file), map: new SourceMap(JSON.parse(readFileSync(`${file}.map`, 'utf8'))) };
    } catch {
      // No map (a file the build did not write): the position stays as it is.
    }
    maps.set(file, map);
  }
  return maps.get(file);
}

/** The source position of a 1-based line and column of a bundled file, or undefined. */
function sourcePosition(file, line, column) {
  const found = mapOf(file);
  if (!found) return undefined;
  const entry = found.map.findEntry(line - 1, column - 1);
  if (entry?.originalSource === undefined) return undefined;
  const source = entry.originalSource.startsWith('file://')
    ? fileURLToPath(entry.originalSource)
    : path.resolve(found.dir, entry.originalSource);
  return { file: source, line: entry.originalLine + 1, column: entry.originalColumn + 1 };
}

/** `text` with every bundled position replaced by its source position (where the map has one). */
export function mapPositions(text) {
  if (typeof text !== 'string' || !text.includes('.test-build')) return text;
  return text.replace(BUNDLED_POSITION, (whole, _url, file, line, column) => {
    const source = sourcePosition(file, Number(line), Number(column));
    return source ? `${source.file}:${source.line}:${source.column}` : whole;
  });
}

/** Rewrites the stacks and messages of an error and of its causes, in place. */
function mapError(error, depth = 0) {
  if (error === null || typeof error !== 'object' || depth > 10) return;
  for (const key of ['stack', 'message']) {
    try {
      if (typeof error[key] === 'string') error[key] = mapPositions(error[key]);
    } catch {
      // A read-only property: it is reported as the test's process wrote it.
    }
  }
  mapError(error.cause, depth + 1);
}

/**
 * A reporter stage (for `stream.compose`) that gives the events of the runner the source
 * positions: a test's location, its error's stack, and what its process wrote to stdout/stderr.
 */
export async function* withSourcePositions(events) {
  for await (const event of events) {
    const data = event.data;
    if (data && typeof data.file === 'string' && data.file.includes('.test-build') && data.line) {
      const source = sourcePosition(data.file, data.line, data.column ?? 1);
      if (source) Object.assign(data, source);
    }
    if (data?.details?.error) mapError(data.details.error);
    if ((event.type === 'test:stderr' || event.type === 'test:stdout') && typeof data?.message === 'string') {
      data.message = mapPositions(data.message);
    }
    yield event;
  }
}
