// See https://svelte.dev/docs/kit/types#app.d.ts
import type { IncomingMessage } from 'node:http';
import type { User } from '$lib/server/auth';

declare global {
  /** Set by Vite `define` (vite.config.ts): the test licence key's PEM in builds made for tests, else null; see lib/server/license-keys.ts. */
  const __KOFN_TEST_VENDOR_KEY__: string | null;
  namespace App {
    interface Error {
      code: string;
      message: string;
    }
    interface Locals {
      user: User | undefined;
      /** The session's CSRF token (cookie sessions only). */
      csrfToken: string | undefined;
      sessionToken: string | undefined;
      /** The request authenticated with a personal API token (api-tokens.ts), not a cookie session. */
      viaApiToken: boolean;
      /** That token's scopes (token-scopes.ts); empty for cookie sessions. */
      tokenScopes: ReadonlyArray<import('$lib/server/token-scopes').Scope>;
    }
    /** adapter-node passes the Node request; its socket is the TCP peer (client-address.ts). */
    interface Platform {
      req?: IncomingMessage;
    }
  }
}

export {};
