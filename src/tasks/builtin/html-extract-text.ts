import { defineTask } from '../task-type.js';

/** `html.extract_text`: the main readable text of an HTML page. */
export const htmlExtractTextTask = defineTask({
  type: 'html.extract_text',
  source: 'builtin',
  description: 'Extracts the title and main readable text of an HTML document.',
  inputSchema: {
    type: 'object',
    required: ['html'],
    additionalProperties: false,
    properties: { html: { type: 'string' }, url: { type: 'string' } },
  },
  outputSchema: {
    type: 'object',
    additionalProperties: false,
    properties: { title: { type: ['string', 'null'] }, text: { type: 'string' } },
  },
});
