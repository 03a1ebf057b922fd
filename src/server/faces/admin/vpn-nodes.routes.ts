/** Admin API of Core nodes, their protocols (inbounds) and outbounds (`/api/v1/vpn/...`). */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import {
  CoreNode,
  CoreNodeCreateRequest,
  CoreNodeIdParams,
  CoreNodeListQuery,
  CoreNodeUpdateRequest,
  CoreNodeWithCode,
} from '../../../contract/admin/vpn-nodes.ts';
import { NodeProtocol, NodeProtocolCreateRequest, NodeProtocolListQuery, NodeProtocolUpdateRequest } from '../../../contract/admin/vpn-protocols.ts';
import { NodeOutbound, NodeOutboundCreateRequest, NodeOutboundListQuery, NodeOutboundUpdateRequest } from '../../../contract/admin/vpn-outbounds.ts';
import { EmptyBody } from '../../../contract/admin/vpn-subscriptions.ts';
import { IntIdParams } from '../../../contract/admin/vpn-users.ts';
import { NodeConfigSchema } from '../../../contract/core-node/config.ts';
import { Paged, Single } from '../../../contract/types.ts';
import type { AppContext } from '../../context.ts';
import { created, meta, noContent, ok, paged } from './http.ts';

const nodes = ['VPN Core nodes'];
const protocols = ['VPN node protocols'];
const outbounds = ['VPN node outbounds'];

