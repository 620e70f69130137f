import { findTemplates, parseTemplate } from '../definition/templates.js';
import { type CompiledExpression, compileExpression } from '../expressions/index.js';

/**
 * Where templates use secrets. A secret is named statically (`secrets.NAME`, or `$$.secrets.NAME`)
 * so the engine knows before rendering which secrets an attempt needs, loads only those, and can
 * fail an attempt naming the one that is missing. Any other use of `secrets` (`secrets.*`,
 * `$keys(secrets)`, `secrets[0]`) is reported as dynamic and rejected by validation.
 */

/** Names a secret may have (the route checks the same). */
export const SECRET_NAME_PATTERN = '^[A-Za-z_][A-Za-z0-9_]{0,63}$';
const SECRET_NAME = new RegExp(SECRET_NAME_PATTERN);

/** True when `name` may name a secret. */
export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name);
}

/** How one expression uses `secrets`. */
export interface SecretUse {
  /** Names read as `secrets.NAME`, without duplicates, in order of appearance. */
  names: readonly string[];
  /** True when `secrets` is used other than by a plain name. */
  dynamic: boolean;
}

type AstNode = { type?: string; value?: unknown; steps?: AstNode[]; stages?: unknown; [key: string]: unknown };

function collect(node: unknown, names: Set<string>, use: { dynamic: boolean }): void {
  if (Array.isArray(node)) {
    for (const child of node) collect(child, names, use);
    return;
  }
  if (node === null || typeof node !== 'object') return;
  const ast = node as AstNode;
  if (ast.type === 'path' && Array.isArray(ast.steps)) {
    const first = ast.steps[0];
    const base = first?.type === 'variable' && first.value === '$' ? 1 : 0;
    const head = ast.steps[base];
    if (head?.type === 'name' && head.value === 'secrets') {
      const next = ast.steps[base + 1];
      const plain = (step: AstNode | undefined) => step === undefined || step.stages === undefined;
      if (next?.type === 'name' && typeof next.value === 'string' && plain(head) && plain(next)) {
        names.add(next.value);
      } else {
        use.dynamic = true;
      }
    }
  }
  for (const [key, child] of Object.entries(ast)) {
    if (key !== 'position' && key !== 'value' && typeof child === 'object') collect(child, names, use);
  }
}

const useCache = new WeakMap<CompiledExpression, SecretUse>();

/** How a compiled expression uses `secrets`. */
export function secretUse(expression: CompiledExpression): SecretUse {
  let found = useCache.get(expression);
  if (!found) {
    const names = new Set<string>();
    const use = { dynamic: false };
    collect(expression.ast(), names, use);
    found = Object.freeze({ names: Object.freeze([...names]), dynamic: use.dynamic });
    useCache.set(expression, found);
  }
  return found;
}

const namesCache = new WeakMap<object, readonly string[]>();

/**
 * The secret names the templates of a step input read (the input of a validated definition:
 * every template parses). Cached per input object, which a compiled workflow keeps.
 */
export function secretNamesOf(input: unknown): readonly string[] {
  const cached = input !== null && typeof input === 'object' ? namesCache.get(input) : undefined;
  if (cached) return cached;
  const names = new Set<string>();
  for (const found of findTemplates(input, '')) {
    for (const part of parseTemplate(found.template)) {
      if (part.kind === 'expr') for (const name of secretUse(compileExpression(part.source)).names) names.add(name);
    }
  }
  const result = Object.freeze([...names]);
  if (input !== null && typeof input === 'object') namesCache.set(input, result);
  return result;
}

/** The text that stands for a secret's value wherever it would be shown. */
export function redactedMarker(name: string): string {
  return `[redacted:${name}]`;
}

/** The names of the markers in a stored text (a step input as recorded). */
export function markedNames(text: string | null): string[] {
  if (text === null || !text.includes('[redacted:')) return [];
  const names = new Set<string>();
  for (const match of text.matchAll(/\[redacted:([A-Za-z_][A-Za-z0-9_]{0,63})\]/g)) if (match[1]) names.add(match[1]);
  return [...names];
}
