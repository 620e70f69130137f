import { NonRetryableError } from '../task-outcomes.js';
import { defineTask } from '../task-type.js';

interface ChatInput {
  prompt?: string;
  system?: string;
  messages?: Array<{ role: string; content: string }>;
  model?: string;
  max_tokens?: number;
  temperature?: number;
  base_url?: string;
}

interface ChatResponse {
  model?: string;
  choices?: Array<{ message?: { content?: string } }>;
  usage?: Record<string, unknown>;
}

/** `llm.chat`: one call to an OpenAI-compatible `/chat/completions` endpoint. */
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
    const messages = request.messages ?? [
      ...(request.system ? [{ role: 'system', content: request.system }] : []),
      { role: 'user', content: request.prompt ?? '' },
    ];
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (config.llmApiKey) headers.authorization = `Bearer ${config.llmApiKey}`;
    const body = {
      model: request.model ?? 'default',
      messages,
      max_tokens: request.max_tokens,
      temperature: request.temperature,
    };
    const url = `${baseUrl.replace(/\/+$/, '')}/chat/completions`;
    let response: Response;
    try {
      response = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body), signal });
    } catch (error) {
      throw new Error(
        `llm.chat: ${url} failed: ${(error as { cause?: Error }).cause?.message ?? (error as Error).message}`,
      );
    }
    const text = await response.text();
    if (!response.ok) {
      const message = `llm.chat: ${url} answered ${response.status}: ${text.slice(0, 500)}`;
      if (response.status >= 500 || response.status === 429) throw new Error(message);
      throw new NonRetryableError(message);
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
