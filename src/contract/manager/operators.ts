/** The manager face's operator shapes (manager spec §5.5): settings answers and the listener's certificate. */
import { type Static, Type } from 'typebox';

export const ManagerTlsInfo = Type.Object({
  cert_path: Type.String(),
  key_path: Type.String(),
  /** The issuer's DN equals the subject's. */
  is_self_signed: Type.Boolean(),
  subject: Type.String(),
  issuer: Type.String(),
  not_after: Type.String(),
});
export type ManagerTlsInfo = Static<typeof ManagerTlsInfo>;

const MAX_PEM = 64 * 1024;

export const ManagerTlsUpload = Type.Object(
  { cert_pem: Type.String({ minLength: 1, maxLength: MAX_PEM }), key_pem: Type.String({ minLength: 1, maxLength: MAX_PEM }) },
  { additionalProperties: false },
);
export type ManagerTlsUpload = Static<typeof ManagerTlsUpload>;

export const ManagerTlsUploadResult = Type.Object({
  success: Type.Boolean(),
  message: Type.Optional(Type.String()),
  error: Type.Optional(Type.String()),
});
export type ManagerTlsUploadResult = Static<typeof ManagerTlsUploadResult>;

/** The manager's "200 empty" answer (a settings save, an event ack). */
export const EmptyBody = Type.Unsafe<undefined>({ type: 'null', description: 'Empty body' });
