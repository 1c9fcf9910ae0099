import { Search } from "lucide-react";
import { useCallback, useEffect, useState } from "react";
import { useSearchParams } from "react-router";

import { DEFAULT_VIEW, type ListView } from "../api/workflows";

const SORTS: { value: ListView["sort"]; label: string }[] = [
  { value: "created", label: "Newest first" },
  { value: "created-asc", label: "Oldest first" },
  { value: "name", label: "Name A–Z" },
  { value: "name-desc", label: "Name Z–A" },
  { value: "state", label: "By state" },
];
const RANGES: { value: ListView["range"]; label: string }[] = [
  { value: "", label: "Any time" },
  { value: "1h", label: "Last hour" },
  { value: "24h", label: "Last 24 hours" },
  { value: "7d", label: "Last 7 days" },
  { value: "30d", label: "Last 30 days" },
];

function pick<T extends string>(raw: string | null, options: { value: T }[], fallback: T): T {
  return options.find((o) => o.value === raw)?.value ?? fallback;
}

/** The list's search, sort and time range, kept in the URL (`?q=&sort=&range=`). */
export function useListView(): [ListView, (next: ListView) => void] {
  const [params, setParams] = useSearchParams();
  const view: ListView = {
    q: params.get("q") ?? "",
    sort: pick(params.get("sort"), SORTS, DEFAULT_VIEW.sort),
    range: pick(params.get("range"), RANGES, DEFAULT_VIEW.range),
  };
  const set = useCallback(
    (next: ListView) =>
      setParams(
      (current) => {
        const out = new URLSearchParams(current);
        for (const key of ["q", "sort", "range"] as const) {
          if (next[key] === DEFAULT_VIEW[key]) out.delete(key);
          else out.set(key, next[key]);
        }
        return out;
      },
      { replace: true },
    ),
    [setParams],
  );
  return [view, set];
}

export function ListControls({ view, onChange }: { view: ListView; onChange: (next: ListView) => void }) {
  const [text, setText] = useState(view.q);
  useEffect(() => setText(view.q), [view.q]); // a link or the back button changed it
  useEffect(() => {
    if (text === view.q) return;
    const id = setTimeout(() => onChange({ ...view, q: text }), 300); // one request per pause
    return () => clearTimeout(id);
  }, [text, view, onChange]);
  return (
    <div className="list-controls">
      <label className="list-controls__search">
        <Search size={15} aria-hidden />
        <input
          className="input input--sm"
          type="search"
          placeholder="Search name or id"
          aria-label="Search workflows by name or id"
          value={text}
          onChange={(e) => setText(e.target.value)}
        />
      </label>
      <Choice label="Sort workflows" options={SORTS} value={view.sort} onChange={(sort) => onChange({ ...view, q: text, sort })} />
      <Choice label="Submitted" options={RANGES} value={view.range} onChange={(range) => onChange({ ...view, q: text, range })} />
    </div>
  );
}

function Choice<T extends string>({ label, options, value, onChange }: { label: string; options: { value: T; label: string }[]; value: T; onChange: (next: T) => void }) {
  return (
    <select className="input input--sm" aria-label={label} value={value} onChange={(e) => onChange(e.target.value as T)}>
      {options.map((o) => (
        <option key={o.value} value={o.value}>
          {o.label}
        </option>
      ))}
    </select>
  );
}
