import type { ReactNode } from "react";

/** A page's header; `ownHeading` when `title` holds its own <h1> (controls beside the heading's
 * text, like ClampedText's toggle, would otherwise join its name). */
export function PageHeader({ title, subtitle, actions, eyebrow, ownHeading = false }: { title: ReactNode; subtitle?: ReactNode; actions?: ReactNode; eyebrow?: ReactNode; ownHeading?: boolean }) {
  return (
    <header className="page-header">
      <div className="page-header__text">
        {eyebrow && <div className="page-header__eyebrow">{eyebrow}</div>}
        {ownHeading ? <div className="page-header__title">{title}</div> : <h1 className="page-header__title">{title}</h1>}
        {subtitle && <div className="page-header__subtitle">{subtitle}</div>}
      </div>
      {actions && <div className="page-header__actions">{actions}</div>}
    </header>
  );
}
