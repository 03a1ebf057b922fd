/**
 * An ApiClient over HTTPS that trusts one certificate (the manager listener's self-signed one).
 * Node's fetch cannot be given a CA, so the exchange goes through `https.request`.
 */
import https from 'node:https';
import { ApiClient, type RawResponse } from './api-client.ts';

export class HttpsApiClient extends ApiClient {
  constructor(
    baseUrl: string,
    readonly ca: string,
    token: string | null,
    headers: Record<string, string> = {},
  ) {
    super(baseUrl, token, headers);
  }

  protected override with(token: string | null, headers: Record<string, string>): HttpsApiClient {
    return new HttpsApiClient(this.baseUrl, this.ca, token, headers);
  }

  protected override exchange(method: string, url: string, headers: Record<string, string>, body: string | undefined): Promise<RawResponse> {
    // Without a length, a body (even a DELETE's) would be read as the start of the next request.
    if (body !== undefined) headers = { ...headers, 'content-length': String(Buffer.byteLength(body)) };
    return new Promise((resolve, reject) => {
      const req = https.request(new URL(url), { method, headers, ca: this.ca, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const responseHeaders = new Headers();
          // Appended one by one, so `getSetCookie()` sees each Set-Cookie line as fetch's headers do.
          for (const [name, value] of Object.entries(res.headers))
            for (const one of Array.isArray(value) ? value : value === undefined ? [] : [value]) responseHeaders.append(name, one);
          resolve({ status: res.statusCode ?? 0, headers: responseHeaders, text: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  }
}
