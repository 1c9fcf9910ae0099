import { useEffect, useState } from "react";

import { formatDateTime, formatRelative } from "@/shared/lib/format";

/** Re-render every `ms` (for relative times and running clocks). */
export function useNow(ms = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const id = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(id);
  }, [ms]);
  return now;
}

export function RelativeTime({ iso, short = false }: { iso: string | null | undefined; short?: boolean }) {
  const now = useNow(15_000);
  if (!iso) return <span className="muted">—</span>;
  return (
    <time dateTime={iso} title={formatDateTime(iso)}>
      {formatRelative(iso, now, short)}
    </time>
  );
}
