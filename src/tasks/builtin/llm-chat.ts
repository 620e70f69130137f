import type { Response } from 'undici';
import { egressClientFor, readBodyCapped } from '../../egress/egress-client.js';
import { findEgressRefusal } from '../../egress/egress-errors.js';
import { answeredError } from '../../egress/response-excerpt.js';
import { NonRetryableError } from '../task-outcomes.js';
import { defineTask } from '../task-type.js';
import { DEFAULT_HTTP_MAX_RESPONSE_BYTES } from './http.js';

interface ChatInput {
  prompt?: string;
  system?: string;
  messages?: Array<{ role: string; content: string }>;
  model?: string;
  max_tokens?: number;
  temperature?: number;
  base_url?: string;
  api_key?: string;
}

interface ChatResponse {
  model?: string;
  choices?: Array<{ message?: { content?: string } }>;
  usage?: Record<string, unknown>;
}

/**
 * Whether `target` lies under the configured base URL: the same origin (scheme, host, port, as
 * the URL parser normalises them) and a path that is the configured one or below it, segment by
 * segment (`/v1` covers `/v1/chat` but not `/v10`). Only then may WEFT_LLM_API_KEY go there.
 */
export function isUnderBaseUrl(target: string, configured: string): boolean {
  let a: URL;
  let b: URL;
  try {
    a = new URL(target);
    b = new URL(configured);
  } catch {
    return false;
  }
  if (a.origin !== b.origin || a.username !== b.username || a.password !== b.password) return false;
  const prefix = b.pathname.replace(/\/+$/, '');
  const path = a.pathname.replace(/\/+$/, '');
  return path === prefix || path.startsWith(`${prefix}/`);
}

/**
 * The bearer key of one call: the step's own `api_key` when it has one; else WEFT_LLM_API_KEY,
 * but only when the call goes to WEFT_LLM_BASE_URL, so a step naming another `base_url` cannot
 * carry the operator's key off to a server of its choosing.
 */
export function chatApiKey(
  baseUrl: string,
  stepKey: string | undefined,
  config: { llmBaseUrl: string | undefined; llmApiKey: string | undefined },
): string | undefined {
  if (stepKey) return stepKey;
  if (!config.llmApiKey || !config.llmBaseUrl) return undefined;
  return isUnderBaseUrl(baseUrl, config.llmBaseUrl) ? config.llmApiKey : undefined;
}

/**
 * `llm.chat`: one call to an OpenAI-compatible `/chat/completions` endpoint, under the egress
 * policy and the response cap (WEFT_HTTP_MAX_RESPONSE_BYTES). A 3xx is not followed (an API
 * endpoint has no business redirecting a POST that carries a key).
 */
export const llmChatTask = defineTask({
  type: 'llm.chat',
  source: 'builtin',
  description: 'Calls an OpenAI-compatible /chat/completions endpoint with a prompt or messages.',
  inputSchema: {
    type: 'object',
    additionalProperties: false,
    anyOf: [{ required: ['prompt'] }, { required: ['messages'] }],
    properties: {
      prompt: { type: 'string' },
      system: { type: 'string' },
      messages: {
        type: 'array',
        items: {
          type: 'object',
          required: ['role', 'content'],
          properties: { role: { type: 'string' }, content: { type: 'string' } },
        },
      },
      model: { type: 'string' },
      max_tokens: { type: 'integer', minimum: 1 },
      temperature: { type: 'number', minimum: 0, maximum: 2 },
      base_url: { type: 'string', format: 'uri' },
      api_key: {
        type: 'string',
        minLength: 1,
        description:
          'Bearer key for this call (write `{{ secrets.NAME }}`); without it WEFT_LLM_API_KEY is sent, and only to WEFT_LLM_BASE_URL.',
      },
    },
  },
  outputSchema: {
    type: 'object',
    additionalProperties: false,
    properties: { text: { type: 'string' }, model: { type: 'string' }, usage: { type: 'object' } },
  },
  handler: async (input, { signal, config }) => {
    const request = input as ChatInput;
    const baseUrl = request.base_url ?? config.llmBaseUrl;
    if (!baseUrl) throw new NonRetryableError('llm.chat: set WEFT_LLM_BASE_URL or give input.base_url');
    const model = request.model ?? config.llmModel;
    if (!model) throw new NonRetryableError('llm.chat: set WEFT_LLM_MODEL or give input.model');
    const messages = request.messages ?? [
      ...(request.system ? [{ role: 'system', content: request.system }] : []),
      { role: 'user', content: request.prompt ?? '' },
    ];
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    const apiKey = chatApiKey(baseUrl, request.api_key, config);
    if (apiKey) headers.authorization = `Bearer ${apiKey}`;
    const body = {
      model,
      messages,
      max_tokens: request.max_tokens,
      temperature: request.temperature,
    };
    const url = `${baseUrl.replace(/\/+$/, '')}/chat/completions`;
    const maxBytes = config.httpMaxResponseBytes ?? DEFAULT_HTTP_MAX_RESPONSE_BYTES;
    // A refused or failed request, or a body over the cap, named with the endpoint.
    const failure = (error: unknown): Error => {
      const refusal = findEgressRefusal(error);
      if (refusal || error instanceof NonRetryableError) {
        const cause = refusal ?? (error as NonRetryableError);
        return new NonRetryableError(`llm.chat: ${url}: ${cause.message}`, { cause, code: cause.code });
      }
      return new Error(
        `llm.chat: ${url} failed: ${(error as { cause?: Error }).cause?.message ?? (error as Error).message}`,
      );
    };
    let response: Response;
    try {
      ({ response } = await egressClientFor(config.egress).fetch(url, {
        method: 'POST',
        headers,
        body: JSON.stringify(body),
        signal,
      }));
    } catch (error) {
      throw failure(error);
    }
    const status = response.status;
    if (status < 200 || status >= 300) {
      // As an `http` step: the status and the body's first 2 KiB in the error's details.
      throw await answeredError(response, `llm.chat: ${url} answered ${status}`);
    }
    let text: string;
    try {
      text = (await readBodyCapped(response, maxBytes, 'WEFT_HTTP_MAX_RESPONSE_BYTES')).toString('utf8');
    } catch (error) {
      throw failure(error);
    }
    let parsed: ChatResponse;
    try {
      parsed = JSON.parse(text) as ChatResponse;
    } catch {
      throw new Error(`llm.chat: ${url} answered something that is not JSON`);
    }
    const content = parsed.choices?.[0]?.message?.content;
    if (typeof content !== 'string') throw new Error('llm.chat: the answer has no choices[0].message.content');
    return { text: content, model: parsed.model ?? body.model, usage: parsed.usage ?? {} };
  },
});
