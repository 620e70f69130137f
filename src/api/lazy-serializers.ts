import { type SerializerFactory, SerializerSelector } from '@fastify/fast-json-stringify-compiler';

/**
 * Response serializers compiled on first use. Fastify compiles one fast-json-stringify function
 * per route and status when the server starts: with this API's schemas that was about 0.15 s of
 * every `weft serve` start (and the tests start many), for routes a process may never answer.
 * Here each is compiled the first time its route answers with that status, by the very compiler
 * Fastify would have used, then reused.
 */
export function lazySerializerFactory(): SerializerFactory {
  const buildSerializer = SerializerSelector();
  return (externalSchemas, options) => {
    const compile = buildSerializer(externalSchemas, options);
    return (route) => {
      let serialize: ((document: unknown) => string) | undefined;
      return (document: unknown) => {
        serialize ??= compile(route);
        return serialize(document);
      };
    };
  };
}
