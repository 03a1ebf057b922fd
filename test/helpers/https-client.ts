/**
 * An HTTPS client that trusts one certificate (the manager listener's self-signed one), with the
 * interface of ApiClient: a bearer token and default headers, JSON in and out.
 */
import https from 'node:https';
import type { ApiResponse } from './server.ts';

export class HttpsApiClient {
  constructor(
    readonly baseUrl: string,
    readonly ca: string,
    readonly token: string | null,
    readonly headers: Record<string, string> = {},
  ) {}

  withToken(token: string | null): HttpsApiClient {
    return new HttpsApiClient(this.baseUrl, this.ca, token, this.headers);
  }

  withHeaders(headers: Record<string, string>): HttpsApiClient {
    return new HttpsApiClient(this.baseUrl, this.ca, this.token, { ...this.headers, ...headers });
  }

  request<T = any>(
    method: string,
    path: string,
    options: { body?: unknown; rawBody?: string; headers?: Record<string, string> } = {},
  ): Promise<ApiResponse<T>> {
    const headers: Record<string, string> = { ...this.headers, ...options.headers };
    if (this.token !== null && headers.authorization === undefined) headers.authorization = `Bearer ${this.token}`;
    let body: string | undefined;
    if (options.rawBody !== undefined) {
      body = options.rawBody;
      headers['content-type'] ??= 'application/json';
    } else if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['content-type'] = 'application/json';
    }
    // Node sends a DELETE's body without a length unless told: the server would read it as a second request.
    if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));
    return new Promise((resolve, reject) => {
      const req = https.request(new URL(this.baseUrl + path), { method, headers, ca: this.ca, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const responseHeaders = new Headers();
          for (const [name, value] of Object.entries(res.headers))
            if (value !== undefined) responseHeaders.set(name, Array.isArray(value) ? value.join(', ') : value);
          let parsed: any = text;
          if (text && (res.headers['content-type'] ?? '').includes('json')) parsed = JSON.parse(text);
          resolve({ status: res.statusCode ?? 0, headers: responseHeaders, body: parsed, text });
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  get = <T = any>(path: string, headers?: Record<string, string>) => this.request<T>('GET', path, { headers });
  post = <T = any>(path: string, body?: unknown) => this.request<T>('POST', path, { body });
  put = <T = any>(path: string, body?: unknown) => this.request<T>('PUT', path, { body });
  delete = <T = any>(path: string) => this.request<T>('DELETE', path);
}
