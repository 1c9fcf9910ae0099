import { BookOpen, Gauge, Image, Moon, Plus, Sun, Workflow } from "lucide-react";
import { type MouseEvent, Suspense } from "react";
import { NavLink, Outlet } from "react-router";

import { AdmissionBadge, useAdmissionFollowsStream } from "@/features/admission";
import { TenantNote, TenantSwitcher } from "@/features/tenant";
import { useLiveWorkflows } from "@/features/workflows";
import { setTheme, useTheme } from "@/shared/theme/theme";
import { Loading } from "@/shared/ui";

import { Logo } from "./Logo";
import { StreamStatus } from "./StreamStatus";

const NAV = [
  { to: "/workflows", label: "Workflows", icon: Workflow, end: true },
  { to: "/workflows/new", label: "New workflow", icon: Plus, end: true },
  { to: "/slides", label: "Slides", icon: Image, end: false },
  { to: "/admission", label: "Admission", icon: Gauge, end: false },
];

// the browser scrolls to the anchor but may leave the focus behind; move it into the page
function skipToContent(event: MouseEvent<HTMLAnchorElement>) {
  event.preventDefault();
  document.getElementById("content")?.focus();
}

export function Layout() {
  useLiveWorkflows();
  useAdmissionFollowsStream();
  const theme = useTheme();
  return (
    <div className="shell">
      <a className="skip-link" href="#content" onClick={skipToContent}>
        Skip to content
      </a>
      <aside className="sidebar">
        <NavLink to="/workflows" className="brand">
          <Logo />
          <span className="brand__name">Tessera</span>
        </NavLink>
        <nav className="nav" aria-label="Main">
          {NAV.map(({ to, label, icon: Icon, end }) => (
            <NavLink key={to} to={to} end={end} className={({ isActive }) => (isActive ? "nav__item is-active" : "nav__item")}>
              <Icon size={18} />
              <span>{label}</span>
            </NavLink>
          ))}
        </nav>
        <div className="sidebar__foot">
          <AdmissionBadge />
          <a className="nav__item nav__item--quiet" href="/docs" target="_blank" rel="noreferrer">
            <BookOpen size={16} />
            <span>API docs</span>
          </a>
        </div>
      </aside>
      <div className="main">
        <header className="topbar">
          <NavLink to="/workflows" className="topbar__brand">
            <Logo size={24} />
            <span className="brand__name">Tessera</span>
          </NavLink>
          <div className="topbar__spacer" />
          <StreamStatus />
          <button
            type="button"
            className="icon-btn icon-btn--lg"
            aria-label={theme === "dark" ? "Light theme" : "Dark theme"}
            title={theme === "dark" ? "Light theme" : "Dark theme"}
            onClick={() => setTheme(theme === "dark" ? "light" : "dark")}
          >
            {theme === "dark" ? <Sun size={17} /> : <Moon size={17} />}
          </button>
          <TenantSwitcher />
        </header>
        <main className="content" id="content" tabIndex={-1}>
          <TenantNote />
          <Suspense fallback={<Loading />}>
            <Outlet />
          </Suspense>
        </main>
      </div>
      <nav className="tabbar" aria-label="Main">
        {NAV.map(({ to, label, icon: Icon, end }) => (
          <NavLink key={to} to={to} end={end} className={({ isActive }) => (isActive ? "tabbar__item is-active" : "tabbar__item")}>
            <Icon size={20} />
            <span>{label === "New workflow" ? "New" : label}</span>
          </NavLink>
        ))}
      </nav>
    </div>
  );
}
