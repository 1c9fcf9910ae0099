import { useStreamStatus, useLiveStream } from "@/shared/stream/StreamProvider";
import { useNow } from "@/shared/ui";

/** The live stream's state: a dot and a word, with the reason on hover. */
export function StreamStatus() {
  const status = useStreamStatus();
  const stream = useLiveStream();
  const now = useNow(1000);
  let tone = "warn";
  let text = "Connecting";
  let title = "Opening the live stream";
  switch (status.kind) {
    case "live":
      tone = "ok";
      text = "Live";
      title = `Receiving updates (cursor ${stream?.cursor ?? 0})`;
      break;
    case "catching-up":
      text = "Catching up";
      title = "Receiving what changed while away";
      break;
    case "waiting": {
      tone = "bad";
      const s = Math.max(0, Math.ceil((status.retryAt - now) / 1000));
      text = `Reconnecting${s ? ` in ${s}s` : "…"}`;
      title = `${status.reason}; will resume from cursor ${stream?.cursor ?? 0}`;
      break;
    }
    case "refused":
      tone = "bad";
      text = "Refused";
      title = status.reason;
      break;
    case "closed":
      tone = "off";
      text = "Offline";
      title = "Not connected";
      break;
    default:
      break;
  }
  return (
    <button
      type="button"
      className={`stream-pill stream-pill--${tone}`}
      title={title}
      data-testid="stream-status"
      data-status={status.kind}
      onClick={() => stream?.retryNow()}
    >
      <span className="stream-pill__dot" />
      <span className="stream-pill__text">{text}</span>
    </button>
  );
}
