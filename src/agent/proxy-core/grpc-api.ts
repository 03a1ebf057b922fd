/**
 * Clients for the proxy core's gRPC API (h2c on 127.0.0.1): StatsService (QueryStats with reset,
 * GetSysStats) and HandlerService (AlterInbound add/remove user). Messages come from
 * proto/core-api.proto; the service paths and TypedMessage type strings depend on the flavour:
 * `xray.app.*` / `xray.proxy.*` for Xray, `v2ray.core.app.*` / `v2ray.core.proxy.*` for V2Ray 4.x
 * (pasarguard-node spec §6.3, §7).
 */
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { fileURLToPath } from 'node:url';

export type CoreFlavour = 'xray' | 'v2ray';

const root = protobuf.loadSync(fileURLToPath(new URL('./proto/core-api.proto', import.meta.url)));
const T = (name: string) => root.lookupType(`nodeplane.coreapi.${name}`);
const msg = {
  TypedMessage: T('TypedMessage'),
  User: T('User'),
  AddUserOperation: T('AddUserOperation'),
  RemoveUserOperation: T('RemoveUserOperation'),
  AlterInboundRequest: T('AlterInboundRequest'),
  AlterInboundResponse: T('AlterInboundResponse'),
  QueryStatsRequest: T('QueryStatsRequest'),
  QueryStatsResponse: T('QueryStatsResponse'),
  GetStatsRequest: T('GetStatsRequest'),
  GetStatsResponse: T('GetStatsResponse'),
  SysStatsRequest: T('SysStatsRequest'),
  SysStatsResponse: T('SysStatsResponse'),
  VmessAccount: T('VmessAccount'),
  V2rayVlessAccount: T('V2rayVlessAccount'),
  XrayVlessAccount: T('XrayVlessAccount'),
  TrojanAccount: T('TrojanAccount'),
};

/** Full names the core knows, per flavour. */
export function coreNames(flavour: CoreFlavour) {
  const app = flavour === 'xray' ? 'xray.app' : 'v2ray.core.app';
  const proxy = flavour === 'xray' ? 'xray.proxy' : 'v2ray.core.proxy';
  return {
    queryStats: `/${app}.stats.command.StatsService/QueryStats`,
    getStats: `/${app}.stats.command.StatsService/GetStats`,
    getSysStats: `/${app}.stats.command.StatsService/GetSysStats`,
    alterInbound: `/${app}.proxyman.command.HandlerService/AlterInbound`,
    addUserOperation: `${app}.proxyman.command.AddUserOperation`,
    removeUserOperation: `${app}.proxyman.command.RemoveUserOperation`,
    vmessAccount: `${proxy}.vmess.Account`,
    vlessAccount: `${proxy}.vless.Account`,
    trojanAccount: `${proxy}.trojan.Account`,
  };
}

export class CoreApiError extends Error {
  constructor(
    readonly method: string,
    readonly code: grpc.status,
    readonly details: string,
  ) {
    super(`${method}: ${grpc.status[code] ?? code}: ${details}`);
    this.name = 'CoreApiError';
  }

  /** V2Ray answers UNKNOWN with a text where Xray uses NOT_FOUND (pasarguard-node spec §7). */
  get notFound(): boolean {
    return this.code === grpc.status.NOT_FOUND || /not found\.?$/i.test(this.details);
  }

  get alreadyExists(): boolean {
    return this.code === grpc.status.ALREADY_EXISTS || /already exists/i.test(this.details);
  }

  /** The core cannot do this at runtime (no such method, or the inbound's proxy keeps no user list). */
  get unsupported(): boolean {
    return this.code === grpc.status.UNIMPLEMENTED || /not a UserManager/i.test(this.details);
  }

  /** The API port did not answer (core not up yet, or gone). */
  get unreachable(): boolean {
    return this.code === grpc.status.UNAVAILABLE || this.code === grpc.status.DEADLINE_EXCEEDED;
  }
}

export interface CoreApiOptions {
  /** `127.0.0.1:<port>` */
  address: string;
  flavour: CoreFlavour;
  /** Per-call deadline (5 s). */
  timeoutMs?: number;
}

class CoreApiBase {
  protected readonly client: grpc.Client;
  protected readonly names: ReturnType<typeof coreNames>;
  private readonly timeoutMs: number;

  constructor(options: CoreApiOptions) {
    this.names = coreNames(options.flavour);
    this.timeoutMs = options.timeoutMs ?? 5_000;
    this.client = new grpc.Client(options.address, grpc.credentials.createInsecure(), {
      // A QueryStats answer for tens of thousands of users is several MB.
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
      'grpc.max_send_message_length': 64 * 1024 * 1024,
      // The core is restarted under us; reconnect quickly instead of waiting out grpc's backoff.
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 1_000,
    });
  }

