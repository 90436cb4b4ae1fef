/*
 * The shell loop the traffic generator runs (curl in the background, `sleep` between requests),
 * as facts both the construct that writes it and the model that reads it share.
 */

/**
 * What starting a request in the background costs the loop (fork and the `sleep` call), on top of
 * its `sleep`: measured on this project's 2-core machine, allowed for in the rate it keeps.
 */
export const LOOP_OVERHEAD_MS = 5;

/** The requests per second a loop keeps when it sleeps `sleepSeconds` between request starts. */
export function loopRequestsPerSecond(sleepSeconds: number): number {
  return 1000 / (sleepSeconds * 1000 + LOOP_OVERHEAD_MS);
}
