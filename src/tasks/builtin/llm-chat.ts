import { defineTask } from '../task-type.js';

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
});