  protected call<Res extends object>(method: string, reqType: protobuf.Type, resType: protobuf.Type, request: Record<string, unknown>): Promise<Res> {
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(
        method,
        (value: Record<string, unknown>) => Buffer.from(reqType.encode(reqType.fromObject(value)).finish()),
        (bytes: Buffer) => resType.toObject(resType.decode(bytes), { longs: Number, defaults: true, arrays: true }) as Res,
        request,
        new grpc.Metadata(),
        { deadline: Date.now() + this.timeoutMs },
        (error, response) => {
          if (error) reject(new CoreApiError(method, error.code ?? grpc.status.UNKNOWN, error.details || error.message));
          else resolve(response!);
        },
      );
    });
  }

  close(): void {
    this.client.close();
  }
}

export interface StatCounter {
  name: string;
  value: number;
}

export interface SysStats {
  NumGoroutine: number;
  Alloc: number;
  Sys: number;
  Uptime: number;
}

export class StatsClient extends CoreApiBase {
  /**
   * Counters whose name contains `pattern` (V2Ray: substring; Xray: substring or regexp). With
   * `reset` the core zeroes each counter as it reads it, so successive calls return deltas. V2Ray
   * leaves `value` out when it is zero; it decodes as 0.
   */
  async queryStats(pattern: string, reset: boolean): Promise<StatCounter[]> {
    const res = await this.call<{ stat: StatCounter[] }>(this.names.queryStats, msg.QueryStatsRequest, msg.QueryStatsResponse, {
      pattern,
      reset,
    });
    return res.stat.map((s) => ({ name: s.name, value: Number(s.value) }));
  }

  async getStats(name: string, reset = false): Promise<StatCounter> {
    const res = await this.call<{ stat: StatCounter }>(this.names.getStats, msg.GetStatsRequest, msg.GetStatsResponse, { name, reset });
    return { name: res.stat.name, value: Number(res.stat.value) };
  }

  /** Also the readiness probe: it answers as soon as the API inbound is up. */
  getSysStats(): Promise<SysStats> {
    return this.call<SysStats>(this.names.getSysStats, msg.SysStatsRequest, msg.SysStatsResponse, {});
  }
}

/** A client as the inbound lists it; which key carries the secret depends on the protocol. */
export interface CoreUser {
  email: string;
  level?: number;
  /** vmess, vless */
  id?: string;
  /** vless on Xray only; V2Ray has no XTLS and the spec's compat rewrite drops it. */
  flow?: string;
  /** trojan */
  password?: string;
}

/** Protocols whose inbound keeps a runtime user list in both cores (pasarguard-node spec §7). */
export const RUNTIME_USER_PROTOCOLS = new Set(['vmess', 'vless', 'trojan']);

export class HandlerClient extends CoreApiBase {
  constructor(private readonly options: CoreApiOptions) {
    super(options);
  }

  async addUser(inboundTag: string, protocol: string, user: CoreUser): Promise<void> {
    const operation = this.typed(this.names.addUserOperation, msg.AddUserOperation, {
      user: { level: user.level ?? 0, email: user.email, account: this.account(protocol, user) },
    });
    await this.call(this.names.alterInbound, msg.AlterInboundRequest, msg.AlterInboundResponse, { tag: inboundTag, operation });
  }

  async removeUser(inboundTag: string, email: string): Promise<void> {
    const operation = this.typed(this.names.removeUserOperation, msg.RemoveUserOperation, { email });
    await this.call(this.names.alterInbound, msg.AlterInboundRequest, msg.AlterInboundResponse, { tag: inboundTag, operation });
  }

  private account(protocol: string, user: CoreUser): Record<string, unknown> {
    switch (protocol) {
      case 'vmess':
        return this.typed(this.names.vmessAccount, msg.VmessAccount, { id: required(user.id, 'vmess id') });
      case 'vless':
        return this.options.flavour === 'xray'
          ? this.typed(this.names.vlessAccount, msg.XrayVlessAccount, { id: required(user.id, 'vless id'), flow: user.flow ?? '' })
          : this.typed(this.names.vlessAccount, msg.V2rayVlessAccount, { id: required(user.id, 'vless id') });
      case 'trojan':
        return this.typed(this.names.trojanAccount, msg.TrojanAccount, { password: required(user.password, 'trojan password') });
      default:
        throw new CoreApiError(this.names.alterInbound, grpc.status.UNIMPLEMENTED, `no runtime user API for ${protocol} inbounds`);
    }
  }

  private typed(type: string, messageType: protobuf.Type, value: Record<string, unknown>) {
    return { type, value: messageType.encode(messageType.fromObject(value)).finish() };
  }
}

function required(value: string | undefined, what: string): string {
  if (!value) throw new Error(`user has no ${what}`);
  return value;
}
