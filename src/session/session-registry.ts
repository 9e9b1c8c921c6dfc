import type { SessionActivity, SessionFacts } from './session-activity.js';

/** What the registry keeps of a session: its id and its read-only activity (ControlSession fits). */
export interface LiveSession {
  readonly id: string;
  readonly activity: SessionActivity;
}

/** One session's facts, with its id, as the registry hands them out. */
export interface SessionSnapshot extends SessionFacts {
  readonly id: string;
}

/**
 * The daemon's live sessions, for the live view. A site adds a session as it accepts it and
 * removes it in the session's one close path (its `onClosed`), so a closed session is never
 * listed. Readers get copies of the facts, never the sessions.
 */
export class SessionRegistry {
  private readonly sessions = new Set<LiveSession>();

  get size(): number {
    return this.sessions.size;
  }

  add(session: LiveSession): void {
    this.sessions.add(session);
  }

  remove(session: LiveSession): void {
    this.sessions.delete(session);
  }

  snapshot(): SessionSnapshot[] {
    return [...this.sessions].map((session) => ({ id: session.id, ...session.activity.read() }));
  }
}
