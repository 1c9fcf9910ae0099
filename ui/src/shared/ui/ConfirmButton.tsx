import { type ReactNode, useEffect, useState } from "react";

import { Button } from "./Button";

interface ConfirmButtonProps {
  /** What the button says at rest, and once armed (the question to confirm). */
  label: ReactNode;
  confirmLabel: ReactNode;
  icon?: ReactNode;
  busy?: boolean;
  size?: "sm" | "md";
  onConfirm: () => void;
}

/** A destructive button: the first click arms it for 4 s, a second click acts. */
export function ConfirmButton({ label, confirmLabel, icon, busy, size, onConfirm }: ConfirmButtonProps) {
  const [armed, setArmed] = useState(false);
  useEffect(() => {
    if (!armed) return undefined;
    const t = setTimeout(() => setArmed(false), 4000);
    return () => clearTimeout(t);
  }, [armed]);
  return (
    <Button
      variant="danger"
      size={size}
      icon={icon}
      busy={busy}
      onClick={() => {
        setArmed(!armed);
        if (armed) onConfirm();
      }}
    >
      {armed ? confirmLabel : label}
    </Button>
  );
}
