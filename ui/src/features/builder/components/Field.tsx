import type { ReactNode } from "react";

/** A field whose problems describe its control (`${id}-problem`, the control's aria-describedby):
 * inside its <label> they would join the control's name. */
export function Field({ id, className, label, messages, children }: { id: string; className: string; label: ReactNode; messages: string[]; children: ReactNode }) {
  return (
    <div className={className}>
      <label className="field__label" htmlFor={id}>
        {label}
      </label>
      {children}
      <FieldProblems id={`${id}-problem`} messages={messages} />
    </div>
  );
}

export function FieldProblems({ id, messages }: { id: string; messages: string[] }) {
  if (messages.length === 0) return null;
  return (
    <span className="field__error" id={id} role="alert" data-testid="field-problem">
      {messages.join("; ")}
    </span>
  );
}
