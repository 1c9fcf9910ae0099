import type { ErrorDetail } from "./types";

/** An error answer of the gateway (`{"error": {"status", "message", ...}}`) or a failed request. */
export class ApiError extends Error {
  readonly status: number;
  readonly problems: string[];
  /** Seconds to wait, from `Retry-After` (429, 503). */
  readonly retryAfter: number | null;
  /** The state that made a request conflict (409). */
  readonly state: string | null;

  constructor(
    status: number,
    message: string,
    opts: { problems?: string[]; retryAfter?: number | null; state?: string | null } = {},
  ) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.problems = opts.problems ?? [];
    this.retryAfter = opts.retryAfter ?? null;
    this.state = opts.state ?? null;
  }

  get isRateLimited(): boolean {
    return this.status === 429;
  }

  get isNetwork(): boolean {
    return this.status === 0;
  }

  /** Build from a response and its parsed body (whatever the body is). */
  static from(response: Response, body: unknown): ApiError {
    const retry = Number.parseInt(response.headers.get("Retry-After") ?? "", 10);
    const retryAfter = Number.isFinite(retry) ? retry : null;
    const detail = errorDetail(body);
    if (detail) {
      const state = typeof detail["state"] === "string" ? detail["state"] : null;
      return new ApiError(detail.status ?? response.status, detail.message, {
        problems: detail.problems ?? [],
        retryAfter,
        state,
      });
    }
    const text = typeof body === "string" && body.trim() ? `: ${body.trim().slice(0, 200)}` : "";
    return new ApiError(response.status, `${response.status} ${response.statusText}${text}`, {
      retryAfter,
    });
  }

  static network(cause: unknown): ApiError {
    const why = cause instanceof Error ? cause.message : String(cause);
    return new ApiError(0, `Cannot reach the gateway (${why})`);
  }
}

function errorDetail(body: unknown): ErrorDetail | null {
  if (typeof body !== "object" || body === null || !("error" in body)) return null;
  const error = (body as { error: unknown }).error;
  if (typeof error !== "object" || error === null || !("message" in error)) return null;
  return error as ErrorDetail;
}

/** Read an error answer whatever its content type. */
export async function errorOf(response: Response): Promise<ApiError> {
  const text = await response.text().catch(() => "");
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return ApiError.from(response, body);
}

export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  return ApiError.network(error);
}
