// Helpers of the real-launcher tests: a clean environment, loss lines, and skip-outside-CI / fail-in-CI gating.

/** This process's environment without any launcher's rank variables (the test runner may itself run under one). */
export function launcherEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (
      /^(RANK|WORLD_SIZE|LOCAL_RANK|LOCAL_WORLD_SIZE|MASTER_ADDR|MASTER_PORT|JOB_COMPLETION_INDEX|SLURM_\w+|OMPI_\w+|PMIX_\w+|SYNCBN_\w+)$/.test(
        k,
      )
    )
      continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

/**
 * The `step N  loss X` lines rank 0 prints (with or without a `[rank 0] ` prefix), as `N X` strings: compared bitwise.
 */
export function parseLosses(out: string): string[] {
  return [...out.matchAll(/^(?:\[rank 0\] )?step\s+(\d+)\s+loss\s+(\S+)$/gm)].map((m) => `${m[1]} ${m[2]}`);
}

/**
 * The `skip` value of a test that needs a system service: the reason outside CI; in CI (CI=true) a missing
 * service is a failure, not a skip, so this throws (the test file fails to load, loudly).
 */
export function skipOrFail(what: string, why: () => string | null): string | false {
  const reason = why();
  if (reason === null) return false;
  if (process.env.CI === 'true') throw new Error(`CI=true but the ${what} tests cannot run: ${reason}`);
  return reason;
}
