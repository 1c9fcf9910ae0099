import { useEffect } from "react";

/** The tab's title while a page is shown. */
export function useTitle(title: string | null | undefined): void {
  useEffect(() => {
    document.title = title ? `${title} · Tessera` : "Tessera";
  }, [title]);
}
