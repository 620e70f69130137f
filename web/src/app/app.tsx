import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { lazy, Suspense, useCallback, useEffect, useState } from 'react';
import { BrowserRouter, Navigate, Route, Routes, useLocation, useNavigate, useSearchParams } from 'react-router';
import { WeftApiError } from '../../../src/sdk/api-error';
import { forgetKey, storedKey, storeKey } from '../api/session';
import { ClientProvider } from '../api/weft-client';
import { ExecutionsPage } from '../executions/executions-page';
import { SignInPage } from '../sign-in/sign-in-page';
import { WorkersPage } from '../workers/workers-page';
import { WorkflowsPage } from '../workflows/workflows-page';
import { Layout } from './layout';
import { NotFoundPage } from './not-found-page';

// The pages with graphs (React Flow, the ELK client) load on first use: the lists and sign-in,
// where a visit usually starts, do not wait for them.
const ExecutionPage = lazy(() =>
  import('../executions/execution-page').then((module) => ({ default: module.ExecutionPage })),
);
const WorkflowPage = lazy(() =>
  import('../workflows/workflow-page').then((module) => ({ default: module.WorkflowPage })),
);

/** Loads the graph code and starts the ELK worker while the browser idles, before a graph is needed. */
function prefetchGraphs(): void {
  const load = () => void import('../graph/layout').catch(() => undefined);
  if ('requestIdleCallback' in window) window.requestIdleCallback(load, { timeout: 3000 });
  else setTimeout(load, 1000);
}

/** One cache of server state for the tab; live stream events update it (api/live-*.ts). */
function makeQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: {
        staleTime: 2_000,
        refetchOnWindowFocus: false,
        // A 4xx will not get better by asking again.
        retry: (count, error) => !(error instanceof WeftApiError && error.status < 500) && count < 2,
      },
    },
  });
}

/** Where to go after signing in: a path of this app only (never another origin). */
export function safeNext(next: string | null): string {
  return next?.startsWith('/') && !next.startsWith('//') ? next : '/';
}

/** `/sign-in` with a key already kept: on to the page it was asked for. */
function AlreadySignedIn() {
  const [params] = useSearchParams();
  return <Navigate to={safeNext(params.get('next'))} replace />;
}

/** The routes of SPEC §7; everything but sign-in needs a key. */
function SignedInRoutes(props: { apiKey: string; onSignOut: () => void }) {
  useEffect(prefetchGraphs, []);
  return (
    <ClientProvider apiKey={props.apiKey} onUnauthorized={props.onSignOut}>
      <Layout>
        <Suspense fallback={<div className="empty">Loading…</div>}>
          <Routes>
            <Route path="/" element={<WorkflowsPage />} />
            <Route path="/workflows" element={<WorkflowsPage />} />
            <Route path="/workflows/:id" element={<WorkflowPage />} />
            <Route path="/executions" element={<ExecutionsPage />} />
            <Route path="/executions/:id" element={<ExecutionPage />} />
            <Route path="/workers" element={<WorkersPage />} />
            <Route path="/sign-in" element={<AlreadySignedIn />} />
            <Route path="*" element={<NotFoundPage />} />
          </Routes>
        </Suspense>
      </Layout>
    </ClientProvider>
  );
}

function Shell() {
  const [apiKey, setApiKey] = useState<string | null>(() => storedKey());
  const [queryClient, setQueryClient] = useState(makeQueryClient);
  const navigate = useNavigate();
  const location = useLocation();

  // The sign-in route itself moves on to `next` once the key is kept (AlreadySignedIn).
  const signIn = useCallback((key: string) => {
    storeKey(key);
    setApiKey(key);
  }, []);
  // Any 401 (a revoked key, a restarted server with another key) comes back to sign-in, where
  // the page the user was on is kept to return to.
  const signOut = useCallback(() => {
    forgetKey();
    setApiKey(null);
    queryClient.clear();
    setQueryClient(makeQueryClient());
    const here = `${window.location.pathname}${window.location.search}`;
    navigate(here.startsWith('/sign-in') ? '/sign-in' : `/sign-in?next=${encodeURIComponent(here)}`, { replace: true });
  }, [navigate, queryClient]);

  if (!apiKey) {
    const next = location.pathname.startsWith('/sign-in') ? null : `${location.pathname}${location.search}`;
    return (
      <Routes>
        <Route path="/sign-in" element={<SignInPage onSignIn={signIn} />} />
        <Route
          path="*"
          element={<Navigate to={next ? `/sign-in?next=${encodeURIComponent(next)}` : '/sign-in'} replace />}
        />
      </Routes>
    );
  }
  return (
    <QueryClientProvider client={queryClient}>
      <SignedInRoutes apiKey={apiKey} onSignOut={signOut} />
    </QueryClientProvider>
  );
}

/** The web UI. */
export function App() {
  return (
    <BrowserRouter>
      <Shell />
    </BrowserRouter>
  );
}
