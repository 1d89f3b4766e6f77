/**
 * Phone width (issue #17, phone layout): at 40rem (640 px) and below, lists become cards and rows of
 * buttons become one menu. A Svelte MediaQuery follows resizes and rotation; on the server it is false,
 * so the wide layout is rendered first and swapped on hydration.
 */
import { MediaQuery } from 'svelte/reactivity';

export const phone = new MediaQuery('max-width: 40rem', false);
