/** SSH access to edge nodes: no background work. */
import type { ModuleManifest } from '../../manifest.ts';
import { type SshDeps, SshService } from './ssh.service.ts';

export function sshModule(deps: SshDeps): ModuleManifest<{ ssh: SshService }> {
  return { services: { ssh: new SshService(deps) } };
}
