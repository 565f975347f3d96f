/** The orders placed from this page, newest first, with the clock stamp they carried and the time to acknowledgement. */

import { memo } from "react";

import { utcClock } from "../format";

export interface OrderRow {
  clientOrderId: string;
  orderId: string | null;
  instrument: string;
  side: string;
  quantity: number;
  state: string;
  filled: number;
  clientTimestampNs: number;
  /** click to 201, ms (performance.now()) */
  ackMs: number | null;
  error: string | null;
}

export function OrdersTable({ rows }: { rows: readonly OrderRow[] }) {
  return (
    <section className="panel orders" aria-label="Orders">
      <h2>Orders <small>{rows.length}</small></h2>
      <div className="scroll">
        <table data-testid="orders-table">
          <thead>
            <tr><th>stamped (UTC)</th><th>instrument</th><th>side</th><th className="num">qty</th><th>state</th><th className="num">filled</th><th className="num">ack</th></tr>
          </thead>
          <tbody>
            {rows.length === 0 && <tr><td colSpan={7} className="empty">No orders yet.</td></tr>}
            {rows.map((r) => <OrderLine key={r.clientOrderId} r={r} />)}
          </tbody>
        </table>
      </div>
    </section>
  );
}

/** One order's row. Memoized: an acknowledgement changes one row object (the others keep theirs),
 * so with 200 rows shown only that row is rendered again, not the whole table. */
const OrderLine = memo(function OrderLine({ r }: { r: OrderRow }) {
  return (
    <tr data-client-order-id={r.clientOrderId} data-ack={r.orderId ? "1" : "0"}
      data-state={r.state} title={r.orderId ?? r.error ?? "sending"}>
      <td className="mono">{utcClock(r.clientTimestampNs)}</td>
      <td>{r.instrument}</td>
      <td className={r.side.toLowerCase()}>{r.side}</td>
      <td className="num">{r.quantity}</td>
      <td><span className={`state ${r.state.toLowerCase()}`}>{r.error ? "ERROR" : r.state}</span></td>
      <td className="num">{r.filled}</td>
      <td className="num">{r.ackMs == null ? "…" : `${r.ackMs.toFixed(1)} ms`}</td>
    </tr>
  );
});
