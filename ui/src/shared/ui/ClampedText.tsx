import { useEffect, useRef, useState } from "react";

/** A long text cut to a few lines, its whole in the title and behind a "Show all" button (a phone
 * has no hover), which only shows where the text is cut. As a page's `heading` the text is the
 * <h1> and the button stays outside it, so that its words are no part of the heading's name. */
export function ClampedText({ text, lines = 2, what = "name", heading = false }: { text: string; lines?: number; what?: string; heading?: boolean }) {
  const box = useRef<HTMLSpanElement>(null);
  const [cut, setCut] = useState(false);
  const [open, setOpen] = useState(false);
  useEffect(() => {
    const el = box.current;
    if (!el || typeof ResizeObserver === "undefined") return undefined; // jsdom has none
    const measure = () => setCut(el.scrollHeight > el.clientHeight + 1);
    const observer = new ResizeObserver(measure);
    observer.observe(el);
    return () => observer.disconnect();
  }, [text]);
  const clamped = (
    <span ref={box} className={open ? "clamp is-open" : "clamp"} style={{ WebkitLineClamp: open ? "unset" : lines }} title={text} data-testid="clamped">
      {text}
    </span>
  );
  const Wrap = heading ? "div" : "span";
  return (
    <Wrap className="clamp-wrap">
      {heading ? <h1 className="clamp__heading">{clamped}</h1> : clamped}
      {(cut || open) && (
        <button type="button" className="clamp__toggle" aria-expanded={open} onClick={() => setOpen(!open)}>
          {open ? "Show less" : `Show full ${what}`}
        </button>
      )}
    </Wrap>
  );
}
