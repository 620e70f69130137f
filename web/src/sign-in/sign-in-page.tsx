import { type FormEvent, useState } from 'react';
import { createClient } from '../../../src/sdk/client';
import { errorMessage, WeftApiError } from '../api/weft-client';

/**
 * Sign-in (SPEC §7): an API key in a password field named `api_key`, checked against the server
 * before it is kept for the tab.
 */
export function SignInPage(props: { onSignIn: (key: string) => void }) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const key = String(new FormData(event.currentTarget).get('api_key') ?? '').trim();
    if (!key) {
      setError('Enter an API key.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await createClient({ baseUrl: window.location.origin, apiKey: key }).workflows.list({ limit: 1 });
      props.onSignIn(key);
    } catch (caught) {
      if (caught instanceof WeftApiError && caught.status === 401) setError('The server does not know this key.');
      else if (caught instanceof WeftApiError && caught.status === 403)
        setError('This key may not use the UI (worker keys poll tasks only). Use an admin or member key.');
      else setError(`Could not sign in: ${errorMessage(caught)}`);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="sign-in">
      <form className="card sign-in-card" onSubmit={submit}>
        <div className="brand big">
          <img src="/favicon.svg" alt="" width={32} height={32} />
          <span>Weft</span>
        </div>
        <label htmlFor="api_key">API key</label>
        <input
          id="api_key"
          name="api_key"
          type="password"
          autoComplete="current-password"
          placeholder="weft_…"
          required
          // biome-ignore lint/a11y/noAutofocus: the only field of the page.
          autoFocus
        />
        {error ? (
          <p className="form-error" role="alert">
            {error}
          </p>
        ) : null}
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        <p className="hint">
          On first start the server prints an admin key and saves it to <code>data/admin-key</code>. The key is kept for
          this tab only.
        </p>
      </form>
    </div>
  );
}
