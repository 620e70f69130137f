import { createContext, type ReactNode, useContext, useMemo } from 'react';
import { WeftApiError } from '../../../src/sdk/api-error';
import { createClient, type WeftClient } from '../../../src/sdk/client';

/**
 * The typed SDK client (src/sdk) for the signed-in key: every call of the UI goes through it, so
 * the requests and answers are typed from the server's OpenAPI document.
 */

interface Session {
  client: WeftClient;
  apiKey: string;
  /** Forgets the key and returns to sign-in (also what any 401 does). */
  signOut: () => void;
}

const SessionContext = createContext<Session | null>(null);

/** Provides the client of one key; `onUnauthorized` runs when any call answers 401. */
export function ClientProvider(props: { apiKey: string; onUnauthorized: () => void; children: ReactNode }) {
  const { apiKey, onUnauthorized } = props;
  const session = useMemo<Session>(() => {
    const client = createClient({
      baseUrl: window.location.origin,
      apiKey,
      fetch: async (request) => {
        const response = await globalThis.fetch(request);
        if (response.status === 401) onUnauthorized();
        return response;
      },
    });
    return { client, apiKey, signOut: onUnauthorized };
  }, [apiKey, onUnauthorized]);
  return <SessionContext.Provider value={session}>{props.children}</SessionContext.Provider>;
}

/** The session of the signed-in tab. */
export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession outside ClientProvider');
  return session;
}

/** The typed API client. */
export function useClient(): WeftClient {
  return useSession().client;
}

/** A readable one-line message of any error a call threw. */
export function errorMessage(error: unknown): string {
  if (error instanceof WeftApiError) return error.problem?.detail ?? error.message;
  if (error instanceof Error) return error.message;
  return String(error);
}

export { WeftApiError };
