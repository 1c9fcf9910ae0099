// Slides: the list, their Deep Zoom pyramids, the overlays finished jobs draw on them, uploads.

import { queryOptions } from "@tanstack/react-query";

import { api, rememberToken, tenantHeaders, TOKEN_HEADER, unwrap } from "./client";
import { ApiError, errorOf } from "./errors";
import type { components } from "./schema";

export type Slide = components["schemas"]["SlideView"];
type SlidePage = components["schemas"]["SlidePage"];
/** What a viewer needs of a Deep Zoom descriptor (`dzi.json`, `overlay.json`). */
export type DeepZoomDescriptor = Pick<components["schemas"]["DeepZoomDescriptor"], "width" | "height" | "tile_size" | "overlap" | "levels" | "format" | "mpp" | "tile_url">;

/** A slide's reference as it goes into a URL: each segment escaped, the slashes kept. */
export function slidePath(slide: string): string {
  return slide.split("/").map(encodeURIComponent).join("/");
}

/** The owner and file name of an upload's reference (`uploads/<tenant>/<name>`), else null. */
export function uploadOf(slide: string): { owner: string; name: string } | null {
  const parts = slide.split("/");
  return parts.length === 3 && parts[0] === "uploads" && parts[1] && parts[2] ? { owner: parts[1], name: parts[2] } : null;
}

export const slideUrls = {
  thumbnail: (slide: string, maxSize = 320) => `/v1/slides/${slidePath(slide)}/thumbnail.jpg?max_size=${maxSize}`,
  upload: (name: string) => `/v1/slides?name=${encodeURIComponent(name)}`,
};

/** A tile's path from a descriptor's `tile_url` template. */
export function tileUrl(descriptor: DeepZoomDescriptor, level: number, col: number, row: number): string {
  return descriptor.tile_url.replace("{level}", String(level)).replace("{col}", String(col)).replace("{row}", String(row));
}

const SLIDE_PAGES = 10;

/** The slides this tenant can use (shared ones and its uploads), all pages up to 10 × 200. */
export const slidesQuery = (tenant: string) =>
  queryOptions({
    queryKey: ["slides", tenant, "list"],
    queryFn: async ({ signal }) => {
      const items: Slide[] = [];
      let cursor: string | null = null;
      for (let page = 0; page < SLIDE_PAGES; page++) {
        // openapi-fetch widens tuples ([w, h]) to arrays; the gateway sends pairs
        const body = (await unwrap(api.GET("/v1/slides", { params: { query: { limit: 200, ...(cursor ? { cursor } : {}) } }, signal }))) as SlidePage;
        items.push(...body.items);
        cursor = body.next_cursor ?? null;
        if (!cursor) break;
      }
      return items;
    },
  });

export const dziQuery = (tenant: string, slide: string) =>
  queryOptions({
    queryKey: ["slides", tenant, "dzi", slide],
    queryFn: ({ signal }) => unwrap(api.GET("/v1/slides/{slide}/dzi.json", { params: { path: { slide } }, signal })),
    staleTime: Number.POSITIVE_INFINITY,
  });

export const overlayQuery = (tenant: string, workflowId: string, jobId: string) =>
  queryOptions({
    queryKey: ["overlay", tenant, workflowId, jobId],
    queryFn: ({ signal }) =>
      unwrap(
        api.GET("/v1/workflows/{workflow_id}/jobs/{job_id}/results/overlay.json", {
          params: { path: { workflow_id: workflowId, job_id: jobId } },
          signal,
        }),
      ),
    staleTime: Number.POSITIVE_INFINITY,
  });

/** Upload a slide as the raw request body, reporting progress (fetch cannot report uploads). */
export function uploadSlide(file: File, onProgress: (fraction: number) => void, signal?: AbortSignal): Promise<Slide> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", slideUrls.upload(file.name));
    for (const [k, v] of Object.entries(tenantHeaders())) xhr.setRequestHeader(k, v);
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total);
    };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        rememberToken(xhr.getResponseHeader(TOKEN_HEADER));
        onProgress(1);
        resolve(JSON.parse(xhr.responseText) as Slide);
        return;
      }
      const headers = new Headers();
      const retry = xhr.getResponseHeader("Retry-After");
      if (retry) headers.set("Retry-After", retry);
      void errorOf(new Response(xhr.responseText, { status: xhr.status, statusText: xhr.statusText, headers })).then(reject);
    };
    xhr.onerror = () => reject(ApiError.network(new Error("the upload was interrupted")));
    xhr.onabort = () => reject(new DOMException("aborted", "AbortError"));
    signal?.addEventListener("abort", () => xhr.abort());
    xhr.send(file);
  });
}
