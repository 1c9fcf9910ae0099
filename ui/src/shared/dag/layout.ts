// Lay a workflow's jobs out on a grid: one row (lane) per branch in order of first appearance, one
// column per step of the longest chain before the job. A job waits for its dependencies and for
// the job before it in its lane (lanes are FIFO), so both push it to the right.

export interface DagJob {
  id: string;
  branch: string;
  type: string;
  depends_on: readonly string[];
  state?: string;
  percent?: number;
  tiles_done?: number;
  tiles_total?: number;
  attempt?: number;
  problem?: boolean;
}

export interface Lane {
  name: string;
  index: number;
  jobs: string[];
}

export interface PlacedJob {
  job: DagJob;
  lane: number;
  column: number;
}

export interface DagEdge {
  id: string;
  source: string;
  target: string;
  kind: "dependency" | "lane";
}

export interface DagLayout {
  lanes: Lane[];
  placed: PlacedJob[];
  columns: number;
  edges: DagEdge[];
  /** true when the dependencies have a cycle (columns are then only approximate) */
  cyclic: boolean;
}

export function layoutDag(jobs: readonly DagJob[]): DagLayout {
  const laneIndex = new Map<string, number>();
  const lanes: Lane[] = [];
  const lanePrev = new Map<string, string>();
  for (const job of jobs) {
    let index = laneIndex.get(job.branch);
    if (index === undefined) {
      index = lanes.length;
      laneIndex.set(job.branch, index);
      lanes.push({ name: job.branch, index, jobs: [] });
    }
    const lane = lanes[index]!;
    const prev = lane.jobs[lane.jobs.length - 1];
    if (prev !== undefined && !lanePrev.has(job.id)) lanePrev.set(job.id, prev);
    lane.jobs.push(job.id);
  }

  const ids = new Set(jobs.map((j) => j.id));
  const column = new Map<string, number>(jobs.map((j) => [j.id, 0]));
  // relax until stable; a DAG settles in at most n passes, more means a cycle
  let cyclic = false;
  for (let pass = 0; ; pass++) {
    let changed = false;
    for (const job of jobs) {
      const before = [...job.depends_on.filter((d) => ids.has(d) && d !== job.id)];
      const prev = lanePrev.get(job.id);
      if (prev !== undefined) before.push(prev);
      const want = before.reduce((c, d) => Math.max(c, (column.get(d) ?? 0) + 1), 0);
      if (want > (column.get(job.id) ?? 0)) {
        column.set(job.id, want);
        changed = true;
      }
    }
    if (!changed) break;
    if (pass > jobs.length) {
      cyclic = true;
      break;
    }
  }
  if (cyclic) {
    // fall back to the submission order inside each lane
    for (const lane of lanes) lane.jobs.forEach((id, i) => column.set(id, i));
  }

  const placed = jobs.map((job) => ({ job, lane: laneIndex.get(job.branch) ?? 0, column: column.get(job.id) ?? 0 }));
  const edges: DagEdge[] = [];
  const seen = new Set<string>();
  for (const job of jobs) {
    for (const dep of job.depends_on) {
      if (!ids.has(dep)) continue;
      const id = `dep:${dep}->${job.id}`;
      if (!seen.has(id)) edges.push({ id, source: dep, target: job.id, kind: "dependency" });
      seen.add(id);
    }
    const prev = lanePrev.get(job.id);
    if (prev !== undefined && !job.depends_on.includes(prev)) {
      edges.push({ id: `lane:${prev}->${job.id}`, source: prev, target: job.id, kind: "lane" });
    }
  }
  const columns = placed.reduce((m, p) => Math.max(m, p.column + 1), 0);
  return { lanes, placed, columns, edges, cyclic };
}
