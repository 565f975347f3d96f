/**
 * RealTimeUpdates (the plan's components/RealTimeUpdates.tsx): live quotes from /ws/market. One
 * socket, reconnected with capped exponential backoff, a ping every 30 s (the service closes a
 * silent socket after 120 s). Each quote's age is shown against the page's clock: with an
 * unsynchronized clock it shows the clock's error, not the feed's lag.
 */

import { useEffect, useLayoutEffect, useRef, useState } from "react";

import type { ClockView } from "../clock/view";
import { pageMetrics } from "../metrics";

export interface Quote {
  instrument: string;
  bid: string | null;
  ask: string | null;
  bid_size: number;
  ask_size: number;
  volume: number;
  timestamp: number;
}

type Conn = "connecting" | "live" | "retrying";

export function useMarketFeed(onInstruments: (list: string[]) => void) {
  const [quotes, setQuotes] = useState<Record<string, Quote>>({});
  const [conn, setConn] = useState<Conn>("connecting");
  const received = useRef<number[]>([]);
  const cb = useRef(onInstruments);
  cb.current = onInstruments;

  useEffect(() => {
    let ws: WebSocket | null = null;
    let retry: ReturnType<typeof setTimeout> | null = null;
    let ping: ReturnType<typeof setInterval> | null = null;
    let attempts = 0;
    let closed = false;
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/market`;

    const connect = () => {
      setConn(attempts === 0 ? "connecting" : "retrying");
      ws = new WebSocket(url);
      ws.onmessage = (ev) => {
        const msg = JSON.parse(String(ev.data));
        if (msg.type === "welcome") {
          attempts = 0;
          setConn("live");
          cb.current(msg.instruments);
          ws?.send(JSON.stringify({ type: "subscribe", instruments: msg.instruments }));
        } else if (msg.type === "quote") {
          received.current.push(performance.now());
          setQuotes((q) => ({ ...q, [msg.instrument]: msg as Quote }));
        }
      };
      ws.onclose = () => {
        if (ping) clearInterval(ping);
        ping = null;
        if (closed) return;
        attempts += 1;
        setConn("retrying");
        retry = setTimeout(connect, Math.min(30_000, 500 * 2 ** Math.min(attempts, 6)));
      };
      ws.onopen = () => {
        ping = setInterval(() => ws?.send(JSON.stringify({ type: "ping" })), 30_000);
      };
    };
    connect();
    return () => {
      closed = true;
      if (retry) clearTimeout(retry);
      if (ping) clearInterval(ping);
      ws?.close();
    };
  }, []);

  // After the commit that shows them: message -> DOM time of every quote in this render.
  useLayoutEffect(() => {
    const now = performance.now();
    for (const t of received.current) pageMetrics.quoteToDomMs.push(now - t);
    received.current = [];
  }, [quotes]);

  return { quotes, conn };
}

export function RealTimeUpdates({ view, quotes, conn }: { view: ClockView; quotes: Record<string, Quote>; conn: Conn }) {
  const list = Object.values(quotes).sort((a, b) => a.instrument.localeCompare(b.instrument));
  const now = view.nowNs();
  const p50 = pageMetrics.quoteToDomMs.median();
  return (
    <section className="panel quotes" aria-label="Live quotes">
      <h2>
        Quotes <span className={`badge ${conn}`} data-testid="feed-state">{conn}</span>
        <small className="right">message→screen p50 {p50 == null ? "—" : `${p50.toFixed(2)} ms`}</small>
      </h2>
      <div className="scroll">
        <table data-testid="quotes-table">
          <thead><tr><th>instrument</th><th className="num">bid</th><th className="num">ask</th><th className="num">size</th><th className="num">volume</th><th className="num" title="server stamp to now, on this page's clock">age</th></tr></thead>
          <tbody>
            {list.length === 0 && <tr><td colSpan={6} className="empty">Waiting for quotes…</td></tr>}
            {list.map((q) => {
              const ageMs = (now - q.timestamp) / 1e6;
              return (
                <tr key={q.instrument} data-instrument={q.instrument} data-quote-ts={q.timestamp}>
                  <td>{q.instrument}</td>
                  <td className="num buy">{q.bid ?? "—"}</td>
                  <td className="num sell">{q.ask ?? "—"}</td>
                  <td className="num">{q.bid_size}×{q.ask_size}</td>
                  <td className="num">{q.volume}</td>
                  <td className={`num ${Math.abs(ageMs) > 1000 ? "warn" : ""}`}>{ageMs.toFixed(1)} ms</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </section>
  );
}
