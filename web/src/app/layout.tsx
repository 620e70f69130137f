import type { ReactNode } from 'react';
import { NavLink } from 'react-router';
import { useSession } from '../api/weft-client';

/** The frame of every signed-in page: the top bar with the sections and sign-out. */
export function Layout(props: { children: ReactNode }) {
  const { signOut } = useSession();
  return (
    <div className="app">
      <header className="topbar">
        <NavLink to="/" className="brand" aria-label="Weft home">
          <img src="/favicon.svg" alt="" width={22} height={22} />
          <span>Weft</span>
        </NavLink>
        <nav aria-label="Sections">
          <NavLink to="/workflows">Workflows</NavLink>
          <NavLink to="/executions">Executions</NavLink>
          <NavLink to="/workers">Workers</NavLink>
        </nav>
        <div className="topbar-end">
          <a href="/docs" target="_blank" rel="noreferrer">
            API docs
          </a>
          <button type="button" className="ghost" onClick={signOut}>
            Sign out
          </button>
        </div>
      </header>
      <main className="main">{props.children}</main>
    </div>
  );
}
