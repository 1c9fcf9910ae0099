import { Hourglass, PlayCircle, UserRound, Users } from "lucide-react";

import type { AdmissionView } from "@/shared/api/types";
import { formatCount } from "@/shared/lib/format";
import { Card, ErrorNotice, Loading, PageHeader, RelativeTime, Stat, ThroughputChart, useTitle } from "@/shared/ui";

import { useAdmission, useTenantThroughput } from "../api/admission";

const MAX_DOTS = 24;

export function AdmissionPage() {
  useTitle("Admission");
  const q = useAdmission(3000);
  return (
    <div className="page">
      <PageHeader title="Admission" subtitle="At most a few tenants run at once; the others wait in line, first come first served." />
      {q.error && <ErrorNotice error={q.error} onRetry={() => void q.refetch()} />}
      {q.isPending ? <Loading /> : q.data ? <AdmissionBoard a={q.data} /> : null}
    </div>
  );
}

function AdmissionBoard({ a }: { a: AdmissionView }) {
  const me = a.state;
  const waitingDots = Math.min(a.waiting_tenants, MAX_DOTS);
  return (
    <div className="admission" data-testid="admission" data-state={me}>
      <div className="stats-row">
        <Card className="stats-card">
          <Stat label="Active tenants" value={`${a.active_tenants} / ${a.max_active_tenants}`} hint="running now" />
        </Card>
        <Card className="stats-card">
          <Stat label="Waiting" value={a.waiting_tenants} hint={a.waiting_tenants === 1 ? "tenant in line" : "tenants in line"} />
        </Card>
        <Card className="stats-card">
          <Stat label="You" value={<span className={`admission__me admission__me--${me.toLowerCase()}`}>{me.toLowerCase()}</span>} hint={a.since ? <>since <RelativeTime iso={a.since} /></> : "no work admitted"} />
        </Card>
        <Card className="stats-card">
          <Stat label="Your place" value={a.position != null ? `#${a.position}` : "—"} hint={me === "WAITING" ? "in the waiting line" : "not waiting"} />
        </Card>
      </div>
      <Card title="Who runs, who waits">
        <div className="admission__lanes">
          <div className="admission__group">
            <div className="admission__label">
              <PlayCircle size={15} /> Running slots
            </div>
            <div className="admission__slots">
              {Array.from({ length: a.max_active_tenants }, (_, i) => {
                const filled = i < a.active_tenants;
                const mine = me === "ACTIVE" && i === 0;
                return (
                  <div key={i} className={`slot${filled ? " is-filled" : ""}${mine ? " is-me" : ""}`} title={filled ? (mine ? "you" : "another tenant") : "free"}>
                    {filled ? mine ? <UserRound size={18} /> : <Users size={18} /> : null}
                    <span>{filled ? (mine ? "you" : "busy") : "free"}</span>
                  </div>
                );
              })}
            </div>
          </div>
          <div className="admission__group">
            <div className="admission__label">
              <Hourglass size={15} /> Waiting line
            </div>
            {a.waiting_tenants === 0 ? (
              <div className="muted">Nobody waits: a new workflow starts as soon as a worker is free.</div>
            ) : (
              <div className="admission__line">
                {Array.from({ length: waitingDots }, (_, i) => (
                  <span key={i} className={`line-dot${a.position === i + 1 ? " is-me" : ""}`} title={a.position === i + 1 ? "you" : `#${i + 1}`}>
                    {a.position === i + 1 ? "you" : i + 1}
                  </span>
                ))}
                {a.waiting_tenants > MAX_DOTS && <span className="muted small">+{a.waiting_tenants - MAX_DOTS} more</span>}
              </div>
            )}
          </div>
        </div>
        <p className="muted small admission__note">
          A tenant is released when all of its admitted jobs have finished. While anyone waits, an active tenant's new workflows queue
          behind the waiters, so nobody holds a slot forever.
        </p>
      </Card>
      <TenantThroughputCard />
    </div>
  );
}

function TenantThroughputCard() {
  const q = useTenantThroughput(10);
  return (
    <Card title="Your throughput" actions={q.data ? <span className="muted small">{formatCount(q.data.tiles)} tiles in the last 10 minutes</span> : undefined}>
      {q.error ? <ErrorNotice error={q.error} compact title="No throughput" /> : q.data ? <ThroughputChart points={q.data.points} label="Your tiles per second" empty="None of your jobs made progress in the last 10 minutes." /> : <Loading />}
    </Card>
  );
}
