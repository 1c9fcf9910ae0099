import { KeyRound } from "lucide-react";
import { useState, type FormEvent } from "react";

import { describeAuth, type AuthDescriptor } from "@/shared/api/client";
import { toApiError } from "@/shared/api/errors";
import { signIn } from "@/shared/tenant/store";
import { Button, Card } from "@/shared/ui";

/** Asks for the credential the gateway wants, checks it (GET /v1/auth names its tenant) and
 * keeps it; a refused one is explained and not kept. */
export function SignIn({ auth }: { auth: AuthDescriptor }) {
  const [token, setToken] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const checked = await describeAuth(token);
      if (!checked.tenant) throw new Error("the gateway accepted no tenant for this token");
      signIn(token, checked.tenant);
    } catch (cause) {
      setError(toApiError(cause).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="signin">
      <Card title="Sign in to Tessera">
        <form onSubmit={(e) => void submit(e)} className="signin__form" data-testid="signin">
          {auth.mode === "jwt" && auth.jwt ? (
            <p className="muted">
              This gateway takes access tokens of <span className="mono">{auth.jwt.issuer}</span> for the audience <span className="mono">{auth.jwt.audience}</span>; the
              tenant is their <span className="mono">{auth.jwt.tenant_claim}</span> claim. Paste one here.
            </p>
          ) : (
            <p className="muted">
              This gateway checks who you are: paste your tenant's API token (an operator makes one with{" "}
              <span className="mono">tessera tenants token create &lt;tenant-uuid&gt;</span>). It names your tenant.
            </p>
          )}
          <label className={`field${error ? " has-error" : ""}`}>
            <span className="field__label">{auth.mode === "jwt" ? "Access token" : "API token"}</span>
            <input
              className="input mono"
              type="password"
              autoComplete="off"
              aria-label="Token"
              aria-invalid={error ? true : undefined}
              value={token}
              onChange={(e) => {
                setToken(e.target.value);
                setError(null);
              }}
            />
            {error && <span className="field__error">{error}</span>}
          </label>
          <Button type="submit" variant="primary" icon={<KeyRound size={15} />} busy={busy} disabled={!token.trim()}>
            Sign in
          </Button>
        </form>
      </Card>
    </div>
  );
}
