/** The tests' HTTP client: a bearer token and default headers, JSON in and out. */
export interface ApiResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

/** The status, headers and body text of one exchange; `ApiClient` subclasses change only this. */
export interface RawResponse {
  status: number;
  headers: Headers;
  text: string;
}

export class ApiClient {
  constructor(
    readonly baseUrl: string,
    readonly token: string | null,
    /** Sent with every request (a session cookie, X-CSRF-Token); per-request headers win. */
    readonly headers: Record<string, string> = {},
  ) {}

  /** A client like this one with another token and headers (subclasses keep their transport). */
  protected with(token: string | null, headers: Record<string, string>): ApiClient {
    return new ApiClient(this.baseUrl, token, headers);
  }

  protected async exchange(method: string, url: string, headers: Record<string, string>, body: string | undefined): Promise<RawResponse> {
    const response = await fetch(url, { method, headers, body });
    return { status: response.status, headers: response.headers, text: await response.text() };
  }

  withToken(token: string | null): this {
    return this.with(token, this.headers) as this;
  }

  withHeaders(headers: Record<string, string>): this {
    return this.with(this.token, { ...this.headers, ...headers }) as this;
  }

  async request<T = any>(
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
    const response = await this.exchange(method, this.baseUrl + path, headers, body);
    let parsed: any = response.text;
    if (response.text && (response.headers.get('content-type') ?? '').includes('json')) parsed = JSON.parse(response.text);
    return { status: response.status, headers: response.headers, body: parsed, text: response.text };
  }

  get = <T = any>(path: string, headers?: Record<string, string>) => this.request<T>('GET', path, { headers });
  post = <T = any>(path: string, body?: unknown) => this.request<T>('POST', path, { body });
  patch = <T = any>(path: string, body?: unknown) => this.request<T>('PATCH', path, { body });
  put = <T = any>(path: string, body?: unknown) => this.request<T>('PUT', path, { body });
  delete = <T = any>(path: string) => this.request<T>('DELETE', path);
}
