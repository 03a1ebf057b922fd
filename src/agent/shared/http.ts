/**
 * One JSON request to a control plane, shared by the edge and Core clients: headers, timeout and
 * shutdown signal, and a transport failure turned into one `unreachable` reason. Each client reads
 * its own face's envelope and error shape from the result.
 */
export interface JsonRequest {
  fetchImpl: typeof fetch;
  baseUrl: string;
  method: string;
  path: string;
  body: unknown;
  headers: Record<string, string>;
  userAgent?: string;
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface JsonResponse {
  response: Response;
  text: string;
  /** Parsed body, or undefined when empty or not JSON. */
  json: unknown;
}

/** Thrown when no answer came back (refused, reset, timed out). */
export class UnreachableError extends Error {}

export async function requestJson(request: JsonRequest): Promise<JsonResponse> {
  const headers: Record<string, string> = { accept: 'application/json', ...request.headers };
  if (request.body !== undefined) headers['content-type'] = 'application/json';
  if (request.userAgent) headers['user-agent'] = request.userAgent;
  const timeout = AbortSignal.timeout(request.timeoutMs);
  const signal = request.signal ? AbortSignal.any([request.signal, timeout]) : timeout;
  const url = `${request.baseUrl}${request.path}`;
  let response: Response;
  let text: string;
  try {
    response = await request.fetchImpl(url, {
      method: request.method,
      headers,
      body: request.body === undefined ? undefined : JSON.stringify(request.body),
      signal,
    });
    text = await response.text();
  } catch (error) {
    const reason = timeout.aborted ? 'timed out' : (((error as Error).cause as Error | undefined)?.message ?? (error as Error).message);
    throw new UnreachableError(`${request.method} ${url}: ${reason}`);
  }
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { response, text, json };
}
