// The runtime configuration, fetched at start from config.json beside index.html. The same
// build runs everywhere: the local gallery server writes this file for the local cloud, the
// stack writes it at deploy time in AWS.

export type AuthConfig =
  // The local cloud's development issuer: sign in as any user name (a local-only endpoint).
  | { kind: "local"; sign_in_url: string }
  // The stack's Cognito user pool: its managed login, authorization code + PKCE.
  | { kind: "cognito"; domain: string; client_id: string }
  // An external OpenID Connect issuer: its discovery document names the endpoints.
  | { kind: "oidc"; issuer: string; client_id: string; scope?: string };

export interface GalleryConfig {
  api_url: string;
  auth: AuthConfig;
}

export class ConfigError extends Error {}

export async function loadConfig(): Promise<GalleryConfig> {
  let answer: Response;
  try {
    answer = await fetch("/config.json", { cache: "no-store" });
  } catch {
    throw new ConfigError("The gallery's configuration could not be fetched.");
  }
  if (!answer.ok) {
    throw new ConfigError(`The gallery's configuration is missing (HTTP ${answer.status}).`);
  }
  return parseConfig(await answer.json());
}

function text(value: unknown, name: string): string {
  if (typeof value !== "string" || value === "") {
    throw new ConfigError(`config.json: ${name} must be a non-empty string`);
  }
  return value;
}

export function parseConfig(raw: unknown): GalleryConfig {
  if (typeof raw !== "object" || raw === null) throw new ConfigError("config.json is not an object");
  const document = raw as Record<string, unknown>;
  let apiUrl = text(document.api_url, "api_url");
  if (!apiUrl.endsWith("/")) apiUrl += "/";
  const auth = (document.auth ?? {}) as Record<string, unknown>;
  switch (auth.kind) {
    case "local":
      return { api_url: apiUrl, auth: { kind: "local", sign_in_url: text(auth.sign_in_url, "auth.sign_in_url") } };
    case "cognito":
      return {
        api_url: apiUrl,
        auth: {
          kind: "cognito",
          domain: text(auth.domain, "auth.domain").replace(/\/+$/, ""),
          client_id: text(auth.client_id, "auth.client_id"),
        },
      };
    case "oidc":
      return {
        api_url: apiUrl,
        auth: {
          kind: "oidc",
          issuer: text(auth.issuer, "auth.issuer").replace(/\/+$/, ""),
          client_id: text(auth.client_id, "auth.client_id"),
          scope: typeof auth.scope === "string" ? auth.scope : undefined,
        },
      };
    default:
      throw new ConfigError(`config.json: unknown auth.kind ${JSON.stringify(auth.kind)}`);
  }
}
