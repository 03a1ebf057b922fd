import { Type, type Static } from 'typebox';
import { AliasName } from '../admin/aliases.ts';
import { Uuid } from '../types.ts';

export const AgentAliasRequest = Type.Object({ name: AliasName });
export type AgentAliasRequest = Static<typeof AgentAliasRequest>;

export const AgentAlias = Type.Object({ id: Uuid, name: Type.String(), node_id: Uuid });
export type AgentAlias = Static<typeof AgentAlias>;
