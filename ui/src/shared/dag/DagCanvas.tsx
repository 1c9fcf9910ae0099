import "@xyflow/react/dist/style.css";

import {
  Background,
  BackgroundVariant,
  Handle,
  MarkerType,
  Panel,
  Position,
  ReactFlow,
  useReactFlow,
  useStore,
  type Edge,
  type Node,
  type NodeProps,
} from "@xyflow/react";
import { AlertTriangle, Cpu, Layers, Maximize, Microscope, Minus, Plus, ScanLine } from "lucide-react";
import { type KeyboardEvent, memo, useCallback, useEffect, useMemo, useRef, useState } from "react";

import { formatCount, formatPercent } from "@/shared/lib/format";
import { Loading } from "@/shared/ui/Spinner";

import { layoutDag, type DagJob } from "./layout";

const LABEL_W = 132;
const COL_W = 236;
const NODE_W = 196;
const NODE_H = 74;
const LANE_H = 112;
const PAD_X = 20;

type JobNodeData = { job: DagJob; selected: boolean };
type LaneNodeData = { name: string; width: number; index: number };

const TYPE_ICONS: Record<string, typeof Cpu> = {
  synthetic: Cpu,
  tissue_mask: ScanLine,
  cell_segmentation: Microscope,
};

const JobNode = memo(function JobNode({ data }: NodeProps<Node<JobNodeData>>) {
  const { job, selected } = data;
  const state = job.state ?? "DRAFT";
  const Icon = TYPE_ICONS[job.type] ?? Layers;
  const showProgress = job.state !== undefined && (job.tiles_total ?? 0) > 0;
  return (
    <div
      className={`dag-node state-${state.toLowerCase()}${selected ? " is-selected" : ""}${job.problem ? " has-problem" : ""}`}
      data-job={job.id}
      data-state={state}
      style={{ width: NODE_W, height: NODE_H }}
    >
      <Handle type="target" position={Position.Left} isConnectable={false} />
      <div className="dag-node__top">
        <Icon size={14} className="dag-node__icon" />
        <span className="dag-node__id" title={job.id}>
          {job.id}
        </span>
        {job.problem && <AlertTriangle size={13} className="dag-node__warn" />}
        {job.state && <span className="dag-node__dot" title={job.state} />}
      </div>
      <div className="dag-node__meta">
        <span>{job.type.replace("_", " ")}</span>
        {job.state && <span className="dag-node__state">{job.state.toLowerCase()}</span>}
      </div>
      {showProgress ? (
        <div className="dag-node__progress" title={`${formatCount(job.tiles_done)} / ${formatCount(job.tiles_total)} tiles`}>
          <div className="dag-node__bar">
            <div style={{ width: `${Math.min(100, job.percent ?? 0)}%` }} />
          </div>
          <span>{formatPercent(job.percent ?? 0)}</span>
        </div>
      ) : (
        <div className="dag-node__progress dag-node__progress--empty">
          <div className="dag-node__bar" />
        </div>
      )}
      <Handle type="source" position={Position.Right} isConnectable={false} />
    </div>
  );
});

function LaneNode({ data }: NodeProps<Node<LaneNodeData>>) {
  return (
    <div className={`dag-lane${data.index % 2 ? " dag-lane--odd" : ""}`} style={{ width: data.width, height: LANE_H }}>
      <div className="dag-lane__label" style={{ width: LABEL_W - 16 }}>
        <span className="dag-lane__kicker">branch</span>
        <span className="dag-lane__name" title={data.name}>
          {data.name}
        </span>
      </div>
    </div>
  );
}

const nodeTypes = { job: JobNode, lane: LaneNode };

// a strip under the lanes for the zoom buttons, so that they never cover a job
const CONTROLS_H = 44;
// lanes reach far to the right so that they fill the canvas at any zoom
const LANE_REACH = 6000;

/**
 * The graph left-aligned like a swimlane diagram, scaled down (never up) to fit the canvas; set
 * again when the graph's shape or the canvas' size changes. Zoom buttons with a reset. Until the
 * canvas has its size and React Flow has measured the nodes (drawn hidden until then), a loading
 * state covers the canvas, which would otherwise read as an empty graph.
 */
function Viewport({ width, height, signature }: { width: number; height: number; signature: string }) {
  const { setViewport, zoomIn, zoomOut } = useReactFlow();
  const canvasW = useStore((s) => s.width);
  const canvasH = useStore((s) => s.height);
  const fit = useCallback(
    (duration = 0) => {
      if (!canvasW || !canvasH) return;
      const zoom = Math.max(0.3, Math.min(1, (canvasW - 16) / width, (canvasH - CONTROLS_H) / height));
      const y = Math.max(4, (canvasH - CONTROLS_H - height * zoom) / 2);
      void setViewport({ x: 0, y, zoom }, { duration });
    },
    [canvasW, canvasH, width, height, setViewport],
  );
  useEffect(() => fit(), [fit, signature]);
  // every node measured (React Flow shows one only then); its own `nodesInitialized` stays false
  // for nodes passed without onNodesChange, which never get their measures back
  const measured = useStore((s) => s.nodeLookup.size > 0 && [...s.nodeLookup.values()].every((n) => n.measured.width !== undefined && n.internals.handleBounds !== undefined));
  const drawn = measured && canvasW > 0 && canvasH > 0;
  return (
    <>
      {!drawn && (
        <div className="dag__loading" data-testid="dag-loading">
          <Loading label="Drawing the graph…" />
        </div>
      )}
      <Panel position="bottom-right" className="dag__controls">
        <button type="button" className="icon-btn" aria-label="Zoom in" onClick={() => void zoomIn({ duration: 150 })}>
          <Plus size={14} />
        </button>
        <button type="button" className="icon-btn" aria-label="Zoom out" onClick={() => void zoomOut({ duration: 150 })}>
          <Minus size={14} />
        </button>
        <button type="button" className="icon-btn" aria-label="Fit the graph" onClick={() => fit(200)}>
          <Maximize size={14} />
        </button>
      </Panel>
    </>
  );
}

