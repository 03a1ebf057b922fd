/**
 * Admin API of the VPN service (`/api/v1/vpn/*`): users, subscriptions and their grants here;
 * Core nodes, node protocols and outbounds in vpn-nodes.routes.ts.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { IntIdParams, VpnUser, VpnUserCreateRequest, VpnUserListQuery, VpnUserUpdateRequest } from '../../../contract/admin/vpn-users.ts';
import {
  EmptyBody,
  GrantParams,
  GrantsRequest,
  VpnSubscription,
  VpnSubscriptionCreateRequest,
  VpnSubscriptionListQuery,
  VpnSubscriptionUpdateRequest,
} from '../../../contract/admin/vpn-subscriptions.ts';
import { NodeProtocol } from '../../../contract/admin/vpn-protocols.ts';
import { ListQuery, Paged, Single, Uuid } from '../../../contract/types.ts';
import type { AppContext } from '../../context.ts';
import { created, noContent, ok, paged } from './http.ts';
import { vpnNodeRoutes } from './vpn-nodes.routes.ts';

const users = ['VPN users'];
const subscriptions = ['VPN subscriptions'];

const GrantListQuery = ListQuery({
  node_id: Type.Optional(Uuid),
  protocol: Type.Optional(Type.String({ maxLength: 500 })),
  enabled: Type.Optional(Type.Boolean()),
});

export const vpnAdminRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    // ── Users ──────────────────────────────────────────────────────────────────────────────────
    app.post(
      '/vpn/users',
      {
        schema: { tags: users, summary: 'Create a VPN user', body: VpnUserCreateRequest, response: { 201: Single(VpnUser) } },
      },
      async (req, reply) => {
        const user = await ctx.vpn.users.create(req.body);
        return created(req, reply, user, `/api/v1/vpn/users/${user.id}`);
      },
    );

    app.get(
      '/vpn/users',
      {
        schema: {
          tags: users,
          summary: 'List VPN users',
          description: 'Filters: username, email, telegram_id, status (wildcards with *, comma lists).',
          querystring: VpnUserListQuery,
          response: { 200: Paged(VpnUser) },
        },
      },
      async (req) => paged(req, await ctx.vpn.users.list(req.query)),
    );

    app.get(
      '/vpn/users/:id',
      {
        schema: { tags: users, summary: 'Get a VPN user', params: IntIdParams, response: { 200: Single(VpnUser) } },
      },
      async (req) => ok(req, await ctx.vpn.users.get(req.params.id)),
    );

    app.patch(
      '/vpn/users/:id',
      {
        schema: {
          tags: users,
          summary: 'Update a VPN user (disabling removes all their subscriptions from nodes)',
          params: IntIdParams,
          body: VpnUserUpdateRequest,
          response: { 200: Single(VpnUser) },
        },
      },
      async (req) => ok(req, await ctx.vpn.users.update(req.params.id, req.body)),
    );

    app.delete(
      '/vpn/users/:id',
      {
        schema: { tags: users, summary: 'Delete a VPN user and their subscriptions', params: IntIdParams, response: { 204: Type.Null() } },
      },
      async (req, reply) => {
        await ctx.vpn.users.delete(req.params.id);
        return noContent(reply);
      },
    );

    // ── Subscriptions ──────────────────────────────────────────────────────────────────────────
    app.post(
      '/vpn/subscriptions',
      {
        schema: {
          tags: subscriptions,
          summary: 'Create a subscription (a new link UUID), optionally granting node protocols',
          body: VpnSubscriptionCreateRequest,
          response: { 201: Single(VpnSubscription) },
        },
      },
      async (req, reply) => {
        const subscription = await ctx.vpn.subscriptions.create(req.principal, req.body);
        return created(req, reply, subscription, `/api/v1/vpn/subscriptions/${subscription.id}`);
      },
    );

    app.get(
      '/vpn/subscriptions',
      {
        schema: {
          tags: subscriptions,
          summary: 'List subscriptions',
          description:
            'Filters: user_id, status, reset_strategy, link_uuid, node_protocol_id / node_id (granted), has_expiry, is_unlimited, online, expires_at__gte/__lte.',
          querystring: VpnSubscriptionListQuery,
          response: { 200: Paged(VpnSubscription) },
        },
      },
      async (req) => paged(req, await ctx.vpn.subscriptions.list(req.principal, req.query)),
    );

    app.get(
      '/vpn/subscriptions/:id',
      {
        schema: { tags: subscriptions, summary: 'Get a subscription', params: IntIdParams, response: { 200: Single(VpnSubscription) } },
      },
      async (req) => ok(req, await ctx.vpn.subscriptions.get(req.principal, req.params.id)),
    );

    app.patch(
      '/vpn/subscriptions/:id',
      {
        schema: {
          tags: subscriptions,
          summary: 'Update status, traffic limit, reset strategy or expiry',
          params: IntIdParams,
          body: VpnSubscriptionUpdateRequest,
          response: { 200: Single(VpnSubscription) },
        },
      },
      async (req) => ok(req, await ctx.vpn.subscriptions.update(req.principal, req.params.id, req.body)),
    );

    app.delete(
      '/vpn/subscriptions/:id',
      {
        schema: { tags: subscriptions, summary: 'Delete a subscription', params: IntIdParams, response: { 204: Type.Null() } },
      },
      async (req, reply) => {
        await ctx.vpn.subscriptions.delete(req.params.id);
        return noContent(reply);
      },
    );

    app.post(
      '/vpn/subscriptions/:id/revoke',
      {
        schema: {
          tags: subscriptions,
          summary: 'Revoke the link: a new link UUID and secrets, the old link stops working everywhere',
          params: IntIdParams,
          body: EmptyBody,
          response: { 200: Single(VpnSubscription) },
        },
      },
      async (req) => ok(req, await ctx.vpn.subscriptions.revoke(req.principal, req.params.id)),
    );

    app.post(
      '/vpn/subscriptions/:id/reset_traffic',
      {
        schema: {
          tags: subscriptions,
          summary: 'Zero the used traffic counters (a limited subscription is served again)',
          params: IntIdParams,
          body: EmptyBody,
          response: { 200: Single(VpnSubscription) },
        },
      },
      async (req) => ok(req, await ctx.vpn.subscriptions.resetTraffic(req.principal, req.params.id)),
    );

    // ── Grants: which node protocols a subscription may use ─────────────────────────────────────
    app.get(
      '/vpn/subscriptions/:id/protocols',
      {
        schema: {
          tags: subscriptions,
          summary: 'List the node protocols a subscription may use',
          params: IntIdParams,
          querystring: GrantListQuery,
          response: { 200: Paged(NodeProtocol) },
        },
      },
      async (req) => {
        await ctx.vpn.subscriptions.get(req.principal, req.params.id);
        return paged(req, await ctx.vpn.protocols.list(req.principal, { ...req.query, subscription_id: req.params.id }));
      },
    );

    app.put(
      '/vpn/subscriptions/:id/protocols',
      {
        schema: {
          tags: subscriptions,
          summary: 'Replace the node protocols a subscription may use',
          params: IntIdParams,
          body: GrantsRequest,
          response: { 200: Single(VpnSubscription) },
        },
      },
      async (req) => ok(req, await ctx.vpn.subscriptions.setGrants(req.principal, req.params.id, req.body.node_protocol_ids)),
    );

    app.post(
      '/vpn/subscriptions/:id/protocols',
      {
        schema: {
          tags: subscriptions,
          summary: 'Grant node protocols to a subscription (existing grants stay)',
          params: IntIdParams,
          body: GrantsRequest,
          response: { 200: Single(VpnSubscription) },
        },
      },
      async (req) => ok(req, await ctx.vpn.subscriptions.addGrants(req.principal, req.params.id, req.body.node_protocol_ids)),
    );

    app.delete(
      '/vpn/subscriptions/:id/protocols/:node_protocol_id',
      {
        schema: { tags: subscriptions, summary: 'Take one node protocol away from a subscription', params: GrantParams, response: { 204: Type.Null() } },
      },
      async (req, reply) => {
        await ctx.vpn.subscriptions.removeGrant(req.principal, req.params.id, req.params.node_protocol_id);
        return noContent(reply);
      },
    );

    await app.register(vpnNodeRoutes(ctx));
  };
