import { pointerSegment } from '../definition/templates.js';
import type { FieldError } from '../errors.js';

/**
 * What every request value must be before a route, a schema or a database sees it: JSON nested
 * at most `MAX_JSON_DEPTH` levels, and text that is well-formed Unicode without U+0000.
 * PostgreSQL refuses NUL in `text` and `jsonb`, and unpaired surrogates in `jsonb` (label
 * filters cast to it), so such text would be a 500 on one database and not the other, or a
 * stored row that breaks later queries; it is a 400 on both instead.
 */

/** JSON request bodies nest at most this many levels (SPEC §5); the body itself is level 1. */
export const MAX_JSON_DEPTH = 64;

const TEXT_MESSAGE = 'must not contain U+0000 or unpaired surrogates (text must be well-formed Unicode without NUL)';
const ENCODING_MESSAGE = 'must be percent-encoded well-formed UTF-8 (without U+0000 or unpaired surrogates)';

/** A high surrogate not followed by a low one, or a low surrogate not preceded by a high one. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** True when `text` can be stored as text on both databases. */
export function isStorableText(text: string): boolean {
  return !text.includes('\u0000') && !LONE_SURROGATE.test(text);
}

interface Frame {
  value: unknown;
  depth: number;
  /** JSON Pointer of `value`, built only when needed from the parent's. */
  parent: Frame | undefined;
  segment: string;
}

function pointerOf(frame: Frame, base: string): string {
  const segments: string[] = [];
  for (let at: Frame | undefined = frame; at?.parent; at = at.parent) segments.push(at.segment);
  return base + segments.reverse().join('');
}

/**
 * Finds the first value that nests too deep or holds unstorable text (in a string or a key).
 * Iterative, so a value nested far beyond the limit cannot exhaust the stack; it stops at the
 * first problem. `base` prefixes the path (`''` for a body, `query`, `params`).
 */
export function findUnacceptableValue(root: unknown, base = '', maxDepth = MAX_JSON_DEPTH): FieldError | undefined {
  const stack: Frame[] = [{ value: root, depth: 1, parent: undefined, segment: '' }];
  while (stack.length > 0) {
    const frame = stack.pop() as Frame;
    const { value } = frame;
    if (typeof value === 'string') {
      if (!isStorableText(value)) return { path: pointerOf(frame, base), message: TEXT_MESSAGE };
      continue;
    }
    if (value === null || typeof value !== 'object') continue;
    if (frame.depth > maxDepth) {
      return { path: pointerOf(frame, base), message: `nests deeper than ${maxDepth} levels` };
    }
    const entries = Array.isArray(value) ? value.entries() : Object.entries(value as Record<string, unknown>);
    const children: Frame[] = [];
    for (const [key, child] of entries) {
      if (typeof key === 'string' && !isStorableText(key)) {
        return { path: pointerOf(frame, base), message: `has a key that ${TEXT_MESSAGE}` };
      }
      children.push({ value: child, depth: frame.depth + 1, parent: frame, segment: `/${pointerSegment(key)}` });
    }
    // Reversed so the first child is examined first and the first problem in document order is named.
    for (let index = children.length - 1; index >= 0; index -= 1) stack.push(children[index] as Frame);
  }
  return undefined;
}

/**
 * Finds a query-string parameter that is not percent-encoded well-formed UTF-8 (`%ED%A0%80`, a
 * lone surrogate; `%ff`; a `%` without two hex digits). Fastify's parser keeps such values as
 * their raw text, so a filter would silently look for `%ff`; like `%ff` in a path, it is a 400.
 */
export function findMalformedQuery(url: string): FieldError | undefined {
  const start = url.indexOf('?');
  if (start < 0) return undefined;
  for (const pair of url.slice(start + 1).split('&')) {
    if (!pair.includes('%')) continue;
    const separator = pair.indexOf('=');
    const rawKey = separator < 0 ? pair : pair.slice(0, separator);
    const key = decodeQueryPart(rawKey);
    if (key === undefined) return { path: 'query', message: `has a key that ${ENCODING_MESSAGE}` };
    if (separator >= 0 && decodeQueryPart(pair.slice(separator + 1)) === undefined) {
      return { path: `query/${pointerSegment(key)}`, message: ENCODING_MESSAGE };
    }
  }
  return undefined;
}

function decodeQueryPart(part: string): string | undefined {
  try {
    return decodeURIComponent(part.replaceAll('+', ' '));
  } catch {
    return undefined;
  }
}
