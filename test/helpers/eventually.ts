/**
 * Polls until `check` returns a value, failing after `ms`: a bound on failure, not a timing
 * assertion. Unlike `until` (processes.ts), an error thrown by `check` fails at once.
 */
export async function eventually<T>(check: () => Promise<T | undefined | false>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
