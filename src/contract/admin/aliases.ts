import { Type, type Static } from 'typebox';
import { DNS_LABEL, ListQuery, Timestamp, Uuid } from '../types.ts';

export const AliasName = Type.String({ pattern: DNS_LABEL, minLength: 1, maxLength: 63 });

export const Alias = Type.Object({
  id: Uuid,
  name: Type.String(),
  vpn_hostname: Type.String(),
  node_id: Uuid,
  cluster_name: Type.String(),
  inserted_at: Timestamp,
  updated_at: Timestamp,
});
export type Alias = Static<typeof Alias>;

export const CreateAliasRequest = Type.Object({ name: AliasName });
export type CreateAliasRequest = Static<typeof CreateAliasRequest>;

export const AliasIdParams = Type.Object({ id: Uuid }, { additionalProperties: false });
export const AliasNodeParams = Type.Object({ node_id: Uuid }, { additionalProperties: false });

const StringFilter = Type.String({ maxLength: 500 });

export const AliasListQuery = ListQuery({
  name: Type.Optional(StringFilter),
  node_id: Type.Optional(Uuid),
  cluster_name: Type.Optional(StringFilter),
});
export type AliasListQuery = Static<typeof AliasListQuery>;
