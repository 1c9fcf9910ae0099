// @vitest-environment node
// schema.d.ts is what openapi-typescript makes of openapi.json (`make ui-api`); the Python suite
// checks that openapi.json is what the gateway publishes.
import { readFileSync } from "node:fs";

import openapiTS, { astToString } from "openapi-typescript";

const here = new URL(".", import.meta.url);

test("schema.d.ts is generated from the committed openapi.json", async () => {
  const ast = await openapiTS(new URL("../../../openapi.json", here), { defaultNonNullable: false });
  const committed = readFileSync(new URL("schema.d.ts", here), "utf8");
  expect(committed.endsWith(astToString(ast)), "run `make ui-api` and commit the result").toBe(true);
}, 30_000);
