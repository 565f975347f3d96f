/** Positions and cash, as /api/v1/positions reports them (refreshed every few seconds). */

import type { Positions } from "../api";
import { decimal } from "../format";

export function PositionsTable({ data, error }: { data: Positions | null; error: string | null }) {
  const rows = data?.positions.filter((p) => p.quantity !== 0 || p.fills > 0) ?? [];
  return (
    <section className="panel positions" aria-label="Positions">
      <h2>Positions {data && <small>cash {decimal(data.cash, 2)}</small>}</h2>
      {error && <p className="error">{error}</p>}
      <div className="scroll">
        <table data-testid="positions-table">
          <thead><tr><th>instrument</th><th className="num">qty</th><th className="num">avg</th><th className="num">mark</th><th className="num">realized</th></tr></thead>
          <tbody>
            {rows.length === 0 && <tr><td colSpan={5} className="empty">{data ? "Flat." : "Loading…"}</td></tr>}
            {rows.map((p) => (
              <tr key={p.instrument}>
                <td>{p.instrument}</td>
                <td className="num">{p.quantity}</td>
                <td className="num">{decimal(p.avg_price)}</td>
                <td className="num">{decimal(p.mark_price)}</td>
                <td className="num">{decimal(p.realized_pnl, 2)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
