/**
 * Public subscription documents (specs/core-node.md §5.2): `GET /sub/{linkUuid}` answers the base64
 * list of share links that v2rayN, v2rayNG, Streisand, Happ, Hiddify and Shadowrocket import, with
 * the usage headers they display. The link UUID is the only credential; unknown and revoked-away ones
 * are the same plain 404, and so is anything malformed, so the route reveals nothing.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { AppContext } from '../../context.ts';
import { subscriptionBody } from '../../modules/vpn/share-links.ts';
import { subscriptionRateLimit } from '../../http/rate-limit.ts';
import { DEFAULT_STATUS, type FaceErrors, installFace } from '../face-kit.ts';

/** Hours between client refreshes (Marzban's default). */
const UPDATE_INTERVAL_HOURS = 12;

const PlainText = (description: string) => ({ description, content: { 'text/plain': { schema: Type.String() } } });

/** Plain text; malformed requests get the same answer as unknown links, so nothing is revealed. */
const subscriptionErrors: FaceErrors = {
  status: DEFAULT_STATUS,
  render(failure, _request, reply) {
    const status = failure.status === 400 ? 404 : failure.status;
    const text = status === 404 ? 'Not Found' : status === 429 ? 'Too Many Requests' : status >= 500 ? 'Internal Server Error' : 'Bad Request';
    return reply.code(status).type('text/plain; charset=utf-8').send(text);
  },
};

const filenameOf = (username: string) => username.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 64) || 'subscription';

export const subscriptionLinkRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    installFace(app, subscriptionErrors);

    app.get(
      '/sub/:linkUuid',
      {
        schema: {
          tags: ['Subscription'],
          summary: 'Subscription document: share links, base64',
          description:
            'The share links of every enabled node protocol the subscription is granted (vless://, vmess://, trojan://, ss://, tg://proxy), one per line, base64-encoded. Headers: subscription-userinfo (upload, download, total = limit or 0, expire = unix seconds or 0), profile-update-interval, profile-title, content-disposition. Served under the current link UUID (a revoke moves it to a new one), also while the subscription is limited or expired.',
          security: [],
          params: Type.Object({ linkUuid: Type.String({ maxLength: 64 }) }, { additionalProperties: false }),
          response: { 200: PlainText('base64 of the share links joined by \\n'), 404: PlainText('Not Found') },
        },
        config: { auth: 'public', rateLimit: subscriptionRateLimit(ctx.config) },
      },
      async (req, reply) => {
        const doc = await ctx.usage.links.document(req.params.linkUuid);
        if (!doc) return reply.code(404).type('text/plain; charset=utf-8').send('Not Found');
        const filename = filenameOf(doc.username);
        return reply
          .type('text/plain; charset=utf-8')
          .header('subscription-userinfo', `upload=${doc.upload}; download=${doc.download}; total=${doc.total}; expire=${doc.expire}`)
          .header('profile-update-interval', String(UPDATE_INTERVAL_HOURS))
          .header('profile-title', `base64:${Buffer.from(doc.username, 'utf8').toString('base64')}`)
          .header('content-disposition', `attachment; filename="${filename}"`)
          .header('cache-control', 'no-store')
          .send(subscriptionBody(doc.links));
      },
    );
  };
