import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import {
  SshIdParams,
  SshNodeParams,
  SshPublicKey,
  SshPublicKeyCreateRequest,
  SshPublicKeyListQuery,
  SshUsername,
  SshUsernameCreateRequest,
  SshUsernameListQuery,
  SshUsernameParams,
} from '../../../contract/admin/ssh.ts';
import { Paged, Single } from '../../../contract/types.ts';
import type { AppContext } from '../../context.ts';
import { created, noContent, ok, paged } from './http.ts';

const usernameTags = ['Ssh.SshUsername'];
const keyTags = ['Ssh.SshPublicKey'];
/** Managing SSH access is an operator's job, not only an admin's (issue 13). */
const operator = { role: 'operator' as const };

/** SSH usernames and public keys (edge-admin spec §3 rows 38–45, §9.1). */
export const sshRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.post(
      '/nodes/:node_id/ssh_usernames',
      {
        schema: {
          tags: usernameTags,
          summary: 'Create an SSH username for a node, optionally with a password and public keys (all or nothing)',
          params: SshNodeParams,
          body: SshUsernameCreateRequest,
          response: { 201: Single(SshUsername) },
        },
        config: operator,
      },
      async (req, reply) => {
        const username = await ctx.ssh.createUsername(req.principal, req.params.node_id, req.body);
        return created(req, reply, username, `/api/v1/ssh_usernames/${username.id}`);
      },
    );

    app.get(
      '/ssh_usernames',
      {
        schema: { tags: usernameTags, summary: 'List SSH usernames', querystring: SshUsernameListQuery, response: { 200: Paged(SshUsername) } },
      },
      async (req) => paged(req, await ctx.ssh.listUsernames(req.principal, req.query)),
    );

    app.get(
      '/ssh_usernames/:id',
      {
        schema: { tags: usernameTags, summary: 'Get an SSH username with its public keys', params: SshIdParams, response: { 200: Single(SshUsername) } },
      },
      async (req) => ok(req, await ctx.ssh.getUsername(req.principal, req.params.id)),
    );

    app.delete(
      '/ssh_usernames/:id',
      {
        schema: { tags: usernameTags, summary: 'Delete an SSH username and its public keys', params: SshIdParams, response: { 204: Type.Null() } },
        config: operator,
      },
      async (req, reply) => {
        await ctx.ssh.deleteUsername(req.principal, req.params.id);
        return noContent(reply);
      },
    );

    app.post(
      '/ssh_usernames/:ssh_username_id/ssh_public_keys',
      {
        schema: {
          tags: keyTags,
          summary: 'Add an OpenSSH public key to an SSH username',
          params: SshUsernameParams,
          body: SshPublicKeyCreateRequest,
          response: { 201: Single(SshPublicKey) },
        },
        config: operator,
      },
      async (req, reply) => {
        const key = await ctx.ssh.createKey(req.principal, req.params.ssh_username_id, req.body);
        return created(req, reply, key, `/api/v1/ssh_public_keys/${key.id}`);
      },
    );

    app.get(
      '/ssh_public_keys',
      {
        schema: { tags: keyTags, summary: 'List SSH public keys', querystring: SshPublicKeyListQuery, response: { 200: Paged(SshPublicKey) } },
      },
      async (req) => paged(req, await ctx.ssh.listKeys(req.principal, req.query)),
    );

    app.get(
      '/ssh_public_keys/:id',
      {
        schema: { tags: keyTags, summary: 'Get an SSH public key', params: SshIdParams, response: { 200: Single(SshPublicKey) } },
      },
      async (req) => ok(req, await ctx.ssh.getKey(req.principal, req.params.id)),
    );

    app.delete(
      '/ssh_public_keys/:id',
      {
        schema: { tags: keyTags, summary: 'Delete an SSH public key', params: SshIdParams, response: { 204: Type.Null() } },
        config: operator,
      },
      async (req, reply) => {
        await ctx.ssh.deleteKey(req.principal, req.params.id);
        return noContent(reply);
      },
    );
  };
