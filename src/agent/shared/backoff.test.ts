import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Backoff } from './backoff.ts';

describe('backoff', () => {
  it('doubles from 0.5 s up to the 30 s cap without jitter at the midpoint', () => {
    const backoff = new Backoff({ random: () => 0.5 });
    const delays = Array.from({ length: 10 }, () => backoff.next());
    assert.deepEqual(delays, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000]);
  });

  it('keeps every jittered delay within ±20 % of its base', () => {
    const backoff = new Backoff();
    for (let i = 0; i < 200; i++) {
      const base = backoff.peekBase();
      const delay = backoff.next();
      assert.ok(delay >= Math.floor(base * 0.8) && delay <= Math.ceil(base * 1.2), `${delay} outside ±20 % of ${base}`);
    }
  });

  it('reaches both jitter extremes', () => {
    assert.equal(new Backoff({ random: () => 0 }).next(), 400);
    assert.equal(new Backoff({ random: () => 0.999999 }).next(), 600);
  });

  it('spreads a fleet: equal attempts with different random draws differ', () => {
    const delays = new Set(Array.from({ length: 50 }, () => new Backoff().next()));
    assert.ok(delays.size > 10, `only ${delays.size} distinct delays`);
  });

  it('starts over after reset', () => {
    const backoff = new Backoff({ random: () => 0.5 });
    for (let i = 0; i < 8; i++) backoff.next();
    backoff.reset();
    assert.equal(backoff.attempts, 0);
    assert.equal(backoff.next(), 500);
  });

  it('stays at the cap after a very long outage instead of overflowing', () => {
    const backoff = new Backoff({ random: () => 0.5 });
    for (let i = 0; i < 5000; i++) backoff.next();
    assert.equal(backoff.next(), 30000);
  });
});
