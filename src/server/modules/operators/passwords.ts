/** Operator passwords: Argon2id with the manager spec's parameters, and generated passwords. */
import { randomBytes } from 'node:crypto';
import { Algorithm, hash, verify } from '@node-rs/argon2';

/** m=19456 KiB, t=2, p=1 (manager spec §5.1, OWASP's Argon2id minimum). */
const PARAMS = { algorithm: Algorithm.Argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export const hashPassword = (password: string): Promise<string> => hash(password, PARAMS);

/** A stored hash that matches no password, verified for unknown usernames so they cost the same time. */
let decoy: Promise<string> | null = null;

/** Whether `password` matches `stored`; with no stored hash it still spends one verification. */
export async function verifyPassword(stored: string | null, password: string): Promise<boolean> {
  decoy ??= hashPassword(randomBytes(24).toString('base64'));
  const ok = await verify(stored ?? (await decoy), password).catch(() => false);
  return stored !== null && ok;
}

/** 24 characters of base64url (144 bits), always with an upper, a lower case letter and a digit. */
export function generatePassword(): string {
  for (;;) {
    const candidate = randomBytes(18).toString('base64url');
    if (complexityProblem(candidate) === null) return candidate;
  }
}

/** The command line's rule (manager spec §5.2: complexity only in the CLI), or null when it holds. */
export function complexityProblem(password: string): string | null {
  if (password.length < 8 || password.length > 128) return 'the password must be 8–128 characters';
  if (!/[A-Z]/.test(password) || !/[a-z]/.test(password) || !/[0-9]/.test(password)) {
    return 'the password must contain an upper case letter, a lower case letter and a digit';
  }
  return null;
}
