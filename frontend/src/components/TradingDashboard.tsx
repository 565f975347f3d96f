/**
 * TradingDashboard (the plan's components/TradingDashboard.tsx): clock status, order entry, orders,
 * positions and live quotes. Every order carries client_timestamp_ns read from the page's clock
 * build at the moment of the click. The clock build is chosen once per page load (a hook per build,
 * same signature), so the rules of hooks hold.
 */

import { useCallback, useEffect, useRef, useState } from "react";

import { FINAL_STATES, getOrder, getPositions, placeOrder, type Positions } from "../api";
import type { ClockView } from "../clock/view";
import { pageMetrics, stampHook } from "../metrics";
import { ClockStatus } from "./ClockStatus";
import { OrderEntry, type OrderDraft } from "./OrderEntry";
import { OrdersTable, type OrderRow } from "./OrdersTable";
import { PositionsTable } from "./PositionsTable";
import { RealTimeUpdates, useMarketFeed } from "./RealTimeUpdates";

declare global {
  interface Window {
    __clockbench?: unknown;
  }
}

const MAX_ROWS = 200;
const REFRESH_MS = 2_000;

export function TradingDashboard({ useClock }: { useClock: () => ClockView }) {
  const view = useClock();
  const [instruments, setInstruments] = useState<string[]>([]);
  const { quotes, conn } = useMarketFeed(setInstruments);
  const [rows, setRows] = useState<OrderRow[]>([]);
  const [pending, setPending] = useState(0);
  const [orderError, setOrderError] = useState<string | null>(null);
  const [positions, setPositions] = useState<Positions | null>(null);
  const [posError, setPosError] = useState<string | null>(null);
  const seq = useRef(0);
  const tag = useRef(Math.random().toString(36).slice(2, 8));
  const viewRef = useRef(view);
  viewRef.current = view;
  const acked = useRef(new Map<string, number>());

  useEffect(() => {
    window.__clockbench = {
      build: view.build,
      nowNs: () => viewRef.current.nowNs(),
      clock: () => { const { nowNs: _n, ...rest } = viewRef.current; return rest; },
      metrics: { quoteToDomMs: () => pageMetrics.quoteToDomMs.all(), clickToAckMs: () => pageMetrics.clickToAckMs.all() },
      setStampHook: (fn: typeof stampHook.fn) => { stampHook.fn = fn; },
    };
  }, [view.build]);

  const update = useCallback((id: string, patch: Partial<OrderRow>) => {
    setRows((rs) => rs.map((r) => (r.clientOrderId === id ? { ...r, ...patch } : r)));
  }, []);

  const submit = useCallback((d: OrderDraft) => {
    const clicked = performance.now();
    seq.current += 1;
    const clientOrderId = `ui-${tag.current}-${seq.current}`;
    const stamp = viewRef.current.nowNs(); // the synchronized clock at the click
    stampHook.fn?.(clientOrderId, stamp);
    setOrderError(null);
    setRows((rs) => [{
      clientOrderId, orderId: null, instrument: d.instrument, side: d.side, quantity: d.quantity,
      state: "SENDING", filled: 0, clientTimestampNs: stamp, ackMs: null, error: null,
    }, ...rs].slice(0, MAX_ROWS));
    setPending((n) => n + 1);
    placeOrder({ ...d, client_order_id: clientOrderId, client_timestamp_ns: stamp })
      .then((o) => {
        acked.current.set(clientOrderId, clicked);
        update(clientOrderId, { orderId: o.order_id, state: o.state, filled: o.filled_qty, ackMs: performance.now() - clicked });
      })
      .catch((err: unknown) => {
        const msg = err instanceof Error ? err.message : String(err);
        setOrderError(msg);
        update(clientOrderId, { state: "ERROR", error: msg });
      })
      .finally(() => setPending((n) => n - 1));
  }, [update]);

  // The commit that shows an acknowledgement: click -> shown, for the page's own figure.
  useEffect(() => {
    if (acked.current.size === 0) return;
    const now = performance.now();
    for (const [id, clicked] of acked.current) {
      if (rows.some((r) => r.clientOrderId === id && r.orderId)) {
        pageMetrics.clickToAckMs.push(now - clicked);
        acked.current.delete(id);
      }
    }
  }, [rows]);

  // Positions, and the state of open orders, every few seconds (one request each at a time).
  const rowsRef = useRef(rows);
  rowsRef.current = rows;
  useEffect(() => {
    let stop = false;
    let timer: ReturnType<typeof setTimeout>;
    const poll = async () => {
      try {
        setPositions(await getPositions());
        setPosError(null);
      } catch (err) {
        setPosError(err instanceof Error ? err.message : String(err));
      }
      const open = rowsRef.current.filter((r) => r.orderId && !FINAL_STATES.has(r.state)).slice(0, 20);
      for (const r of open) {
        try {
          const o = await getOrder(r.orderId!);
          update(r.clientOrderId, { state: o.state, filled: o.filled_qty });
        } catch {
          /* shown stale; the next poll tries again */
        }
      }
      if (!stop) timer = setTimeout(poll, REFRESH_MS);
    };
    void poll();
    return () => {
      stop = true;
      clearTimeout(timer);
    };
  }, [update]);

  const ack = pageMetrics.clickToAckMs.median();
  return (
    <div className="dashboard">
      <header className="topbar">
        <h1>clockbench <span>trading dashboard</span></h1>
        <div className="stats">
          <span>click→ack shown p50 <b data-testid="ack-p50">{ack == null ? "—" : `${ack.toFixed(1)} ms`}</b></span>
          <span>feed <b>{conn}</b></span>
          <span>clock <b>{view.build}</b></span>
        </div>
      </header>
      <main className="grid">
        <div className="col left">
          <ClockStatus view={view} />
          <OrderEntry instruments={instruments} onSubmit={submit} busy={pending > 0} error={orderError} />
        </div>
        <div className="col mid">
          <RealTimeUpdates view={view} quotes={quotes} conn={conn} />
          <PositionsTable data={positions} error={posError} />
        </div>
        <div className="col right">
          <OrdersTable rows={rows} />
        </div>
      </main>
    </div>
  );
}
