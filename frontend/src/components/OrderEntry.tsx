/** Order entry: the click stamps the order with the synchronized clock (client_timestamp_ns) and sends it. */

import { useState, type FormEvent } from "react";

export interface OrderDraft {
  instrument: string;
  side: "BUY" | "SELL";
  quantity: number;
  order_type: "MARKET" | "LIMIT";
  limit_price?: string;
}

export function OrderEntry({ instruments, onSubmit, busy, error }: {
  instruments: readonly string[];
  onSubmit: (d: OrderDraft) => void;
  busy: boolean;
  error: string | null;
}) {
  const [instrument, setInstrument] = useState<string>("");
  const [side, setSide] = useState<"BUY" | "SELL">("BUY");
  const [quantity, setQuantity] = useState("100");
  const [type, setType] = useState<"MARKET" | "LIMIT">("MARKET");
  const [price, setPrice] = useState("");
  const chosen = instrument || instruments[0] || "";
  const qty = Number(quantity);
  const valid = chosen !== "" && Number.isInteger(qty) && qty > 0 && (type === "MARKET" || price.trim() !== "");

  function submit(e: FormEvent) {
    e.preventDefault();
    if (!valid) return;
    onSubmit({ instrument: chosen, side, quantity: qty, order_type: type, limit_price: type === "LIMIT" ? price.trim() : undefined });
  }

  return (
    <section className="panel" aria-label="Order entry">
      <h2>New order</h2>
      <form className="order-form" onSubmit={submit}>
        <label>
          Instrument
          <select value={chosen} onChange={(e) => setInstrument(e.target.value)} data-testid="order-instrument">
            {instruments.map((i) => <option key={i} value={i}>{i}</option>)}
          </select>
        </label>
        <div className="side" role="radiogroup" aria-label="Side">
          {(["BUY", "SELL"] as const).map((s) => (
            <button type="button" key={s} role="radio" aria-checked={side === s}
              className={side === s ? `on ${s.toLowerCase()}` : ""} onClick={() => setSide(s)}>{s}</button>
          ))}
        </div>
        <label>
          Quantity
          <input inputMode="numeric" value={quantity} onChange={(e) => setQuantity(e.target.value)} data-testid="order-quantity" />
        </label>
        <label>
          Type
          <select value={type} onChange={(e) => setType(e.target.value as "MARKET" | "LIMIT")}>
            <option value="MARKET">MARKET</option>
            <option value="LIMIT">LIMIT</option>
          </select>
        </label>
        {type === "LIMIT" && (
          <label>
            Limit price
            <input inputMode="decimal" value={price} onChange={(e) => setPrice(e.target.value)} placeholder="e.g. 185.20" />
          </label>
        )}
        <button type="submit" className={`submit ${side.toLowerCase()}`} disabled={!valid} data-testid="submit-order">
          {busy ? "Sending…" : `${side} ${Number.isFinite(qty) ? qty : ""} ${chosen}`}
        </button>
        {error && <p className="error" role="alert" data-testid="order-error">{error}</p>}
      </form>
    </section>
  );
}
