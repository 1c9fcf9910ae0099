import type { ParamSchema } from "@/shared/api/jobTypes";

import { paramKind } from "../model";

function label(name: string, schema: ParamSchema): string {
  return schema.title ?? name.replace(/_/g, " ");
}

function range(schema: ParamSchema): string | null {
  const k = paramKind(schema);
  const lo = k.minimum ?? (k.exclusiveMinimum !== undefined ? `>${k.exclusiveMinimum}` : undefined);
  if (lo === undefined && k.maximum === undefined) return null;
  return `${lo ?? "…"} – ${k.maximum ?? "…"}`;
}

/** A parameter's input; `problem` is the one the builder or the gateway found in it. */
export function ParamField({ name, schema, value, problem, onChange, idPrefix }: { name: string; schema: ParamSchema; value: string; problem?: string | undefined; onChange: (v: string) => void; idPrefix: string }) {
  const kind = paramKind(schema);
  const numeric = kind.type === "integer" || kind.type === "number";
  const placeholder = schema.default === null || schema.default === undefined ? (kind.nullable ? "from the slide" : "") : String(schema.default);
  const hint = [schema.description, range(schema)].filter(Boolean).join(" · ");
  const id = `${idPrefix}-${name}`;
  const note = problem ?? hint;
  // the hint or the problem describes the input; inside its <label> it would join its name
  return (
    <div className={`field field--param${problem ? " has-error" : ""}`}>
      <label className="field__label" htmlFor={id}>
        {label(name, schema)}
      </label>
      <input
        id={id}
        name={name}
        className="input input--sm"
        inputMode={numeric ? "decimal" : undefined}
        type="text"
        value={value}
        placeholder={placeholder}
        onChange={(e) => onChange(e.target.value)}
        aria-invalid={problem ? true : undefined}
        aria-describedby={note ? `${id}-note` : undefined}
      />
      <span className="field__hint" id={`${id}-note`}>
        {note}
      </span>
    </div>
  );
}