export const vpnNodeRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    // ── Core nodes ─────────────────────────────────────────────────────────────────────────────
    app.post(
      '/vpn/nodes',
      {
        schema: {
          tags: nodes,
          summary: 'Create a Core node; the answer carries its registration code, shown only here',
          body: CoreNodeCreateRequest,
          response: { 201: Single(CoreNodeWithCode) },
        },
      },
      async (req, reply) => {
        const node = await ctx.vpn.nodes.create(req.body);
        return created(req, reply, node, `/api/v1/vpn/nodes/${node.id}`);
      },
    );

    app.get(
      '/vpn/nodes',
      {
        schema: {
          tags: nodes,
          summary: 'List Core nodes',
          description: 'Filters: name, host, region, status, sync_status, code, core_id, registered, has_error, last_seen_at__gte/__lte.',
          querystring: CoreNodeListQuery,
          response: { 200: Paged(CoreNode) },
        },
      },
      async (req) => paged(req, await ctx.vpn.nodes.list(req.principal, req.query)),
    );

    app.get(
      '/vpn/nodes/:id',
      {
        schema: { tags: nodes, summary: 'Get a Core node', params: CoreNodeIdParams, response: { 200: Single(CoreNode) } },
      },
      async (req) => ok(req, await ctx.vpn.nodes.get(req.principal, req.params.id)),
    );

    app.patch(
      '/vpn/nodes/:id',
      {
        schema: {
          tags: nodes,
          summary: 'Update a Core node (name, host, region, routing rules, disabled)',
          params: CoreNodeIdParams,
          body: CoreNodeUpdateRequest,
          response: { 200: Single(CoreNode) },
        },
      },
      async (req) => ok(req, await ctx.vpn.nodes.update(req.principal, req.params.id, req.body)),
    );

    app.delete(
      '/vpn/nodes/:id',
      {
        schema: { tags: nodes, summary: 'Delete a Core node with its protocols and outbounds', params: CoreNodeIdParams, response: { 204: Type.Null() } },
      },
      async (req, reply) => {
        await ctx.vpn.nodes.delete(req.principal, req.params.id);
        return noContent(reply);
      },
    );

    app.post(
      '/vpn/nodes/:id/reset_code',
      {
        schema: {
          tags: nodes,
          summary: 'Issue a new registration code; the old code and the current auth key stop working',
          params: CoreNodeIdParams,
          body: EmptyBody,
          response: { 200: Single(CoreNodeWithCode) },
        },
      },
      async (req) => ok(req, await ctx.vpn.nodes.resetCode(req.principal, req.params.id)),
    );

    app.get(
      '/vpn/nodes/:id/config',
      {
        schema: {
          tags: nodes,
          summary: 'The NodeConfig the node gets from /node/config/latest right now',
          params: CoreNodeIdParams,
          response: { 200: Single(NodeConfigSchema) },
        },
      },
      async (req, reply) => {
        const body = await ctx.vpn.nodes.config(req.principal, req.params.id);
        // Pre-rendered JSON goes into the envelope as is.
        return reply.type('application/json; charset=utf-8').send(`{"data":${body},"meta":${JSON.stringify(meta(req))}}` as never);
      },
    );

    // ── Node protocols ─────────────────────────────────────────────────────────────────────────
    app.post(
      '/vpn/node_protocols',
      {
        schema: {
          tags: protocols,
          summary: 'Add a protocol (inbound) to a Core node',
          body: NodeProtocolCreateRequest,
          response: { 201: Single(NodeProtocol) },
        },
      },
      async (req, reply) => {
        const protocol = await ctx.vpn.protocols.create(req.principal, req.body);
        return created(req, reply, protocol, `/api/v1/vpn/node_protocols/${protocol.id}`);
      },
    );

    app.get(
      '/vpn/node_protocols',
      {
        schema: {
          tags: protocols,
          summary: 'List node protocols',
          description: 'Filters: node_id, protocol, transport, security, port, enabled, subscription_id (granted).',
          querystring: NodeProtocolListQuery,
          response: { 200: Paged(NodeProtocol) },
        },
      },
      async (req) => paged(req, await ctx.vpn.protocols.list(req.principal, req.query)),
    );

    app.get(
      '/vpn/node_protocols/:id',
      {
        schema: { tags: protocols, summary: 'Get a node protocol', params: IntIdParams, response: { 200: Single(NodeProtocol) } },
      },
      async (req) => ok(req, await ctx.vpn.protocols.get(req.principal, req.params.id)),
    );

    app.patch(
      '/vpn/node_protocols/:id',
      {
        schema: {
          tags: protocols,
          summary: 'Update a node protocol',
          params: IntIdParams,
          body: NodeProtocolUpdateRequest,
          response: { 200: Single(NodeProtocol) },
        },
      },
      async (req) => ok(req, await ctx.vpn.protocols.update(req.principal, req.params.id, req.body)),
    );

    app.delete(
      '/vpn/node_protocols/:id',
      {
        schema: { tags: protocols, summary: 'Delete a node protocol and its grants', params: IntIdParams, response: { 204: Type.Null() } },
      },
      async (req, reply) => {
        await ctx.vpn.protocols.delete(req.principal, req.params.id);
        return noContent(reply);
      },
    );

    // ── Node outbounds ─────────────────────────────────────────────────────────────────────────
    app.post(
      '/vpn/node_outbounds',
      {
        schema: { tags: outbounds, summary: 'Add an outbound to a Core node', body: NodeOutboundCreateRequest, response: { 201: Single(NodeOutbound) } },
      },
      async (req, reply) => {
        const outbound = await ctx.vpn.outbounds.create(req.principal, req.body);
        return created(req, reply, outbound, `/api/v1/vpn/node_outbounds/${outbound.id}`);
      },
    );

    app.get(
      '/vpn/node_outbounds',
      {
        schema: {
          tags: outbounds,
          summary: 'List node outbounds with their traffic counters',
          description: 'Filters: node_id, tag, protocol.',
          querystring: NodeOutboundListQuery,
          response: { 200: Paged(NodeOutbound) },
        },
      },
      async (req) => paged(req, await ctx.vpn.outbounds.list(req.principal, req.query)),
    );

    app.get(
      '/vpn/node_outbounds/:id',
      {
        schema: { tags: outbounds, summary: 'Get a node outbound', params: IntIdParams, response: { 200: Single(NodeOutbound) } },
      },
      async (req) => ok(req, await ctx.vpn.outbounds.get(req.principal, req.params.id)),
    );

    app.patch(
      '/vpn/node_outbounds/:id',
      {
        schema: {
          tags: outbounds,
          summary: 'Update a node outbound',
          params: IntIdParams,
          body: NodeOutboundUpdateRequest,
          response: { 200: Single(NodeOutbound) },
        },
      },
      async (req) => ok(req, await ctx.vpn.outbounds.update(req.principal, req.params.id, req.body)),
    );

    app.delete(
      '/vpn/node_outbounds/:id',
      {
        schema: { tags: outbounds, summary: 'Delete a node outbound', params: IntIdParams, response: { 204: Type.Null() } },
      },
      async (req, reply) => {
        await ctx.vpn.outbounds.delete(req.principal, req.params.id);
        return noContent(reply);
      },
    );
  };
