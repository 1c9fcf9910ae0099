"""Pure ASGI middleware of the gateway, outermost first as `create_app` stacks them:

1. `metrics.RequestMetrics`   counts and times every HTTP request by route template
2. `inflight.InFlightLimit`   global cap on requests in progress: 503 + Retry-After past it
3. `ratelimit.RateLimit`      per-tenant buckets on /v1: 429 + Retry-After, RateLimit-* headers
4. `body_limit.BodySizeLimit` 413 for bodies over the limit, before anything reads them

They answer in the API's JSON error shape through `tessera.gateway.api.errors`.
"""
