/**
 * The config a node is served: rendered from current state under the node's row lock, with the
 * revision that names it. If the state drifted from the stored hash without a bump (an expiry
 * passed before the sweep saw it), the revision is bumped here, so one revision never names two
 * different configs and the ETag stays truthful.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../../db/schema.ts';
import { NotFoundError } from '../../errors.ts';
import type { SecretBox } from '../../lib/secrets.ts';
import { loadRenderInputs } from './render-input.ts';
import { configHash, configText, containsSecrets, renderNodeConfig, type Reveal, withRevision } from './render.ts';
import { revisionRepo } from './revision.repo.ts';

export interface ServedConfig {
  revision: number;
  hash: string;
  /** `{"revision":N,"clientMap":…,"services":…}` */
  body: string;
}

/** Strong ETag of a revision: its number and a prefix of the config hash. */
export const configEtag = (revision: number, hash: string): string => `"${revision}-${hash.slice(0, 16)}"`;

/** RFC 9110 If-None-Match: `*` or a list of (possibly weak) entity tags. */
export function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(',').some((part) => {
    const tag = part.trim().replace(/^W\//, '');
    return tag === '*' || tag === etag;
  });
}

/** Opens sealed secrets, remembering plaintexts: a big node has one per Shadowsocks subscription. */
export class SecretCache {
  private readonly cache = new Map<string, string>();

  constructor(
    private readonly secrets: SecretBox,
    private readonly max = 100_000,
  ) {}

  reveal: Reveal = (sealed) => {
    let plain = this.cache.get(sealed);
    if (plain === undefined) {
      plain = this.secrets.open(sealed);
      if (this.cache.size >= this.max) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(sealed, plain);
    }
    return plain;
  };
}

export async function servedConfig(db: Kysely<Database>, nodeId: string, reveal: Reveal): Promise<ServedConfig> {
  return db.transaction().execute(async (trx) => {
    const row = await revisionRepo.lockConfigState(trx, nodeId);
    if (!row) throw new NotFoundError('Core node');
    const input = (await loadRenderInputs(trx, [nodeId])).get(nodeId)!;
    const config = renderNodeConfig(input, new Date());
    // The hash covers the text with secrets sealed; the node gets them opened.
    const sealedText = configText(config);
    const hash = configHash(sealedText);
    const text = containsSecrets() ? configText(config, reveal) : sealedText;
    let revision = Number(row.revision);
    if (hash !== row.config_hash) {
      revision += 1;
      await revisionRepo.setRevision(trx, nodeId, revision, hash);
    }
    return { revision, hash, body: withRevision(revision, text) };
  });
}
