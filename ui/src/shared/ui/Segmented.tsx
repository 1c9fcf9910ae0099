import { type ReactNode, useCallback, useEffect, useRef, useState } from "react";

interface Option<T extends string> {
  value: T;
  label: ReactNode;
}

/** Which ends of a scrolling row hide more of it ("start", "end", both or none). */
function hiddenEnds(el: HTMLElement): string {
  const ends = [];
  if (el.scrollLeft > 1) ends.push("start");
  if (el.scrollLeft + el.clientWidth < el.scrollWidth - 1) ends.push("end");
  return ends.join(" ");
}

/** Tabs in a row; where the row is narrower than the tabs it scrolls, and fades at the end that
 * hides more of them so that the scrolling shows. */
export function Segmented<T extends string>({ options, value, onChange, label }: { options: Option<T>[]; value: T; onChange: (v: T) => void; label: string }) {
  const row = useRef<HTMLDivElement>(null);
  const [more, setMore] = useState("");
  const measure = useCallback(() => {
    if (row.current) setMore(hiddenEnds(row.current));
  }, []);
  useEffect(() => {
    const el = row.current;
    if (!el || typeof ResizeObserver === "undefined") return undefined; // jsdom has none
    const observer = new ResizeObserver(measure);
    observer.observe(el);
    return () => observer.disconnect();
  }, [measure]);
  useEffect(() => {
    // the chosen tab in sight (a filter from the address may be past the fold of the row)
    const el = row.current;
    const active = el?.querySelector(".is-active");
    if (!el || !active) return;
    const tab = active.getBoundingClientRect();
    const box = el.getBoundingClientRect();
    if (tab.right > box.right) el.scrollLeft += tab.right - box.right + 36;
    else if (tab.left < box.left) el.scrollLeft -= box.left - tab.left + 36;
  }, [value]);
  return (
    <div ref={row} className="segmented" role="tablist" aria-label={label} data-more={more || undefined} onScroll={measure}>
      {options.map((o) => (
        <button
          key={o.value}
          type="button"
          role="tab"
          aria-selected={o.value === value}
          className={o.value === value ? "segmented__item is-active" : "segmented__item"}
          onClick={() => onChange(o.value)}
        >
          {o.label}
        </button>
      ))}
    </div>
  );
}
