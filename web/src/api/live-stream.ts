import { useEffect, useRef, useState } from 'react';
import type { StreamMessage } from './stream-message';
import { useSession } from './weft-client';

export type { StreamMessage };

/**
 * A live stream of the API (docs/streams.md) that stays up: it connects with the key as `?token=`,
 * hands every message to `onMessage` (the first is the snapshot), and on a dropped connection
 * reconnects with backoff; each reconnect starts with a fresh snapshot, so nothing is missed.
 * While it cannot connect, `mode` is `polling` and callers poll every 5 s instead (SPEC §7).
 */

/** How a page is kept current. */
export type LiveMode = 'connecting' | 'live' | 'polling';

/** Polling interval while the stream is down. */
export const POLL_INTERVAL_MS = 5_000;

const MAX_BACKOFF_MS = 15_000;

/** Opens the stream at `path` (under /api/v1) while mounted; `null` opens nothing. */
export function useLiveStream(path: string | null, onMessage: (message: StreamMessage) => void): LiveMode {
  const { apiKey, signOut } = useSession();
  const [mode, setMode] = useState<LiveMode>('connecting');
  const handler = useRef(onMessage);
  handler.current = onMessage;

  useEffect(() => {
    if (path === null) return;
    let socket: WebSocket | null = null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let failures = 0;
    let stopped = false;

    const connect = () => {
      const scheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
      const separator = path.includes('?') ? '&' : '?';
      const url = `${scheme}//${window.location.host}/api/v1${path}${separator}token=${encodeURIComponent(apiKey)}`;
      let opened = false;
      try {
        socket = new WebSocket(url);
      } catch {
        retry();
        return;
      }
      socket.onopen = () => {
        opened = true;
      };
      socket.onmessage = (event) => {
        let message: StreamMessage;
        try {
          message = JSON.parse(String(event.data)) as StreamMessage;
        } catch {
          return; // not a message of ours
        }
        if (message.type.endsWith('.snapshot')) {
          failures = 0;
          setMode('live');
        }
        handler.current(message);
      };
      socket.onclose = (event) => {
        socket = null;
        if (stopped) return;
        if (event.code === 4401) {
          signOut();
          return;
        }
        // 4403/4404 will not change by retrying soon: poll (which shows the error) and retry slowly.
        if (!opened || event.code >= 4000) failures++;
        retry();
      };
    };
    const retry = () => {
      if (stopped) return;
      setMode(failures >= 2 ? 'polling' : 'connecting');
      const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** Math.min(failures, 5));
      timer = setTimeout(connect, delay);
    };

    setMode('connecting');
    connect();
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      socket?.close(1000, 'page left');
    };
  }, [path, apiKey, signOut]);

  return mode;
}

/** Calls `work` at most once per `ms`, trailing: bursts of events cost one refetch. */
export function throttle(work: () => void, ms: number): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let last = 0;
  return () => {
    if (timer) return;
    const wait = Math.max(0, last + ms - Date.now());
    timer = setTimeout(() => {
      timer = undefined;
      last = Date.now();
      work();
    }, wait);
  };
}

/** A small dot and word for the page header: live, reconnecting, or polling. */
export function liveLabel(mode: LiveMode): { text: string; on: boolean } {
  if (mode === 'live') return { text: 'live', on: true };
  if (mode === 'polling') return { text: 'polling every 5 s', on: false };
  return { text: 'connecting…', on: false };
}
