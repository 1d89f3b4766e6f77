// See https://svelte.dev/docs/kit/types#app.d.ts
import type { User } from '$lib/server/auth';

declare global {
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
    }
  }
}

export {};
