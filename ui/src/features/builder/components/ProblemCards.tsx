import { AlertCircle } from "lucide-react";

import type { DraftJob } from "../model";
import { describe, type Placed, type Problem } from "../problems";

/** JSON mode's stand-in for the job cards: one card per job with problems, headed like its job
 * card in the form (number and id). */
export function JobProblemCards({ jobs, placed }: { jobs: readonly DraftJob[]; placed: Placed }) {
  return jobs.map((job, i) => {
    const problems = placed.jobs.get(job.key);
    if (!problems) return null;
    return (
      <section key={job.key} className="job-card has-error" data-testid="problem-card" data-job={job.id} aria-label={`Problems of job ${job.id}`}>
        <div className="job-card__legend">
          <span className="job-card__index">{i + 1}</span>
          <span className="mono">{job.id || "unnamed"}</span>
        </div>
        <ProblemList problems={problems} />
      </section>
    );
  });
}

/** Problems away from their fields, each with the field's name. */
export function ProblemList({ problems }: { problems: readonly Problem[] }) {
  return (
    <ul className="job-card__problems" role="alert">
      {problems.map((p) => (
        <li key={p.code}>
          <AlertCircle size={14} /> {describe(p)}
        </li>
      ))}
    </ul>
  );
}

/** Why the JSON cannot be read, and where: a button that puts the caret there. */
export function JsonProblem({ problem, onLocate }: { problem: Problem; onLocate: (line: number, column: number) => void }) {
  const { target } = problem;
  const where = target.kind === "json" && target.line !== undefined ? { line: target.line, column: target.column ?? 1 } : null;
  return (
    <div className="field__error" role="alert" data-testid="json-problem">
      {where && (
        <button type="button" className="builder__locate" onClick={() => onLocate(where.line, where.column)}>
          Line {where.line}, column {where.column}
        </button>
      )}
      {where && ": "}
      {problem.message}
    </div>
  );
}
