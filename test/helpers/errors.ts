// Test helper: a call throws an error of the given class whose message equals (or matches) the expected one.
import assert from 'node:assert/strict';

export function throwsLike(fn: () => unknown, cls: new (...a: never[]) => Error, message: string | RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(
      e instanceof cls,
      `expected ${cls.name}, got ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`,
    );
    if (typeof message === 'string') assert.equal(e.message, message);
    else assert.match(e.message, message);
    return true;
  });
}
