import { type SerializerFactory, SerializerSelector } from '@fastify/fast-json-stringify-compiler';

type Serialize = (document: unknown) => string;

/**
 * Serializers already compiled in this process, by their compiler's settings and the response
 * schema's text. Every server a process builds registers equal schemas again (most are built per
 * registration); the test suites build one server per backend in most files.
 */
const compiledSerializers = new Map<string, Serialize>();

/**
 * Response serializers compiled on first use. Fastify compiles one fast-json-stringify function
 * per route and status when the server starts: with this API's schemas that was about 0.15 s of
 * every `weft serve` start (and the tests start many), for routes a process may never answer.
 * Here each is compiled the first time its route answers with that status, by the very compiler
 * Fastify would have used, then reused (by any server of the process with an equal schema).
 */
export function lazySerializerFactory(): SerializerFactory {
  const buildSerializer = SerializerSelector();
  return (externalSchemas, options) => {
    const compile = buildSerializer(externalSchemas, options);
    const settings = JSON.stringify([externalSchemas ?? null, options ?? null]);
    return (route) => {
      let serialize: Serialize | undefined;
      return (document: unknown) => {
        if (serialize === undefined) {
          const key = `${settings}\u0000${JSON.stringify(route.schema)}`;
          serialize = compiledSerializers.get(key);
          if (serialize === undefined) {
            serialize = compile(route) as Serialize;
            compiledSerializers.set(key, serialize);
          }
        }
        return serialize(document);
      };
    };
  };
}
