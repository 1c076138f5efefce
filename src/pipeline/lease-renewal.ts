// Renews a batch's leases while it runs, a third of a lease apart: a batch may take longer than a lease
// when the rate budget is busy, and only a worker that died should let its leases lapse and its work be
// taken over.

/** Starts renewing; the answer stops it. */
export function renewWhileRunning(
  leaseMs: number,
  clock: () => number,
  renew: (leaseUntil: number, at: number) => Promise<unknown>,
  onError: (error: unknown) => void,
): () => void {
  const timer = setInterval(
    () => {
      const at = clock();
      renew(at + leaseMs, at).catch(onError);
    },
    Math.max(1, Math.floor(leaseMs / 3)),
  );
  // Never what keeps the process alive.
  timer.unref();
  return () => clearInterval(timer);
}
