/** The Core node face (`/node`, specs/core-node.md): x-node-auth-key auth and NestJS-style errors. */
import type { FastifyPluginAsync } from 'fastify';
import type { AppContext } from '../../context.ts';
import { installFace } from '../face-kit.ts';
import { coreErrors, installCoreNodeAuth } from './http.ts';
import { coreNodeRoutes } from './node.routes.ts';
import { coreIngestRoutes } from './ingest.routes.ts';

export const coreNodeFace =
  (ctx: AppContext): FastifyPluginAsync =>
  async (core) => {
    installFace(core, coreErrors);
    installCoreNodeAuth(core, (key) => ctx.coreNodes.authenticate(key));
    await core.register(coreNodeRoutes(ctx));
    await core.register(coreIngestRoutes(ctx));
  };
