/**
 * Exponential backoff with symmetric jitter: delay n (from 0) is
 * min(maxMs, initialMs · factor^n) · (1 ± jitter). The jitter spreads a fleet's reconnects after a
 * control-plane restart instead of having every agent knock at the same instant.
 */
export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
  factor?: number;
  /** Fraction, e.g. 0.2 = ±20 %. */
  jitter?: number;
  /** [0, 1), injectable so tests can pin the jitter. */
  random?: () => number;
}

export class Backoff {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly factor: number;
  readonly jitter: number;
  private readonly random: () => number;
  private attempt = 0;

  constructor(options: BackoffOptions = {}) {
    this.initialMs = options.initialMs ?? 500;
    this.maxMs = options.maxMs ?? 30_000;
    this.factor = options.factor ?? 2;
    this.jitter = options.jitter ?? 0.2;
    this.random = options.random ?? Math.random;
    if (!(this.initialMs > 0) || !(this.maxMs >= this.initialMs) || !(this.factor >= 1) || !(this.jitter >= 0 && this.jitter < 1)) {
      throw new RangeError('backoff: need 0 < initialMs ≤ maxMs, factor ≥ 1, 0 ≤ jitter < 1');
    }
  }

  /** Failures since the last reset. */
  get attempts(): number {
    return this.attempt;
  }

  /** The un-jittered delay the next call to next() is centred on. */
  peekBase(): number {
    // factor ** attempt may reach Infinity after ~1000 failures; min() still yields maxMs.
    return Math.min(this.maxMs, this.initialMs * this.factor ** this.attempt);
  }

  next(): number {
    const base = this.peekBase();
    this.attempt++;
    return Math.round(base * (1 + this.jitter * (2 * this.random() - 1)));
  }

  reset(): void {
    this.attempt = 0;
  }
}
