import assert from "node:assert/strict";
import { test } from "node:test";

import { decimal } from "../src/format";

test("prices are shown to a few places, exact short ones untouched", () => {
  assert.equal(decimal("190.003333333333333333"), "190.0033");
  assert.equal(decimal("190.12"), "190.12");
  assert.equal(decimal(null), "—");
  assert.equal(decimal("-114007.7", 2), "-114007.7");
});
