/**
 * Commands to manager nodes and what rides on them (manager spec §2.1, §2.5, §5.3): the raw command
 * call, a node's config, its flows, the endpoints of online edges, the device types and secret
 * rotation. Each call blocks until the node answers (or the command timeout passes).
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import {
  CommandError,
  CommandRequest,
  CommandResult,
  FlowCreateRequest,
  NodeConfigBody,
  NodeEndpoints,
  NodeFlowParams,
  SecretRotated,
} from '../../../contract/manager/commands.ts';
import { DeviceTypesResponse } from '../../../contract/manager/device-types.ts';
import { ManagerError, ManagerNodeIdParams } from '../../../contract/manager/nodes.ts';
import type { AppContext } from '../../context.ts';

const tags = ['Manager nodes'];
const errors = { 400: ManagerError, 401: ManagerError, 403: CommandError, 404: ManagerError };
/** What waiting on a node can end in (§2.1). */
const nodeErrors = { ...errors, 413: ManagerError, 422: CommandError, 502: ManagerError, 504: ManagerError };
/** Action ≤ 50 KB, whole config ≤ 100 KB (§1.6); the envelope around them is allowed for. */
const COMMAND_BODY_LIMIT = 50 * 1024 + 64;
const CONFIG_BODY_LIMIT = 100 * 1024;

export const managerCommandRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    const commands = ctx.manager.commands;

    app.post(
      '/nodes/:id/command',
      {
        bodyLimit: COMMAND_BODY_LIMIT,
        schema: {
          tags,
          summary: 'Send a command to a node and wait for its acknowledgement',
          description:
            'Answers 200 with the ack, 422 when the node refused (its `error_code` passed through), 502 when it is not connected, 504 when it stayed silent.',
          params: ManagerNodeIdParams,
          body: CommandRequest,
          response: { 200: CommandResult, ...nodeErrors },
        },
        config: { role: 'operator' },
      },
      async (req) => commands.command(req.principal, req.params.id, req.body.action),
    );

    app.get(
      '/nodes/:id/config',
      {
        schema: {
          tags,
          summary: "A node's config: the cached one, else asked from the node (404 when it does not answer in 3 s)",
          params: ManagerNodeIdParams,
          response: { 200: Type.Unknown(), ...nodeErrors },
        },
        config: { role: 'viewer' },
      },
      async (req) => commands.getConfig(req.principal, req.params.id),
    );

    app.put(
      '/nodes/:id/config',
      {
        bodyLimit: CONFIG_BODY_LIMIT,
        schema: {
          tags,
          summary: "Replace a node's config (`update_config`); an edge's is checked as AppConfig v2 first",
          params: ManagerNodeIdParams,
          body: NodeConfigBody,
          response: { 200: CommandResult, ...nodeErrors },
        },
        config: { role: 'operator' },
      },
      async (req) => commands.putConfig(req.principal, req.params.id, req.body),
    );

    app.post(
      '/nodes/:id/flows',
      {
        bodyLimit: COMMAND_BODY_LIMIT,
        schema: {
          tags,
          summary: 'Create a flow on an edge (`create_flow`)',
          params: ManagerNodeIdParams,
          body: FlowCreateRequest,
          response: { 200: CommandResult, ...nodeErrors },
        },
        config: { role: 'operator' },
      },
      async (req) => commands.createFlow(req.principal, req.params.id, req.body),
    );

    app.delete(
      '/nodes/:id/flows/:flow_id',
      {
        schema: { tags, summary: 'Delete a flow on an edge (`delete_flow`)', params: NodeFlowParams, response: { 200: CommandResult, ...nodeErrors } },
        config: { role: 'operator' },
      },
      async (req) => commands.deleteFlow(req.principal, req.params.id, req.params.flow_id),
    );

    app.get(
      '/nodes/endpoints',
      {
        schema: { tags, summary: 'Flow addresses of the online edges (from their cached configs)', response: { 200: Type.Array(NodeEndpoints), ...errors } },
        config: { role: 'viewer' },
      },
      async (req) => commands.endpoints(req.principal),
    );

    app.post(
      '/nodes/:id/rotate-secret',
      {
        schema: {
          tags,
          summary: "Rotate a node's secret: the node keeps the new one, then the manager does",
          params: ManagerNodeIdParams,
          response: { 200: SecretRotated, ...nodeErrors },
        },
        config: { role: 'admin' },
      },
      async (req) => commands.rotateSecret(req.principal, req.params.id),
    );

    app.get(
      '/device-types',
      {
        schema: { tags, summary: 'The device drivers and the commands they declare', response: { 200: DeviceTypesResponse, 401: ManagerError } },
        config: { role: 'viewer' },
      },
      async () => ctx.deviceTypes.list(),
    );
  };
