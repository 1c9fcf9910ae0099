// @vitest-environment node
// Imports go one way, shared → features → app, and no feature imports another (bulletproof-react).
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL(".", import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return /\.tsx?$/.test(name) && !name.endsWith(".d.ts") ? [path] : [];
  });
}

/** What a file imports from this tree, as `@/<path>` (relative imports resolved). */
function imports(file: string): string[] {
  const text = readFileSync(file, "utf8");
  return [...text.matchAll(/(?:from|import)\s*\(?\s*["']((?:@\/|\.{1,2}\/)[^"']+)["']/g)].map((m) => {
    const spec = m[1]!;
    return spec.startsWith("@/") ? spec : `@/${relative(root, resolve(dirname(file), spec))}`;
  });
}

test("shared imports neither features nor app; a feature imports no other feature", () => {
  const wrong: string[] = [];
  for (const file of sources(root)) {
    const where = relative(root, file).split("/");
    for (const target of imports(file)) {
      const [, layer, name] = target.split("/");
      if (where[0] === "shared" && (layer === "features" || layer === "app")) wrong.push(`${where.join("/")} → ${target}`);
      if (where[0] === "features" && layer === "app") wrong.push(`${where.join("/")} → ${target}`);
      if (where[0] === "features" && layer === "features" && name !== where[1]) wrong.push(`${where.join("/")} → ${target}`);
    }
  }
  expect(wrong).toEqual([]);
});
