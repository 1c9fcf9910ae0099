import type { JobDetail } from "@/shared/api/types";
import { formatClock, formatDateTime } from "@/shared/lib/format";
import { RelativeTime } from "@/shared/ui";

type LogLine = JobDetail["log"][number];

const TONE: Partial<Record<LogLine["kind"], string>> = {
  attempt_failed: "bad",
  failed: "bad",
  retry: "warn",
  cancelled: "warn",
  skipped: "warn",
  succeeded: "good",
};

/** The job's events in words, oldest first (the gateway derives them from the log). */
export function JobLog({ job }: { job: JobDetail }) {
  return (
    <ol className="joblog" data-testid="job-log">
      {job.log.map((line, i) => (
        <li key={i} className={`joblog__line joblog__line--${TONE[line.kind] ?? "plain"}`} data-kind={line.kind}>
          <time className="joblog__time mono small" dateTime={line.at} title={formatDateTime(line.at)}>
            {formatClock(line.at)}
          </time>
          <span className="joblog__text">
            {line.text}
            {line.until && (
              <>
                {" "}
                · next attempt <RelativeTime iso={line.until} />
              </>
            )}
          </span>
        </li>
      ))}
    </ol>
  );
}
