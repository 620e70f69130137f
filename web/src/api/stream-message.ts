/** The messages of the live streams (docs/streams.md). */

/** A message of a stream: an event, or the snapshot that opens it. */
export interface StreamMessage {
  id?: string;
  type: string;
  timestamp: string;
  data: Record<string, unknown>;
}