/** Enter or Space on a focused job node opens it, as a click does (React Flow only selects). */
function openOnKey(event: KeyboardEvent<HTMLDivElement>, onSelect: (jobId: string) => void): void {
  if (event.key !== "Enter" && event.key !== " ") return;
  const node = (event.target as HTMLElement).closest<HTMLElement>(".react-flow__node-job");
  const id = node?.dataset["id"];
  if (!node || node !== event.target || !id) return;
  event.preventDefault();
  onSelect(id);
}

interface DagCanvasProps {
  jobs: readonly DagJob[];
  selected?: string | null;
  onSelect?: (jobId: string) => void;
  height?: number;
  emptyText?: string;
  /** say over the graph that it has a cycle; off where the page says so itself */
  cycleNotice?: boolean;
}

/** A workflow's jobs as a graph: one horizontal lane per branch, arrows for `depends_on`. */
export function DagCanvas({ jobs, selected = null, onSelect, height, emptyText = "No jobs yet", cycleNotice = true }: DagCanvasProps) {
  const layout = useMemo(() => layoutDag(jobs), [jobs]);
  const width = LABEL_W + Math.max(1, layout.columns) * COL_W + PAD_X;
  const { nodes, edges } = useMemo(() => {
    const laneNodes: Node[] = layout.lanes.map((lane) => ({
      id: `lane:${lane.name}`,
      type: "lane",
      position: { x: 0, y: lane.index * LANE_H },
      data: { name: lane.name, width: width + LANE_REACH, index: lane.index },
      draggable: false,
      selectable: false,
      focusable: false,
      zIndex: -1,
    }));
    const jobNodes: Node[] = layout.placed.map((p) => ({
      id: p.job.id,
      type: "job",
      position: { x: LABEL_W + p.column * COL_W, y: p.lane * LANE_H + (LANE_H - NODE_H) / 2 },
      data: { job: p.job, selected: p.job.id === selected },
      draggable: false,
      connectable: false,
      // a node that opens its job is a button to the keyboard and to screen readers, named by
      // what it shows (id, type, state, percent)
      ...(onSelect ? { ariaRole: "button" as const } : {}),
    }));
    const states = new Map(jobs.map((j) => [j.id, j.state]));
    const flowEdges: Edge[] = layout.edges.map((e) => {
      const running = states.get(e.target) === "RUNNING";
      const dependency = e.kind === "dependency";
      return {
        id: e.id,
        source: e.source,
        target: e.target,
        type: dependency ? "default" : "straight",
        animated: dependency && running,
        className: dependency ? "dag-edge dag-edge--dep" : "dag-edge dag-edge--lane",
        ...(dependency ? { markerEnd: { type: MarkerType.ArrowClosed, width: 16, height: 16 } } : {}),
      };
    });
    return { nodes: [...laneNodes, ...jobNodes], edges: flowEdges };
  }, [layout, jobs, selected, width, onSelect]);

  // as tall as the graph is at the zoom the box's width allows, so phones get no empty band
  const box = useRef<HTMLDivElement>(null);
  const [boxWidth, setBoxWidth] = useState(0);
  useEffect(() => {
    const el = box.current;
    if (!el) return undefined;
    const observer = new ResizeObserver(([entry]) => setBoxWidth(entry?.contentRect.width ?? 0));
    observer.observe(el);
    return () => observer.disconnect();
  }, []);
  const graphHeight = layout.lanes.length * LANE_H;
  const zoom = boxWidth ? Math.max(0.3, Math.min(1, (boxWidth - 16) / width)) : 1;
  const canvasHeight = height ?? Math.min(600, Math.max(160, graphHeight * zoom + CONTROLS_H + 8));
  if (jobs.length === 0) {
    return (
      <div ref={box} className="dag dag--empty" style={{ height: height ?? 180 }}>
        {emptyText}
      </div>
    );
  }
  return (
    <div ref={box} className="dag" style={{ height: canvasHeight }} data-testid="dag" onKeyDown={onSelect ? (e) => openOnKey(e, onSelect) : undefined}>
      {cycleNotice && layout.cyclic && (
        <div className="dag__warning">
          <AlertTriangle size={14} /> The dependencies form a cycle
        </div>
      )}
      <ReactFlow
        nodes={nodes}
        edges={edges}
        nodeTypes={nodeTypes}
        minZoom={0.2}
        maxZoom={1.75}
        nodesDraggable={false}
        nodesConnectable={false}
        elementsSelectable={Boolean(onSelect)}
        preventScrolling={false}
        zoomOnScroll={false}
        panOnScroll={false}
        proOptions={{ hideAttribution: true }}
        onNodeClick={(_, node) => {
          if (node.type === "job") onSelect?.(node.id);
        }}
      >
        <Background variant={BackgroundVariant.Dots} gap={18} size={1} className="dag__bg" />
        <Viewport width={width} height={graphHeight} signature={`${layout.lanes.length}:${layout.columns}:${jobs.length}`} />
      </ReactFlow>
    </div>
  );
}
