/** Poll an async condition until it holds or a deadline passes (bounded, never a fixed sleep). */
export async function waitFor(cond: () => Promise<boolean>, o: { timeoutMs: number; intervalMs: number }): Promise<boolean> {
  const deadline = Date.now() + o.timeoutMs;
  for (;;) {
    if (await cond()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, o.intervalMs));
  }
}
