import { lazy } from "react";
import { createBrowserRouter, Link, Navigate } from "react-router";

import { WorkflowsPage } from "@/features/workflows";
import { EmptyState } from "@/shared/ui";

import { Layout } from "./Layout";

// pages with heavy libraries (the graph canvas, the deep-zoom viewer) load on first visit
const WorkflowDetailPage = lazy(() => import("@/features/workflows/components/WorkflowDetailPage").then((m) => ({ default: m.WorkflowDetailPage })));
const BuilderPage = lazy(() => import("@/features/builder/components/BuilderPage").then((m) => ({ default: m.BuilderPage })));
const JobDetailPage = lazy(() => import("@/features/jobs/components/JobDetailPage").then((m) => ({ default: m.JobDetailPage })));
const SlidesPage = lazy(() => import("@/features/slides/components/SlidesPage").then((m) => ({ default: m.SlidesPage })));
const AdmissionPage = lazy(() => import("@/features/admission/components/AdmissionPage").then((m) => ({ default: m.AdmissionPage })));

function NotFound() {
  return (
    <div className="page">
      <EmptyState title="Nothing here" action={<Link to="/workflows" className="btn btn--primary btn--md">Go to workflows</Link>}>
        This address is not a page of the Tessera UI.
      </EmptyState>
    </div>
  );
}

export const router = createBrowserRouter([
  {
    path: "/",
    element: <Layout />,
    children: [
      { index: true, element: <Navigate to="/workflows" replace /> },
      { path: "workflows", element: <WorkflowsPage /> },
      { path: "workflows/new", element: <BuilderPage /> },
      { path: "workflows/:workflowId", element: <WorkflowDetailPage /> },
      { path: "workflows/:workflowId/jobs/:jobId", element: <JobDetailPage /> },
      { path: "slides", element: <SlidesPage /> },
      { path: "admission", element: <AdmissionPage /> },
      { path: "*", element: <NotFound /> },
    ],
  },
]);
