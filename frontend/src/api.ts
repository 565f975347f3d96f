/** The service's HTTP API as the dashboard uses it. A non-2xx answer becomes an ApiError with the service's reason. */

export interface Order {
  order_id: string;
  client_order_id: string;
  instrument: string;
  side: string;
  order_type: string;
  quantity: number;
  limit_price: string | null;
  state: string;
  filled_qty: number;
  receive_time_ns?: number;
  last_update_ns?: number;
  client_timestamp_ns?: number | null;
}

export interface Position {
  instrument: string;
  quantity: number;
  avg_price: string;
  realized_pnl: string;
  mark_price: string | null;
  fills: number;
}

export interface Positions {
  positions: Position[];
  cash: string;
  settled_cash: string;
  timestamp: number;
}

export interface NewOrder {
  client_order_id: string;
  instrument: string;
  side: "BUY" | "SELL";
  quantity: number;
  order_type: "MARKET" | "LIMIT";
  limit_price?: string;
  client_timestamp_ns: number;
}

export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

async function call<T>(path: string, init?: RequestInit): Promise<T> {
  const res = await fetch(path, { ...init, headers: { "content-type": "application/json", ...(init?.headers ?? {}) } });
  const text = await res.text();
  let body: unknown = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = text;
  }
  if (!res.ok) {
    // The service answers {"error": ..., "errors": [{"field", "reason"}]}.
    const b = body as { error?: string; errors?: { field?: string; reason?: string }[] } | null;
    const first = b && typeof b === "object" && Array.isArray(b.errors) ? b.errors[0] : undefined;
    const why = first ? `${first.field}: ${first.reason}` : (b && typeof b === "object" && b.error) || text || res.statusText;
    throw new ApiError(res.status, `${res.status} ${why}`);
  }
  return body as T;
}

export function placeOrder(order: NewOrder): Promise<Order> {
  // client_timestamp_ns is an integer of ns; JSON.stringify writes a whole double without exponent.
  return call<Order>("/api/v1/orders", {
    method: "POST",
    body: JSON.stringify({ ...order, client_timestamp_ns: Math.round(order.client_timestamp_ns) }),
  });
}

export const getOrder = (id: string): Promise<Order> => call<Order>(`/api/v1/orders/${encodeURIComponent(id)}`);
export const getPositions = (): Promise<Positions> => call<Positions>("/api/v1/positions");
export const FINAL_STATES = new Set(["FILLED", "CANCELED", "CANCELLED", "REJECTED", "EXPIRED"]);
